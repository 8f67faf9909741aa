"""The load test's world, written in bulk: ``agents`` VM hosts with an agent token each, two
VMs per host in ``groups`` groups, and for ``due_share`` of the hosts one window whose start
has come (one activity). Returns what the simulated clients need (tokens, feed paths)."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from api.models import Activity, ApiToken, Machine, ResourceGroup, Window
from api.models.tokens import hash_secret, new_secret

__all__ = ["Clients", "populate"]

BATCH = 2000


@dataclass
class Clients:
    agents: list[str]  # agent token secrets, one per host
    due: list[int]  # indexes into agents whose host has a due window
    feeds: list[str]  # /feeds/{group}.ics?token=...

    def save(self, path: Path) -> None:
        path.write_text(json.dumps(asdict(self)))

    @classmethod
    def load(cls, path: Path) -> Clients:
        return cls(**json.loads(path.read_text()))


async def populate(agents: int, groups: int, due_share: float, feeds: int) -> Clients:
    await ResourceGroup.bulk_create(
        [
            ResourceGroup(name=f"load{i:04d}", contacts=[f"ops@load{i:04d}.example"])
            for i in range(groups)
        ],
        batch_size=BATCH,
    )
    group_rows = await ResourceGroup.all().order_by("id")
    await Machine.bulk_create(
        [Machine(name=f"kvm{i:05d}", kind="host", group=group_rows[0]) for i in range(agents)],
        batch_size=BATCH,
    )
    hosts = await Machine.filter(kind="host").order_by("id").values_list("id", flat=True)
    await Machine.bulk_create(
        [
            Machine(
                name=f"vm{i:05d}-{j}",
                kind="vm",
                group_id=group_rows[(2 * i + j) % groups].id,
                host_id=host,
            )
            for i, host in enumerate(hosts)
            for j in range(2)
        ],
        batch_size=BATCH,
    )
    secrets = [new_secret() for _ in hosts]
    await ApiToken.bulk_create(
        [
            ApiToken(
                name=f"kvm{i:05d}",
                role="agent",
                prefix=secret[:12],
                secret_hash=hash_secret(secret),
                host_id=host,
            )
            for i, (host, secret) in enumerate(zip(hosts, secrets, strict=True))
        ],
        batch_size=BATCH,
    )
    due = list(range(0, agents, max(1, round(1 / due_share))))
    now = datetime.now(UTC)
    first_vm = dict(
        await Machine.filter(kind="vm", name__endswith="-0").values_list("host_id", "id")
    )
    await Window.bulk_create(
        [
            Window(
                machine_id=first_vm[hosts[i]],
                starts_at=now - timedelta(minutes=1),
                ends_at=now + timedelta(hours=3),
                reason="load test",
            )
            for i in due
        ],
        batch_size=BATCH,
    )
    windows = await Window.filter(reason="load test").values_list("id", "machine_id")
    await Activity.bulk_create(
        [
            Activity(
                machine_id=machine,
                window_id=wid,
                kind="reboot",
                state="scheduled",
                estimate_minutes=5,
            )
            for wid, machine in windows
        ],
        batch_size=BATCH,
    )
    feed_groups = group_rows[: min(feeds, groups)]
    paths = [f"/feeds/{g.name}.ics?token={g.feed_token}" for g in feed_groups]
    return Clients(agents=secrets, due=due, feeds=[paths[i % len(paths)] for i in range(feeds)])
