"""The models refuse bad rows and illegal transitions, and then nothing is written."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

import pytest
from tortoise.context import TortoiseContext

from api.errors import IllegalTransition, ValidationError
from api.models import Activity, Freeze, Machine, PackageRelease, ResourceGroup, Window


async def make_world() -> tuple[ResourceGroup, Machine, Machine]:
    group = await ResourceGroup.create(
        name="acme", contacts=["ops@acme.example"], timezone="Europe/Berlin"
    )
    host = await Machine.create(
        name="kvm01", kind="host", group=group, desired_cores=24, desired_swap_mib=0
    )
    vm = await Machine.create(name="web01", group=group, host=host, desired_cores=2)
    return group, host, vm


async def test_group_save_refuses_and_writes_nothing(db: TortoiseContext) -> None:
    with pytest.raises(ValidationError) as exc:
        await ResourceGroup.create(
            name="acme", contacts=["ops@acme.example"], timezone="Mars/Olympus"
        )
    assert exc.value.errors[0].field == "timezone"
    assert await ResourceGroup.all().count() == 0


async def test_group_update_refused_keeps_row(db: TortoiseContext) -> None:
    group, _, _ = await make_world()
    group.window_minutes = 25 * 60
    with pytest.raises(ValidationError):
        await group.save()
    assert (await ResourceGroup.get(id=group.id)).window_minutes == 120


async def test_vm_limits_enforced_on_save(db: TortoiseContext) -> None:
    group, host, _ = await make_world()
    with pytest.raises(ValidationError) as exc:
        await Machine.create(name="big", group=group, host=host, desired_cores=13)
    assert exc.value.errors[0].field == "cores"
    with pytest.raises(ValidationError) as exc:
        await Machine.create(
            name="old", group=group, host=host, arch="i686", desired_memory_mib=8192
        )
    assert exc.value.errors[0].field == "memory_mib"
    assert await Machine.filter(name__in=["big", "old"]).count() == 0


async def test_monthly_price_is_computed(db: TortoiseContext) -> None:
    _, host, vm = await make_world()
    assert vm.monthly_price_eur == 25
    vm.desired_cores = 12
    assert vm.monthly_price_eur == 275
    assert host.monthly_price_eur == 0


async def test_activity_transition_persisted_and_refused(db: TortoiseContext) -> None:
    _, _, vm = await make_world()
    act = await Activity.create(machine=vm, kind="reboot")
    act.transition("scheduled")
    await act.save()
    with pytest.raises(IllegalTransition):
        act.transition("done")
    assert act.state == "scheduled"
    assert (await Activity.get(id=act.id)).state == "scheduled"


async def test_activity_retry_is_bounded(db: TortoiseContext) -> None:
    _, _, vm = await make_world()
    act = await Activity.create(machine=vm, kind="kernel_update", state="failed", attempts=3)
    with pytest.raises(IllegalTransition) as exc:
        act.transition("queued")
    assert "retried 3 of 3" in str(exc.value)
    act.attempts = 1
    act.transition("queued")
    assert act.state == "queued"


async def test_activity_kind_and_estimate_checked(db: TortoiseContext) -> None:
    _, _, vm = await make_world()
    with pytest.raises(ValidationError):
        await Activity.create(machine=vm, kind="defragment")
    with pytest.raises(ValidationError):
        await Activity.create(machine=vm, kind="reboot", estimate_minutes=0)
    assert await Activity.all().count() == 0


async def test_needs_reboot(db: TortoiseContext) -> None:
    _, _, vm = await make_world()
    assert Activity(machine=vm, kind="kernel_update").needs_reboot
    assert not Activity(machine=vm, kind="system_update").needs_reboot
    assert not Activity(machine=vm, kind="memory_resize", params={"reboot": False}).needs_reboot


async def test_window_and_freeze_must_end_after_start(db: TortoiseContext) -> None:
    group, _, vm = await make_world()
    now = datetime(2026, 12, 1, 1, 0, tzinfo=UTC)
    with pytest.raises(ValidationError):
        await Window.create(machine=vm, starts_at=now, ends_at=now)
    with pytest.raises(ValidationError):
        await Freeze.create(group=group, starts_at=now, ends_at=now - timedelta(hours=1))
    w = await Window.create(machine=vm, starts_at=now, ends_at=now + timedelta(hours=2))
    assert w.uid.endswith("@fenster") and w.sequence == 0 and w.state == "planned"
    w.transition("running")
    with pytest.raises(IllegalTransition):
        w.transition("cancelled")


async def test_package_checksum_checked(db: TortoiseContext) -> None:
    with pytest.raises(ValidationError) as exc:
        await PackageRelease.create(
            name="linux",
            version="2.6.38",
            sha256="abc",
            released_at=datetime(2011, 8, 22, tzinfo=UTC),
        )
    assert exc.value.errors[0].field == "sha256"


async def test_local_time_stays_naive(db: TortoiseContext) -> None:
    group = await ResourceGroup.create(
        name="late", contacts=["a@b.example"], timezone="UTC", window_start=time(23, 30)
    )
    assert (await ResourceGroup.get(id=group.id)).window_start == time(23, 30)
