"""The demo world: the seed announcement's hosting provider, small enough to read.

`load_demo()` is idempotent: every object is looked up by its natural key first, so running it
twice leaves the database as running it once did.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from pathlib import Path

from tortoise.transactions import in_transaction

from api.demo_notices import load_notices
from api.models import Activity, ApiToken, Machine, ResourceGroup
from api.services import groups as group_service
from api.services import machines as machine_service
from api.services import tokens as token_service
from api.settings import Settings, get_settings

__all__ = ["CUSTOMER_GROUP", "DEMO_GROUPS", "DemoReport", "load_demo"]

ACTOR = "demo"
DAY = 24 * 60

# name, timezone, window start, minutes, notice minutes, weekdays (None = every day), title
DEMO_GROUPS = [
    ("ops", "UTC", time(6, 0), 120, 0, None, "Provider infrastructure"),
    ("acme", "Europe/Berlin", time(2, 0), 120, 7 * DAY, None, "ACME GmbH"),
    ("hanse-shop", "Europe/Berlin", time(23, 30), 90, 3 * DAY, None, "Hanse Shop (midnight)"),
    ("bigapple", "America/New_York", time(1, 0), 180, 5 * DAY, None, "Big Apple Media"),
    ("sakura", "Asia/Tokyo", time(3, 0), 60, 7 * DAY, [0, 1, 2, 3, 4], "Sakura KK"),
    ("kangaroo", "Australia/Sydney", time(2, 30), 120, 2 * DAY, None, "Kangaroo Pty"),
    ("everest", "Asia/Kathmandu", time(4, 0), 60, DAY, None, "Everest Treks"),
    ("utc-labs", "UTC", time(12, 0), 30, 0, [5, 6], "UTC Labs (weekends)"),
]
HOSTS = ["kvm01", "kvm02", "kvm03", "kvm04"]
CUSTOMER_GROUP = "acme"  # the demo prints a customer token and feed of this group
HOST_CPUS = [
    "Intel(R) Xeon(R) CPU E5620 @ 2.40GHz",
    "Intel(R) Xeon(R) CPU X5650 @ 2.67GHz",
    "AMD Opteron(tm) Processor 6174",
    "Intel(R) Xeon(R) CPU E5-2620 @ 2.00GHz",
]
INFRASTRUCTURE = ["mirror01", "storage01", "directory01"]
# VM roles per customer group: (suffix, cores, memory MiB, arch, redundancy tag)
ROLES = [
    ("web01", 2, 2048, "x86_64", "web"),
    ("web02", 2, 2048, "x86_64", "web"),
    ("db01", 4, 4096, "x86_64", None),
    ("app01", 1, 1024, "i686", None),
    ("batch01", 12, 8192, "x86_64", None),
    ("mail01", 1, 1536, "i686", None),
]
OLD_KERNEL = "2.6.32"
NEW_KERNEL = "2.6.38"


@dataclass
class DemoReport:
    created: dict[str, int]
    admin_token_file: Path | None
    customer_token_file: Path | None = None

    def lines(self) -> list[str]:
        made = ", ".join(f"{n} {k}" for k, n in self.created.items() if n) or "nothing new"
        out = [f"demo world loaded: {made}"]
        return out


async def load_demo(
    token_dir: Path | None = None,
    *,
    now: datetime | None = None,
    settings: Settings | None = None,
    rollout: bool = True,
) -> DemoReport:
    """Load the demo world; ``rollout``: with the seed's rollout, announced at ``now``.
    Idempotent: what exists already is kept, and ``created`` counts only what is new."""
    created: Counter[str] = Counter(groups=0, machines=0, activities=0)
    groups = await _groups(created)
    hosts = [
        await _machine(
            created,
            name,
            group=groups["ops"],
            kind="host",
            desired_cores=24,
            desired_memory_mib=131072,
            desired_swap_mib=8192,
            desired_kernel=OLD_KERNEL,
            cpu_model=HOST_CPUS[i],
            capacity=2,
            auto_schedule=False,
        )
        for i, name in enumerate(HOSTS)
    ]
    for name in INFRASTRUCTURE:
        await _machine(
            created,
            name,
            group=groups["ops"],
            kind="infrastructure",
            desired_cores=4,
            desired_memory_mib=8192,
            desired_swap_mib=2048,
            desired_kernel=OLD_KERNEL,
        )
    vms = await _vms(created, groups, hosts)
    await _queued_work(created, vms)
    async with in_transaction() as conn:
        created.update(await load_notices(conn))
    if rollout and await _seed_rollout(now or datetime.now(UTC), settings or get_settings()):
        created["rollouts"] += 1
    if token_dir is None:
        return DemoReport(dict(created), None)
    admin = await _demo_token(token_dir / "demo-admin-token", "demo admin", "admin")
    customer = await _demo_token(
        token_dir / f"demo-customer-token-{CUSTOMER_GROUP}",
        f"demo customer {CUSTOMER_GROUP}",
        "customer",
        groups[CUSTOMER_GROUP],
    )
    return DemoReport(dict(created), admin, customer)


async def _groups(created: Counter[str]) -> dict[str, ResourceGroup]:
    groups: dict[str, ResourceGroup] = {}
    for name, tz, start, minutes, notice, weekdays, title in DEMO_GROUPS:
        group = await ResourceGroup.get_or_none(name=name)
        if group is None:
            group = await group_service.create_group(
                ACTOR,
                name=name,
                title=title,
                contacts=[f"ops@{name}.example", f"oncall@{name}.example"],
                timezone=tz,
                window_start=start,
                window_minutes=minutes,
                notice_minutes=notice,
                weekdays=weekdays or [0, 1, 2, 3, 4, 5, 6],
            )
            created["groups"] += 1
        groups[name] = group
    return groups


async def _machine(created: Counter[str], name: str, **kw: object) -> Machine:
    """The machine (registered once), observed as desired and running."""
    found = await Machine.get_or_none(name=name)
    if found is not None:
        return found
    created["machines"] += 1
    m = await machine_service.register_machine(ACTOR, name=name, **kw)  # type: ignore[arg-type]
    m.observed_cores = m.desired_cores
    m.observed_memory_mib = m.desired_memory_mib
    m.observed_swap_mib = m.desired_swap_mib
    m.observed_kernel = m.desired_kernel
    m.observed_state = "running"
    m.observed_at = datetime.now(UTC)
    await m.save()
    return m


async def _vms(
    created: Counter[str], groups: dict[str, ResourceGroup], hosts: list[Machine]
) -> list[Machine]:
    """Each customer group's VMs by ROLES, spread over the hosts in turn."""
    vms: list[Machine] = []
    for gname, *_ in DEMO_GROUPS[1:]:
        for j, (suffix, cores, memory, arch, redundancy) in enumerate(ROLES):
            if arch == "i686" and memory > 4096:
                continue
            vm = await _machine(
                created,
                f"{gname}-{suffix}",
                group=groups[gname],
                kind="vm",
                host=hosts[len(vms) % len(hosts)],
                arch=arch,
                desired_cores=cores,
                desired_memory_mib=memory,
                desired_swap_mib=1024 if memory <= 2048 else 2048,
                desired_kernel=OLD_KERNEL,
                representative=(j == 0),
                redundancy=redundancy,
                auto_schedule=not (gname == "sakura" and suffix == "db01"),
            )
            vms.append(vm)
    return vms


