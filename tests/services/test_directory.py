"""Directory services: groups, machines, tokens. Bad input is refused and nothing is written."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

import pytest
from tortoise.context import TortoiseContext

from api.errors import ValidationError
from api.models import (
    Activity,
    ApiToken,
    AuditEvent,
    Machine,
    Notification,
    ResourceGroup,
    Window,
)
from api.services import groups, machines, tokens
from api.services.activities import queue_activity


async def snapshot() -> tuple[int, ...]:
    return (
        await ResourceGroup.all().count(),
        await Machine.all().count(),
        await Activity.all().count(),
        await Notification.all().count(),
        await AuditEvent.all().count(),
        await ApiToken.all().count(),
    )


async def world() -> tuple[ResourceGroup, Machine, Machine]:
    group = await groups.create_group(
        "op",
        name="acme",
        contacts=["ops@acme.example"],
        timezone="Europe/Berlin",
        window_start="02:00",
        window_minutes=120,
    )
    host = await machines.register_machine(
        "op", name="kvm01", group=group, kind="host", desired_cores=24, desired_swap_mib=0
    )
    vm = await machines.register_machine(
        "op",
        name="web01",
        group=group,
        host=host,
        desired_cores=2,
        desired_memory_mib=2048,
        desired_kernel="2.6.32",
    )
    vm.observed_cores, vm.observed_memory_mib, vm.observed_kernel = 2, 2048, "2.6.32"
    await vm.save()
    return group, host, vm


async def test_create_group_writes_audit_and_settings_notice(db: TortoiseContext) -> None:
    group, _, _ = await world()
    assert group.window_start == time(2, 0)
    notes = await Notification.filter(kind="group_settings", group=group)
    assert len(notes) == 1
    assert notes[0].recipients == ["ops@acme.example"]
    assert notes[0].payload["timezone"] == "Europe/Berlin"
    assert notes[0].payload["window_start"] == "02:00"
    assert await AuditEvent.filter(action="group.create", subject_id=group.id).exists()


@pytest.mark.parametrize(
    ("policy", "field"),
    [
        ({"timezone": "Europe/Berlinn"}, "timezone"),
        ({"window_minutes": 0}, "window_minutes"),
        ({"window_minutes": 25 * 60}, "window_minutes"),
        ({"contacts": ["nobody"]}, "contacts[0]"),
        ({"window_start": "25:00"}, "window_start"),
        ({"notice_minutes": -5}, "notice_minutes"),
        ({"colour": "blue"}, "colour"),
    ],
)
async def test_bad_group_changes_nothing(
    db: TortoiseContext, policy: dict[str, object], field: str
) -> None:
    group, _, _ = await world()
    before = await snapshot()
    with pytest.raises(ValidationError) as exc:
        await groups.update_policy("op", group, **policy)
    assert field in {e.field for e in exc.value.errors}
    assert await snapshot() == before
    fresh = await ResourceGroup.get(id=group.id)
    assert (fresh.timezone, fresh.window_minutes) == ("Europe/Berlin", 120)


async def test_duplicate_group_name_refused(db: TortoiseContext) -> None:
    await world()
    before = await snapshot()
    with pytest.raises(ValidationError) as exc:
        await groups.create_group("op", name="acme", contacts=["x@y.example"], timezone="UTC")
    assert exc.value.errors[0].field == "name"
    assert await snapshot() == before


async def test_update_policy_notifies_and_audits_the_difference(db: TortoiseContext) -> None:
    group, _, _ = await world()
    await groups.update_policy("op", group, window_minutes=90, timezone="Asia/Tokyo")
    event = await AuditEvent.filter(action="group.update").first()
    assert event is not None
    assert event.details["changed"]["window_minutes"] == [120, 90]
    assert await Notification.filter(kind="group_settings").count() == 2
    # the same values again change nothing and notify nobody
    await groups.update_policy("op", group, window_minutes=90)
    assert await Notification.filter(kind="group_settings").count() == 2


async def test_rotate_feed_token(db: TortoiseContext) -> None:
    group, _, _ = await world()
    old = group.feed_token
    new = await groups.rotate_feed_token("op", group)
    assert new != old and len(new) >= 43
    assert not await ResourceGroup.filter(feed_token=old).exists()


@pytest.mark.parametrize(
    ("config", "field"),
    [
        ({"desired_cores": 13}, "cores"),
        ({"arch": "i686", "desired_memory_mib": 8192}, "memory_mib"),
        ({"desired_swap_mib": 512}, "swap_mib"),
        ({"capacity": 0}, "capacity"),
        ({"name": "Web 02"}, "name"),
        ({"name": "web01"}, "name"),  # taken
    ],
)
async def test_bad_machine_changes_nothing(
    db: TortoiseContext, config: dict[str, object], field: str
) -> None:
    group, host, _ = await world()
    before = await snapshot()
    with pytest.raises(ValidationError) as exc:
        await machines.register_machine(
            "op", **{"name": "web02", "group": group, "host": host, **config}
        )
    assert exc.value.errors[0].field == field
    assert await snapshot() == before


async def test_desired_change_queues_updates_and_cancels(db: TortoiseContext) -> None:
    _, _, vm = await world()
    queued = await machines.change_desired("op", vm, desired_memory_mib=4096)
    assert [(a.kind, a.params) for a in queued] == [("memory_resize", {"memory_mib": 4096})]
    # a second change updates the open activity instead of queueing another
    again = await machines.change_desired("op", vm, desired_memory_mib=3072)
    assert again[0].id == queued[0].id and again[0].params == {"memory_mib": 3072}
    assert await Activity.filter(machine=vm, state="queued").count() == 1
    # back to the observed value: the activity is cancelled
    await machines.change_desired("op", vm, desired_memory_mib=2048)
    assert (await Activity.get(id=queued[0].id)).state == "cancelled"
    # the same as observed queues nothing
    assert await machines.change_desired("op", vm, desired_kernel="2.6.32") == []


async def test_desired_change_over_limits_refused(db: TortoiseContext) -> None:
    _, _, vm = await world()
    before = await snapshot()
    with pytest.raises(ValidationError) as exc:
        await machines.change_desired("op", vm, desired_cores=13)
    assert exc.value.errors[0].field == "cores"
    assert await snapshot() == before
    assert (await Machine.get(id=vm.id)).desired_cores == 2


async def test_tokens(db: TortoiseContext) -> None:
    group, host, _ = await world()
    token, secret = await tokens.create_token("op", name="acme", role="customer", groups=[group])
    assert token.secret_hash != secret and secret not in token.secret_hash
    assert (await tokens.authenticate(secret)).id == token.id  # type: ignore[union-attr]
    assert await tokens.authenticate(secret + "x") is None
    assert await tokens.authenticate("") is None
    await tokens.revoke_token("op", token)
    assert await tokens.authenticate(secret) is None
    with pytest.raises(ValidationError):
        await tokens.create_token("op", name="x", role="agent", host=None)
    with pytest.raises(ValidationError):
        await tokens.create_token("op", name="x", role="root")
    agent, _ = await tokens.create_token("op", name="kvm01", role="agent", host=host)
    assert agent.host_id == host.id  # type: ignore[attr-defined]


async def scheduled(vm: Machine, kind: str, params: dict[str, object]) -> tuple[Activity, Window]:
    start = datetime(2026, 12, 2, 1, 0, tzinfo=UTC)
    window = await Window.create(machine=vm, starts_at=start, ends_at=start + timedelta(hours=2))
    activity = await Activity.create(
        machine=vm, kind=kind, params=params, state="scheduled", window=window
    )
    return activity, window


async def test_desired_change_of_scheduled_work_updates_its_window(db: TortoiseContext) -> None:
    _, _, vm = await world()
    activity, window = await scheduled(vm, "memory_resize", {"memory_mib": 4096})
    await machines.change_desired("op", vm, desired_memory_mib=3072)
    assert (await Activity.get(id=activity.id)).params == {"memory_mib": 3072}
    assert (await Window.get(id=window.id)).sequence == 1
    changed = await Notification.filter(kind="window_changed", window_id=window.id)
    assert len(changed) == 1 and changed[0].recipients == ["ops@acme.example"]
    # the same value again changes nothing and tells nobody
    await machines.change_desired("op", vm, desired_memory_mib=3072)
    assert (await Window.get(id=window.id)).sequence == 1
    assert await Notification.filter(kind="window_changed").count() == 1


async def test_desired_back_to_observed_withdraws_scheduled_work(db: TortoiseContext) -> None:
    _, _, vm = await world()
    activity, window = await scheduled(vm, "memory_resize", {"memory_mib": 4096})
    await machines.change_desired("op", vm, desired_memory_mib=2048)  # the observed value
    assert (await Activity.get(id=activity.id)).state == "cancelled"
    assert (await Window.get(id=window.id)).state == "cancelled"  # left without work
    assert await Notification.filter(kind="window_cancelled", window_id=window.id).exists()


async def test_zero_estimate_is_refused_not_defaulted(db: TortoiseContext) -> None:
    _, _, vm = await world()
    with pytest.raises(ValidationError) as exc:
        await queue_activity("op", vm, "reboot", estimate_minutes=0)
    assert exc.value.errors[0].field == "estimate_minutes"
    assert await Activity.all().count() == 0
