from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, time

import pytest
from tortoise.context import TortoiseContext

from api.errors import ValidationError
from api.models import Activity, AuditEvent, Machine, Notification, ResourceGroup, Window
from api.principal import Principal
from api.services.postponing import postpone
from api.services.scheduling import run_pass
from api.services.window_ops import cancel_activities, force_host_reboot, schedule_at
from api.settings import Settings

NOW = datetime(2026, 11, 23, tzinfo=UTC)
OP = Principal.of("admin", "op")
ACME = Principal.of("customer", "customer:acme")


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


async def setup(auto: bool = True, vms: int = 1) -> tuple[ResourceGroup, Machine, list[Machine]]:
    group = await ResourceGroup.create(
        name="acme",
        contacts=["ops@acme.example"],
        timezone="Europe/Berlin",
        window_start=time(2, 0),
        window_minutes=120,
        max_postpones=1,
    )
    host = await Machine.create(name="kvm02", kind="host", group=group)
    machines = []
    for i in range(vms):
        vm = await Machine.create(
            name=f"vm{i}", kind="vm", group=group, host=host, auto_schedule=auto
        )
        await Activity.create(
            machine=vm, kind="kernel_update", estimate_minutes=15, requested_at=NOW
        )
        machines.append(vm)
    return group, host, machines


async def test_schedule_at_inside_a_regular_window(db: TortoiseContext, settings: Settings) -> None:
    _, _, [vm] = await setup(auto=False)
    w = await schedule_at(OP, vm, utc(2026, 12, 3, 1, 30), now=NOW, settings=settings)
    assert (w.starts_at, w.ends_at, w.forced) == (
        utc(2026, 12, 3, 1, 30),
        utc(2026, 12, 3, 3),
        False,
    )
    assert w.reason == (
        "scheduled by the operators for Thu 3 Dec 02:30 Europe/Berlin, inside the regular "
        "02:00-04:00 Europe/Berlin window"
    )
    assert await Activity.filter(window_id=w.id, state="scheduled").count() == 1
    assert [n.kind for n in await Notification.all()] == ["window_scheduled"]


async def test_schedule_at_refuses_outside_window_and_notice_unless_forced(
    db: TortoiseContext, settings: Settings
) -> None:
    _, _, [vm] = await setup(auto=False)
    with pytest.raises(ValidationError) as err:
        await schedule_at(OP, vm, utc(2026, 11, 24, 12), now=NOW, settings=settings)
    assert [e.message for e in err.value.errors] == [
        "Tue 24 Nov 13:00 Europe/Berlin is outside the regular 02:00-04:00 Europe/Berlin window",
        "Tue 24 Nov 13:00 Europe/Berlin is less than the group's notice of 7 days away",
    ]
    assert await Window.all().count() == 0
    w = await schedule_at(OP, vm, utc(2026, 11, 24, 12), force=True, now=NOW, settings=settings)
    assert w.forced and w.ends_at == utc(2026, 11, 24, 12, 25)  # 15 min + 10 min reboot allowance
    event = await AuditEvent.get(action="window.schedule_at")
    assert event.details["forced"] is True and len(event.details["overridden"]) == 2


async def test_schedule_at_respects_host_capacity(db: TortoiseContext, settings: Settings) -> None:
    _, host, vms = await setup(auto=False, vms=3)
    host.capacity = 2
    await host.save()
    for vm in vms[:2]:
        await schedule_at(OP, vm, utc(2026, 12, 3, 1), now=NOW, settings=settings)
    with pytest.raises(ValidationError, match="host kvm02 already has 2 VMs in maintenance"):
        await schedule_at(OP, vms[2], utc(2026, 12, 3, 1), now=NOW, settings=settings)


async def test_customer_postpones_once_then_is_refused(
    db: TortoiseContext, settings: Settings
) -> None:
    await setup()
    await run_pass(settings, now=NOW)
    [w] = await Window.all()
    assert w.starts_at == utc(2026, 11, 30, 1)
    moved = await postpone(ACME, w, now=NOW, settings=settings)
    assert (moved.starts_at, moved.sequence, moved.postpones) == (utc(2026, 12, 1, 1), 1, 1)
    assert moved.reason.startswith(
        "postponed by the customer from Mon 30 Nov 02:00 Europe/Berlin to the next "
        "02:00-04:00 Europe/Berlin window that fits"
    )
    note = await Notification.get(kind="window_postponed")
    assert note.payload["previous_starts_at"] == "2026-11-30T01:00:00+00:00"
    with pytest.raises(ValidationError, match="already postponed 1 time; the group allows 1"):
        await postpone(ACME, moved, now=NOW, settings=settings)
    again = await postpone(OP, moved, now=NOW, settings=settings)
    assert again.starts_at == utc(2026, 12, 2, 1) and again.postpones == 1


