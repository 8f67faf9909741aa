"""Hand-made window operations: schedule at a start, cancel work, host reboots (postponing is
api.services.postponing).

Each runs in one transaction holding the scheduler's lock, checks the pure rules of
api.scheduling.manual and writes the audit event and outbox rows of its change.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.transactions import in_transaction

from api.effects import NewWindow, OutboxRow, WindowRow, new_windows_notices, outbox_row
from api.errors import FieldError, ValidationError
from api.kinds import KINDS, REBOOT_FLAG, ActivityKind, manual_because
from api.models import Activity, Machine, ResourceGroup, Window
from api.notices import Notice, WindowCancelled, WindowChanged, WindowScheduled
from api.policy import limited_as_customer
from api.principal import Principal
from api.scheduling import needed_minutes, postpone_deadline, reach
from api.scheduling.manual import (
    GroupNotice,
    Refused,
    StartRequest,
    decide_start,
    host_reboot_problems,
    reduced_reason,
)
from api.scheduling.texts import audit_actor
from api.services import audit
from api.services.scheduling import lock
from api.services.sinks import Row, save, save_all
from api.services.window_base import (
    announce,
    group_policy,
    host_reboot_reason,
    machine_in,
    slot_finder,
    work_of,
)
from api.settings import Settings, get_settings

__all__ = ["cancel_activities", "cancel_in", "force_host_reboot", "schedule_at"]


async def schedule_at(
    caller: Principal,
    machine: Machine,
    start: datetime,
    *,
    force: bool = False,
    now: datetime | None = None,
    settings: Settings | None = None,
) -> Window:
    """Put the machine's queued work into a window starting at ``start``.

    Without ``force`` the start must lie in a regular window with room for the work, respect
    the group's notice and the host's capacity and redundancy set. With ``force`` an operator
    overrides those checks; the audit event lists what was overridden (``decide_start``)."""
    actor, by_customer = caller.actor, limited_as_customer(caller)
    settings = settings or get_settings()
    now = now or datetime.now(UTC)
    start = _in_reach(start, now, by_customer, settings)
    async with in_transaction() as conn:
        await lock(conn)
        group = await ResourceGroup.get(id=machine.group_id, using_db=conn)
        acts = await _schedulable(conn, machine)
        request = StartRequest(
            group_policy(group),
            group.notice_minutes,
            now,
            start,
            needed_minutes(work_of(acts), settings.reboot_allowance_minutes),
            max((a.not_before for a in acts if a.not_before), default=None),
            postpone_deadline(min(a.requested_at for a in acts)),
            by_customer,
            force,
        )
        finder = await slot_finder(conn, machine)
        me = machine_in(machine)
        decision = decide_start(request, lambda s, e: finder.conflict(me, s, e))
        if isinstance(decision, Refused):
            raise ValidationError([FieldError(decision.field, p) for p in decision.problems])
        row = WindowRow(
            machine.id, start, decision.ends_at, decision.reason, decision.forced, request.deadline
        )
        window = await save(row, conn)
        await _attach(conn, acts, window)
        details = {
            "machine": machine.name,
            "starts_at": start,
            "ends_at": decision.ends_at,
            "activities": [a.id for a in acts],
            "forced": decision.forced,
            "overridden": list(decision.overridden),
        }
        await audit.record(actor, "window.schedule_at", window, details, connection=conn)
        await announce(conn, WindowScheduled(window.sequence, decision.reason), group, window)
        return window


def _in_reach(start: datetime, now: datetime, by_customer: bool, settings: Settings) -> datetime:
    """``start`` in UTC, or a ValidationError: naive, in the past, or beyond the reach."""
    if start.tzinfo is None:
        raise ValidationError.single("starts_at", "must include a timezone")
    start = start.astimezone(UTC)
    horizon = settings.horizon_days
    if problem := reach(now, by_customer=by_customer, horizon_days=horizon).problem(start):
        raise ValidationError.single("starts_at", problem)
    return start


async def _schedulable(conn: BaseDBAsyncClient, machine: Machine) -> list[Activity]:
    """The machine's queued work without a window that may be scheduled by hand: a host
    reboot takes every VM on the host down, so only force_host_reboot schedules it, giving
    each VM its own announced window. Manual-only kinds stay queued here."""
    acts = (
        await Activity.filter(machine_id=machine.id, state="queued", window_id=None)
        .using_db(conn)
        .order_by("id")
    )
    if not acts:
        raise ValidationError.single("machine", f"{machine.name} has no queued activities")
    acts = [a for a in acts if manual_because(a.kind) is None]
    if not acts:
        raise ValidationError.single(
            "machine",
            f"{machine.name} has only a host reboot queued; schedule it with a forced host "
            "reboot (force_host_reboot), which announces a window to every VM on the host",
        )
    return acts


async def _attach(conn: BaseDBAsyncClient, acts: Sequence[Activity], window: Window) -> None:
    for a in acts:
        a.transition("scheduled")
    await (
        Activity.filter(id__in=[a.id for a in acts])
        .using_db(conn)
        .update(state="scheduled", window_id=window.id, blocked_reason=None)
    )


async def cancel_activities(
    actor: str, activities: Sequence[Activity], *, reason: str = ""
) -> list[Window]:
    """Cancel queued or scheduled activities; a window left without work is cancelled.

    Returns the windows that changed (cancelled or with less work).
    """
    async with in_transaction() as conn:
        await lock(conn)
        ids = [a.id for a in activities]
        rows = await Activity.filter(id__in=ids).using_db(conn).select_for_update()
        await _check_host_reboots(conn, rows)
        return await cancel_in(conn, actor, rows, reason)


async def cancel_in(
    conn: BaseDBAsyncClient, actor: str, rows: Sequence[Activity], reason: str
) -> list[Window]:
    """Cancel ``rows`` inside the caller's transaction (which holds the scheduler's lock):
    a window left without work is cancelled, one with work left is changed; each is mailed
    (threaded with its earlier mail). A handful of queries, however many windows."""
    touched: set[int] = set()
    for a in rows:
        a.transition("cancelled")
        if a.window_id is not None:
            touched.add(a.window_id)
    await (
        Activity.filter(id__in=[a.id for a in rows])
        .using_db(conn)
        .update(state="cancelled", blocked_reason=None)
    )
    events: list[Row] = [
        audit.row_of(
            actor, "activity.cancel", a, {"kind": a.kind, "window": a.window_id, "reason": reason}
        )
        for a in rows
    ]
    windows = (
        await Window.filter(id__in=sorted(touched), state="planned")
        .using_db(conn)
        .prefetch_related("machine__group")
    )
    working = Activity.filter(window_id__in=[w.id for w in windows], state="scheduled")
    busy: set[int] = {r[0] for r in await working.using_db(conn).values_list("window_id")}
    why = reason or f"cancelled by {audit_actor(actor)}"
    notices: list[Row] = []
    for window in windows:
        window.touch()
        notice: Notice
        if window.id not in busy:
            window.transition("cancelled")
            action, notice = "window.cancel", WindowCancelled(window.sequence, why)
        else:
            kinds = [a.kind for a in rows if a.window_id == window.id]
            window.reason = reduced_reason(window.reason, kinds, why)
            action, notice = "window.reduce", WindowChanged(window.sequence, window.reason)
        await window.save(using_db=conn)
        events.append(audit.row_of(actor, action, window, {"reason": why}))
        notices.append(_notice_row(notice, window.machine.group, window))
    await save_all([*events, *notices], conn)
    return list(windows)


def _notice_row(notice: Notice, group: ResourceGroup, window: Window) -> OutboxRow:
    return outbox_row(
        notice,
        group_id=group.id,
        recipients=list(group.contacts),
        due=datetime.now(UTC),
        window=(window.id, window.uid, window.sequence),
    )


async def _check_host_reboots(conn: BaseDBAsyncClient, rows: Sequence[Activity]) -> None:
    """A VM's reboot for its host's reboot is not cancelled while the host still reboots:
    the VM would go down with the host after its customers were told nothing happens.
    One query, however many activities."""
    hosts = {
        a.id: a.for_host_reboot_id
        for a in rows
        if a.kind == ActivityKind.REBOOT and a.state == "scheduled" and a.for_host_reboot_id
    }
    if not hosts:
        return
    still = (
        await Activity.filter(
            machine_id__in=sorted(set(hosts.values())),
            kind=ActivityKind.HOST_REBOOT,
            state="scheduled",
            window__state="planned",
        )
        .exclude(id__in=[a.id for a in rows])
        .using_db(conn)
        .values_list("machine_id")
    )
    rebooting = {r[0] for r in still}
    for a in rows:
        if hosts.get(a.id) in rebooting:
            raise ValidationError.single(
                "activities",
                f"activity #{a.id} goes down with its host's reboot anyway; "
                "cancel the host reboot together with it",
            )


async def force_host_reboot(
    actor: str,
    host: Machine,
    start: datetime,
    *,
    now: datetime | None = None,
    settings: Settings | None = None,
) -> list[Window]:
    """Give the host and every VM on it a forced window at ``start`` for the host's reboot.

    The windows lie outside the regular windows but are still announced with notice: ``start``
    must be at least the notice of every affected group away
    (``api.scheduling.manual.host_reboot_problems``). Returns the windows, host first.
    """
    settings = settings or get_settings()
    now = now or datetime.now(UTC)
    if host.kind != "host":
        raise ValidationError.single("host", f"{host.name} is not a VM host")
    start = _in_reach(start, now, False, settings)
    async with in_transaction() as conn:
        await lock(conn)
        guests = await Machine.filter(host_id=host.id, kind="vm").using_db(conn).order_by("name")
        machines = [host, *guests]
        found = ResourceGroup.filter(id__in={m.group_id for m in machines}).using_db(conn)
        groups = {g.id: g for g in await found}
        notices = [GroupNotice(g.name, g.timezone, g.notice_minutes) for g in groups.values()]
        if problems := host_reboot_problems(notices, now, start):
            raise ValidationError([FieldError("starts_at", p) for p in problems])
        host_work = await _host_work(conn, actor, host)
        minutes = needed_minutes(work_of(host_work), settings.reboot_allowance_minutes)
        end = start + timedelta(minutes=minutes)
        windows = []
        for m in machines:
            g = groups[m.group_id]
            work = host_work if m is host else [await _vm_reboot(conn, actor, host, m, minutes)]
            reason = host_reboot_reason(g.timezone, g.notice_minutes, start, m is host)
            window = await save(WindowRow(m.id, start, end, reason, True, None), conn)
            await _attach(conn, work, window)
            details = {"host": host.name, "machine": m.name, "starts_at": start, "ends_at": end}
            await audit.record(actor, "window.force_host_reboot", window, details, connection=conn)
            windows.append(window)
        await _announce_new(conn, settings, groups, machines, windows)
        return windows


async def _host_work(conn: BaseDBAsyncClient, actor: str, host: Machine) -> list[Activity]:
    """The host's queued reboot, or a new one."""
    kind = ActivityKind.HOST_REBOOT
    queued = Activity.filter(machine_id=host.id, kind=kind, state="queued", window_id=None)
    found = await queued.using_db(conn)
    if found:
        return list(found)
    minutes = KINDS[kind].default_estimate
    new = await Activity.create(
        machine=host, kind=kind, estimate_minutes=minutes, requested_by=actor, using_db=conn
    )
    return [new]