async def _queued_work(created: Counter[str], vms: list[Machine]) -> None:
    """A handful of queued work, as an operator would have requested it (once)."""
    if await Activity.filter(requested_by=ACTOR).exists():
        return
    for vm in vms[::7]:
        queued = await machine_service.change_desired(ACTOR, vm, desired_kernel=NEW_KERNEL)
        created["activities"] += len(queued)
    for vm in vms[3::11]:
        if vm.arch == "x86_64":
            memory = vm.desired_memory_mib * 2
            queued = await machine_service.change_desired(ACTOR, vm, desired_memory_mib=memory)
            created["activities"] += len(queued)
    for vm in vms[5::13]:
        if vm.desired_cores < 12:
            cores = vm.desired_cores + 1
            queued = await machine_service.change_desired(ACTOR, vm, desired_cores=cores)
            created["activities"] += len(queued)


# The seed's system update, as its announcement tells it (the body of the mail and the page).
SEED_ROLLOUT = "system-update-next-week"
SEED_TITLE = "System updates next week"
SEED_BODY = """\
## Stability issue resolved

The stability issue with our iSCSI storage server that required us to postpone the system
update has been resolved. It was caused by an incompatibility between the iSCSI server software
and Linux 2.6.39. We resolved the issue by selecting 2.6.38 as the new kernel version for this
update instead.

Please note that all VMs will be rebooted twice: once during their regular maintenance window to
activate the new kernel and a second time on Saturday without a regular maintenance window due
to the necessary restart of the KVM hosts.
"""


async def _seed_rollout(now: datetime, settings: Settings) -> bool:
    """The seed's rollout, announced: the template in the first week whose Monday is at least
    a week away (every demo group's notice is at most a week). Once only."""
    from api.models import Rollout
    from api.services import rollouts
    from api.services.rollout_announce import announce_rollout

    if await Rollout.filter(name=SEED_ROLLOUT).exists():
        return False
    week = rollouts.next_week(now + timedelta(days=7))
    r = await rollouts.create_rollout(
        ACTOR,
        name=SEED_ROLLOUT,
        title=SEED_TITLE,
        body=SEED_BODY,
        target=f"Linux {NEW_KERNEL}",
        kernel=NEW_KERNEL,
        releases=[("linux", NEW_KERNEL), ("python", "2.7.1")],
        week=week,
        now=now,
        settings=settings,
    )
    await announce_rollout(ACTOR, r, now=now, settings=settings)
    return True


async def _demo_token(
    path: Path, name: str, role: str, group: ResourceGroup | None = None
) -> Path | None:
    """Create the token once, its secret kept in ``path`` (shown once, so written down)."""
    if not await ApiToken.filter(name=name).exists():
        _, secret = await token_service.create_token(
            ACTOR, name=name, role=role, groups=[group] if group else []
        )
        return _write_secret(path, secret)
    return path if path.exists() else None  # noqa: ASYNC240 - one stat of a local file


def _write_secret(path: Path, secret: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(secret + "\n")
    path.chmod(0o600)
    return path
