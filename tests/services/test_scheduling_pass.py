from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, time

import pytest
from tortoise.context import TortoiseContext

from api.models import Activity, AuditEvent, Machine, Notification, ResourceGroup, Window
from api.services.scheduling import run_pass
from api.settings import Settings
from tests.conftest import POSTGRES

NOW = datetime(2026, 11, 23, tzinfo=UTC)


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


async def world(
    vms: int = 3, *, contacts: list[str] | None = None
) -> tuple[ResourceGroup, Machine]:
    group = await ResourceGroup.create(
        name="acme",
        contacts=contacts or ["ops@acme.example"],
        timezone="Europe/Berlin",
        window_start=time(2, 0),
        window_minutes=120,
    )
    host = await Machine.create(name="kvm02", kind="host", group=group, capacity=2)
    for i in range(vms):
        vm = await Machine.create(name=f"vm{i}", kind="vm", group=group, host=host)
        await Activity.create(
            machine=vm, kind="kernel_update", estimate_minutes=15, requested_at=NOW
        )
    return group, host


async def test_pass_creates_windows_audit_and_outbox(
    db: TortoiseContext, settings: Settings
) -> None:
    await world(3)
    report = await run_pass(settings, now=NOW)
    assert len(report.created) == 3 and not report.blocked
    windows = await Window.all().order_by("starts_at", "id").prefetch_related("machine")
    assert [(w.starts_at, w.ends_at) for w in windows] == [
        (utc(2026, 11, 30, 1), utc(2026, 11, 30, 3)),
        (utc(2026, 11, 30, 1), utc(2026, 11, 30, 3)),
        (utc(2026, 12, 1, 1), utc(2026, 12, 1, 3)),
    ]
    assert windows[2].reason.endswith(
        "Mon 30 Nov skipped: this machine's host already has the most machines in maintenance "
        "that it allows"
    )
    assert all(w.state == "planned" and w.sequence == 0 for w in windows)
    assert windows[0].postpone_deadline == utc(2026, 12, 23)
    acts = await Activity.all()
    assert {a.state for a in acts} == {"scheduled"}
    assert {a.window_id for a in acts} == {w.id for w in windows}  # type: ignore[attr-defined]
    notes = await Notification.all().order_by("id")
    assert [n.kind for n in notes] == ["window_scheduled"] * 3
    assert notes[0].recipients == ["ops@acme.example"]
    assert notes[0].window_id == windows[0].id or notes[0].window_id in {w.id for w in windows}  # type: ignore[attr-defined]
    assert await AuditEvent.filter(action="window.schedule").count() == 3


async def test_second_pass_is_a_no_op(db: TortoiseContext, settings: Settings) -> None:
    await world(2)
    await run_pass(settings, now=NOW)
    before = (
        await Window.all().count(),
        await Notification.all().count(),
        await AuditEvent.all().count(),
    )
    again = await run_pass(settings, now=NOW)
    assert not again.changed
    after = (
        await Window.all().count(),
        await Notification.all().count(),
        await AuditEvent.all().count(),
    )
    assert before == after


async def test_new_work_joins_the_planned_window(db: TortoiseContext, settings: Settings) -> None:
    await world(1)
    await run_pass(settings, now=NOW)
    vm = await Machine.get(name="vm0")
    await Activity.create(machine=vm, kind="memory_resize", estimate_minutes=5, requested_at=NOW)
    report = await run_pass(settings, now=NOW)
    assert not report.created and len(report.extended) == 1
    [w] = await Window.all()
    assert w.sequence == 1 and "memory resize added" in w.reason
    assert await Activity.filter(window_id=w.id).count() == 2
    kinds = [n.kind for n in await Notification.all().order_by("id")]
    assert kinds == ["window_scheduled", "window_changed"]


async def test_blocked_activity_gets_its_reason_once(
    db: TortoiseContext, settings: Settings
) -> None:
    group, host = await world(0)
    vm = await Machine.create(name="big", kind="vm", group=group, host=host)
    a = await Activity.create(
        machine=vm, kind="system_update", estimate_minutes=125, requested_at=NOW
    )
    report = await run_pass(settings, now=NOW)
    assert report.blocked == [
        (a.id, "big", "needs 125 min; the 02:00-04:00 Europe/Berlin window is 120 min")
    ]
    await a.refresh_from_db()
    assert a.state == "queued" and a.blocked_reason == report.blocked[0][2]
    assert not (await run_pass(settings, now=NOW)).changed
    assert await AuditEvent.filter(action="activity.block").count() == 1


