"""Drill (issue 14): three `fenster serve` processes share one PostgreSQL; the leader is
SIGKILLed in the middle of a scheduling pass. Another process takes the lease and books the
work, and every window, audit event and outbox row exists exactly once."""

from __future__ import annotations

import asyncio
import time
import uuid
from datetime import time as clock
from pathlib import Path

import pytest
from tortoise import connections
from tortoise.transactions import in_transaction

from api import db
from api.models import Activity, AuditEvent, Lease, Machine, Notification, ResourceGroup, Window
from tests.conftest import POSTGRES, database_context, postgres_url
from tests.drills.servers import Server

pytestmark = [
    pytest.mark.slow,
    pytest.mark.postgres,
    pytest.mark.skipif(not POSTGRES, reason="the drill needs FENSTER_TEST_POSTGRES"),
]

GROUPS, HOSTS, VMS_PER_GROUP = 12, 12, 250  # a pass long enough to be killed in (~3,000)
LEASE = 3  # seconds


async def populate() -> int:
    groups = [
        ResourceGroup(
            name=f"g{i:02d}",
            contacts=[f"ops@g{i:02d}.example"],
            timezone="UTC",
            window_start=clock(1, 0),
            window_minutes=240,
            notice_minutes=0,
        )
        for i in range(GROUPS)
    ]
    await ResourceGroup.bulk_create(groups)
    groups = await ResourceGroup.all().order_by("id")
    await Machine.bulk_create(
        [
            Machine(name=f"kvm{i:02d}", kind="host", group=groups[0], capacity=50)
            for i in range(HOSTS)
        ]
    )
    hosts = await Machine.filter(kind="host").order_by("id")
    vms = [
        Machine(name=f"{g.name}-vm{j:03d}", kind="vm", group=g, host=hosts[(k + j) % HOSTS])
        for k, g in enumerate(groups)
        for j in range(VMS_PER_GROUP)
    ]
    await Machine.bulk_create(vms, batch_size=1000)
    return await Machine.filter(kind="vm").count()


async def queue_work() -> int:
    """One reboot per VM, in one transaction: the next pass books them all."""
    vm_rows = await Machine.filter(kind="vm").only("id")
    async with in_transaction():
        await Activity.bulk_create(
            [Activity(machine_id=m.id, kind="reboot", estimate_minutes=5) for m in vm_rows],
            batch_size=1000,
        )
    return len(vm_rows)


async def pass_in_progress() -> bool:
    rows = await connections.get("default").execute_query_dict(
        "SELECT count(*) AS n FROM pg_locks WHERE locktype = 'advisory' AND granted"
    )
    return bool(rows[0]["n"])


async def test_leader_killed_mid_pass(tmp_path: Path) -> None:
    url = postgres_url(f"fenster_drill_{uuid.uuid4().hex[:10]}")
    async with database_context(url, schema=False):
        await db.migrate()
        activities = await populate()
        env = {
            "FENSTER_DATABASE_URL": url,
            "FENSTER_SCHEDULE_INTERVAL": "1",
            "FENSTER_LEADER_LEASE_SECONDS": str(LEASE),
            "FENSTER_MAIL_INTERVAL": "0",
            "FENSTER_SITE_INTERVAL": "0",
            # the pass is the only led duty that takes the advisory lock here
            "FENSTER_ROLLOUT_INTERVAL": "0",
            "FENSTER_WATCHDOG_INTERVAL": "0",
            "FENSTER_LINK_SECRET": "drill-link-secret-" + "x" * 32,
        }
        servers = [
            Server({**env, "FENSTER_SITE_DIR": str(tmp_path / f"site{i}")}, tmp_path / f"s{i}.log")
            for i in range(3)
        ]
        try:
            for s in servers:
                s.start()
            for s in servers:
                s.wait_until("/healthz", 200)
            # the work arrives once all three serve, so the leader's next pass (every second)
            # is the one to catch under way
            assert await queue_work() == activities
            # the leader is the process named in the lease; catch its pass under way
            deadline = time.monotonic() + 60
            leader = None
            while time.monotonic() < deadline:
                lease = await Lease.get_or_none(name="leader")
                if lease is not None and await pass_in_progress():
                    assert await Window.all().count() == 0, "the pass ended before it was seen"
                    pid = int(lease.holder.split(":")[1])
                    leader = next(s for s in servers if s.pid == pid)
                    break
                await asyncio.sleep(0.02)
            assert leader is not None, "no pass was seen under way"
            assert await Window.all().count() == 0  # mid-pass: nothing committed yet
            leader.kill()
            killed_at = time.monotonic()

            while time.monotonic() < killed_at + 90:
                if not await Activity.filter(state="queued").exists():
                    break
                await asyncio.sleep(0.5)
            took = time.monotonic() - killed_at
            survivors = [s for s in servers if s is not leader]
            lease = await Lease.get(name="leader")
            assert int(lease.holder.split(":")[1]) in {s.pid for s in survivors}
        finally:
            for s in servers:
                s.stop()
        logs = "\n".join(s.log.read_text() for s in servers)
        assert not await Activity.filter(state="queued").exists(), logs[-3000:]
        print(
            f"drill: {activities} activities; booked by the new leader {took:.1f} s after the kill"
        )

        # exactly once: one window per activity, one audit event per window, one digest per group
        windows = await Window.all().values_list("id", "uid")
        assert len(windows) == activities
        assert await Activity.filter(window_id=None).count() == 0
        audits = await AuditEvent.filter(action="window.schedule").values_list(
            "subject_id", flat=True
        )
        assert sorted(audits) == sorted(w for w, _ in windows)
        digests = await Notification.filter(kind="windows_digest").values_list("payload", flat=True)
        assert len(digests) == GROUPS
        uids = [u for p in digests for u in p["windows"]]  # type: ignore[index]
        assert sorted(uids) == sorted(u for _, u in windows)
        assert await Notification.all().count() == GROUPS