async def _vm_reboot(
    conn: BaseDBAsyncClient, actor: str, host: Machine, vm: Machine, minutes: int
) -> Activity:
    """A VM's reboot for its host's, as long as the host's."""
    return await Activity.create(
        machine=vm,
        kind=ActivityKind.REBOOT,
        estimate_minutes=minutes,
        params={REBOOT_FLAG: True},
        for_host_reboot=host,
        requested_by=actor,
        using_db=conn,
    )


async def _announce_new(
    conn: BaseDBAsyncClient,
    settings: Settings,
    groups: dict[int, ResourceGroup],
    machines: Sequence[Machine],
    windows: Sequence[Window],
) -> None:
    """Each group hears of its new windows (a digest when many: ``new_windows_notices``)."""
    per_group: dict[int, list[NewWindow]] = defaultdict(list)
    for m, w in zip(machines, windows, strict=True):
        per_group[m.group_id].append(NewWindow(w.id, w.uid, w.sequence, w.reason))
    due = datetime.now(UTC)
    rows: list[Row] = []
    for group_id, booked in sorted(per_group.items()):
        g = groups[group_id]
        threshold = settings.digest_threshold
        rows += new_windows_notices(threshold, g.id, list(g.contacts), booked, due)
    await save_all(rows, conn)