async def test_customer_cannot_postpone_past_the_deadline(
    db: TortoiseContext, settings: Settings
) -> None:
    group, _, _ = await setup()
    group.max_postpones = 5
    await group.save()
    await run_pass(settings, now=NOW)
    [w] = await Window.all()
    w.postpone_deadline = utc(2026, 12, 1)
    await w.save()
    with pytest.raises(ValidationError, match="past the postpone deadline"):
        await postpone(ACME, w, now=NOW, settings=settings)


async def test_cancel_last_activity_cancels_the_window(
    db: TortoiseContext, settings: Settings
) -> None:
    await setup()
    await run_pass(settings, now=NOW)
    act = await Activity.get()
    [w] = await cancel_activities("op", [act], reason="not needed")
    assert w.state == "cancelled" and w.sequence == 1
    await act.refresh_from_db()
    assert act.state == "cancelled"
    note = await Notification.get(kind="window_cancelled")
    assert note.payload["reason"] == "not needed"


async def test_cancel_one_of_two_keeps_the_window(db: TortoiseContext, settings: Settings) -> None:
    _, _, [vm] = await setup()
    extra = await Activity.create(
        machine=vm, kind="memory_resize", estimate_minutes=5, requested_at=NOW
    )
    await run_pass(settings, now=NOW)
    [w] = await cancel_activities("op", [extra])
    assert w.state == "planned" and w.sequence == 1
    assert "memory resize cancelled" in w.reason
    assert await Notification.filter(kind="window_changed").count() == 1


async def test_force_host_reboot_gives_every_vm_a_forced_window(
    db: TortoiseContext, settings: Settings
) -> None:
    group, host, _ = await setup(vms=3)
    other = await ResourceGroup.create(
        name="beta", timezone="UTC", notice_minutes=1440, contacts=["b@x.example"]
    )
    await Machine.create(name="beta1", kind="vm", group=other, host=host)
    start = utc(2026, 12, 5, 10)
    with pytest.raises(ValidationError, match="group acme needs 7 days notice"):
        await force_host_reboot("op", host, utc(2026, 11, 25, 10), now=NOW, settings=settings)
    windows = await force_host_reboot(
        "op", host, start, now=NOW, settings=replace(settings, digest_threshold=3)
    )
    assert len(windows) == 5  # host + 4 VMs
    assert all(
        w.forced and w.starts_at == start and w.ends_at == utc(2026, 12, 5, 10, 30) for w in windows
    )
    assert windows[-1].reason == (  # vm2, ordered by name after beta1
        "forced: its host reboots at Sat 5 Dec 11:00 Europe/Berlin; outside the regular window, "
        "announced with the group's notice of 7 days"
    )
    kinds = sorted((n.kind, n.group_id) for n in await Notification.all())  # type: ignore[attr-defined]
    assert kinds == [("window_scheduled", other.id), ("windows_digest", group.id)]
    assert await Activity.filter(kind="reboot", state="scheduled").count() == 4


async def test_a_host_reboot_for_a_group_without_notice_says_so(
    db: TortoiseContext, settings: Settings
) -> None:
    """A notice of 0 is no notice: the reason (shown in mail and feed) must not say 'notice of
    0 min'."""
    group, host, _ = await setup(vms=1)
    group.notice_minutes = 0
    await group.save()
    [_, vm] = await force_host_reboot("op", host, utc(2026, 11, 23, 10), now=NOW, settings=settings)
    assert vm.reason == (
        "forced: its host reboots at Mon 23 Nov 11:00 Europe/Berlin; outside the regular window, "
        "announced at once (the group asks for no notice)"
    )


async def test_cancel_names_only_each_windows_own_work(
    db: TortoiseContext, settings: Settings
) -> None:
    _, _, [vm0, vm1] = await setup(vms=2)
    mem = await Activity.create(
        machine=vm0, kind="memory_resize", estimate_minutes=5, requested_at=NOW
    )
    cpu = await Activity.create(
        machine=vm1, kind="cpu_change", estimate_minutes=5, requested_at=NOW
    )
    await run_pass(settings, now=NOW)
    changed = {w.machine_id: w for w in await cancel_activities("op", [mem, cpu])}  # type: ignore[attr-defined]
    assert changed[vm0.id].reason.endswith("\nmemory resize cancelled (cancelled by op)")
    assert changed[vm1.id].reason.endswith("\ncpu change cancelled (cancelled by op)")