async def test_many_windows_for_one_group_make_one_digest(
    db: TortoiseContext, settings: Settings
) -> None:
    from dataclasses import replace

    await world(6)
    report = await run_pass(replace(settings, digest_threshold=5), now=NOW)
    assert len(report.created) == 6
    [digest] = await Notification.all()
    assert digest.kind == "windows_digest" and digest.window_id is None  # type: ignore[attr-defined]
    assert sorted(digest.payload["window_ids"]) == sorted(w.id for w in await Window.all())
    assert len(digest.payload["windows"]) == 6


async def test_dry_run_writes_nothing(db: TortoiseContext, settings: Settings) -> None:
    await world(2)
    report = await run_pass(settings, now=NOW, dry_run=True)
    assert len(report.created) == 2
    assert await Window.all().count() == 0
    assert await Activity.filter(state="queued").count() == 2


@pytest.mark.postgres
@pytest.mark.skipif(not POSTGRES, reason="needs FENSTER_TEST_POSTGRES")
@pytest.mark.parametrize("db_url", ["postgres"], indirect=True)
async def test_concurrent_passes_book_nothing_twice(
    db: TortoiseContext, settings: Settings
) -> None:
    await world(4)
    reports = await asyncio.gather(*(run_pass(settings, now=NOW) for _ in range(4)))
    assert sum(len(r.created) for r in reports) == 4
    assert await Window.all().count() == 4
    assert await Notification.all().count() == 4
    assert sum(1 for r in reports if r.created) == 1


@pytest.mark.postgres
@pytest.mark.skipif(not POSTGRES, reason="needs FENSTER_TEST_POSTGRES")
@pytest.mark.parametrize("db_url", ["postgres"], indirect=True)
async def test_a_pass_does_nothing_while_another_holds_the_lock(
    db: TortoiseContext, settings: Settings, db_url: str
) -> None:
    import asyncpg

    from api.services.scheduling import LOCK_KEY

    await world(2)
    other = await asyncpg.connect(db_url)
    try:
        await other.execute("SELECT pg_advisory_lock($1)", LOCK_KEY)
        report = await run_pass(settings, now=NOW)
        assert report.locked_out and not report.created
        assert await Window.all().count() == 0
        await other.execute("SELECT pg_advisory_unlock($1)", LOCK_KEY)
    finally:
        await other.close()
    assert len((await run_pass(settings, now=NOW)).created) == 2


def test_needs_reboot_on_raw_rows_matches_the_model() -> None:
    from api.kinds import needs_reboot

    for kind in ("kernel_update", "system_update"):
        for params in ({}, {"reboot": True}, {"reboot": False}, {"kernel": "2.6.38"}):
            expected = Activity(kind=kind, params=params).needs_reboot
            assert needs_reboot(kind, json.dumps(params)) is expected, (kind, params)
            assert needs_reboot(kind, params) is expected, (kind, params)


async def test_a_window_that_ended_without_being_started_is_released_and_replanned(
    db: TortoiseContext, settings: Settings
) -> None:
    """The agent refuses to start a window after its end ('it will be rescheduled'): the next
    pass cancels it, tells the customers, and plans its work again with the usual notice."""
    await world(1)
    await run_pass(settings, now=NOW)
    missed = await Window.get()
    later = utc(2026, 11, 30, 6)  # the window ran 01:00-03:00Z; nothing started it
    report = await run_pass(settings, now=later)
    await missed.refresh_from_db()
    assert (missed.state, missed.sequence) == ("cancelled", 1)
    assert "not started before its end" in missed.reason
    [act] = await Activity.all()
    [new] = report.created
    assert act.state == "scheduled" and act.window_id == new.window_id  # type: ignore[attr-defined]
    assert new.starts_at == utc(2026, 12, 8, 1)  # the group's 7 days notice from now again
    cancelled = await Notification.get(kind="window_cancelled")
    assert cancelled.window_id == missed.id  # type: ignore[attr-defined]
    assert await AuditEvent.filter(action="window.miss").count() == 1
    assert not (await run_pass(settings, now=later)).changed  # and then nothing more


async def test_a_missed_host_reboot_does_not_leave_its_vms_a_reboot_of_their_own(
    db: TortoiseContext, settings: Settings
) -> None:
    from api.services.window_ops import force_host_reboot

    _, host = await world(2)
    await force_host_reboot("op", host, utc(2026, 12, 5, 10), now=NOW, settings=settings)
    await run_pass(settings, now=utc(2026, 12, 5, 12))
    assert await Window.filter(forced=True, state="cancelled").count() == 3
    assert await Activity.filter(kind="reboot", state="cancelled").count() == 2
    [host_reboot] = await Activity.filter(kind="host_reboot")
    assert (host_reboot.state, host_reboot.window_id) == ("queued", None)  # type: ignore[attr-defined]