async def test_schedule_at_before_not_before_is_refused_unless_forced(
    db: TortoiseContext, settings: Settings
) -> None:
    _, _, [vm] = await setup(auto=False)
    await Activity.filter(machine_id=vm.id).update(not_before=utc(2026, 12, 10, 12))
    start = utc(2026, 12, 3, 1, 30)  # inside a regular window and with notice, but too early
    with pytest.raises(ValidationError) as err:
        await schedule_at(OP, vm, start, now=NOW, settings=settings)
    assert [e.message for e in err.value.errors] == [
        "Thu 3 Dec 02:30 Europe/Berlin is before the requested not-before time "
        "Thu 10 Dec 13:00 Europe/Berlin"
    ]
    assert await Window.all().count() == 0
    w = await schedule_at(OP, vm, start, force=True, now=NOW, settings=settings)
    assert w.forced
    event = await AuditEvent.get(action="window.schedule_at")
    assert event.details["overridden"] == [e.message for e in err.value.errors]


async def test_postpone_into_a_spring_forward_gap_says_when_the_window_really_is(
    db: TortoiseContext, settings: Settings
) -> None:
    group = await ResourceGroup.create(
        name="kangaroo",
        contacts=["ops@kangaroo.example"],
        timezone="Australia/Sydney",
        window_start=time(2, 30),
        window_minutes=120,
        notice_minutes=2 * 1440,
    )
    host = await Machine.create(name="roohost", kind="host", group=group)
    vm = await Machine.create(name="roo1", kind="vm", group=group, host=host)
    now = utc(2026, 9, 30, 12)
    await Activity.create(machine=vm, kind="kernel_update", estimate_minutes=15, requested_at=now)
    await run_pass(settings, now=now)
    w = await Window.get()
    assert w.starts_at == utc(2026, 10, 2, 16, 30)  # Sat 3 Oct 02:30 AEST
    w = await postpone(OP, w, now=now, settings=settings)
    assert w.starts_at == utc(2026, 10, 3, 16)  # Sun 4 Oct: 02:30 does not exist, 03:00 AEDT
    assert w.reason.endswith(
        "clock change: 02:30 does not exist that day, so the window is 03:00-05:00 local time"
    )


async def test_schedule_at_does_not_take_a_host_reboot_past_its_vms(
    db: TortoiseContext, settings: Settings
) -> None:
    """A host reboot takes every VM down: it goes through force_host_reboot, which gives each
    VM an announced window, never through a window for the host alone."""
    _, host, _ = await setup()
    await Activity.create(machine=host, kind="host_reboot", estimate_minutes=20, requested_at=NOW)
    start = utc(2026, 12, 3, 1, 30)
    for force in (False, True):
        with pytest.raises(ValidationError, match="only a host reboot queued"):
            await schedule_at(OP, host, start, force=force, now=NOW, settings=settings)
    assert await Window.filter(machine_id=host.id).count() == 0
    assert await Activity.filter(machine_id=host.id, state="queued").count() == 1


async def test_a_host_reboot_window_is_not_postponed_apart_from_its_vms(
    db: TortoiseContext, settings: Settings
) -> None:
    """Moving the host's window alone would reboot the VMs at a time their customers were not
    told; moving one VM's window alone would leave its customer told the wrong time."""
    _, host, _ = await setup(vms=2)
    windows = await force_host_reboot("op", host, utc(2026, 12, 5, 10), now=NOW, settings=settings)
    for w in windows:  # host first, then each VM
        with pytest.raises(ValidationError, match="part of a host reboot"):
            await postpone(OP, w, now=NOW, settings=settings)
    assert {w.starts_at for w in await Window.all()} == {utc(2026, 12, 5, 10)}


async def test_a_vms_part_of_a_host_reboot_is_not_cancelled_while_the_host_still_reboots(
    db: TortoiseContext, settings: Settings
) -> None:
    """Its customers would read 'Nothing will happen at this time' and the VM would still go
    down with its host."""
    _, host, _ = await setup(vms=2)
    await force_host_reboot("op", host, utc(2026, 12, 5, 10), now=NOW, settings=settings)
    reboots = await Activity.filter(kind="reboot").order_by("id")
    with pytest.raises(ValidationError, match="goes down with its host's reboot"):
        await cancel_activities("op", reboots[:1])
    assert await Window.filter(state="cancelled").count() == 0
    whole = [*await Activity.filter(kind="host_reboot"), *reboots]
    changed = await cancel_activities("op", whole)
    assert sorted(w.state for w in changed) == ["cancelled"] * 3
