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

from api.effects import NewWindow, new_windows_notices
from api.errors import FieldError, ValidationError
from api.kinds import FOR_HOST_REBOOT, KINDS, REBOOT_FLAG, ActivityKind, manual_because
from api.models import Activity, Machine, ResourceGroup, Window
from api.notices import WindowCancelled, WindowChanged, WindowScheduled
from api.scheduling import check_start, needed_minutes, postpone_deadline, reach
from api.scheduling.texts import audit_actor, duration_label, who
from api.services import audit
from api.services.scheduling import lock
from api.services.sinks import save
from api.services.window_base import (
    announce,
    group_policy,
    host_reboot_reason,
    machine_in,
    slot_finder,
    when_label,
    work_of,
)
from api.settings import Settings, get_settings

__all__ = ["cancel_activities", "cancel_in", "force_host_reboot", "schedule_at"]


async def schedule_at(
    actor: str,
    machine: Machine,
    start: datetime,
    *,
    force: bool = False,
    by_customer: bool = False,
    now: datetime | None = None,
    settings: Settings | None = None,
) -> Window:
    """Put the machine's queued work into a window starting at ``start``.

    Without ``force`` the start must lie in a regular window with room for the work, respect
    the group's notice and the host's capacity and redundancy set. With ``force`` an operator
    overrides those checks; the audit event lists what was overridden.
    """
    settings = settings or get_settings()
    now = now or datetime.now(UTC)
    if start.tzinfo is None:
        raise ValidationError.single("starts_at", "must include a timezone")
    start = start.astimezone(UTC)
    if problem := reach(now, by_customer=by_customer, horizon_days=settings.horizon_days).problem(
        start
    ):
        raise ValidationError.single("starts_at", problem)
    async with in_transaction() as conn:
        await lock(conn)
        group = await ResourceGroup.get(id=machine.group_id, using_db=conn)
        acts = (
            await Activity.filter(machine_id=machine.id, state="queued", window_id=None)
            .using_db(conn)
            .order_by("id")
        )
        if not acts:
            raise ValidationError.single("machine", f"{machine.name} has no queued activities")
        # A host reboot takes every VM on the host down: only force_host_reboot schedules it,
        # giving each VM its own announced window. Manual-only kinds stay queued here.
        acts = [a for a in acts if manual_because(a.kind) is None]
        if not acts:
            raise ValidationError.single(
                "machine",
                f"{machine.name} has only a host reboot queued; schedule it with a forced host "
                "reboot (force_host_reboot), which announces a window to every VM on the host",
            )
        needed = needed_minutes(work_of(acts), settings.reboot_allowance_minutes)
        policy = group_policy(group)
        occ, problems = check_start(policy, group.notice_minutes, now, start, needed)
        not_before = max((a.not_before for a in acts if a.not_before), default=None)
        if not_before is not None and start < not_before:
            problems.append(
                f"{when_label(group, start)} is before the requested not-before time "
                f"{when_label(group, not_before)}"
            )
        deadline = postpone_deadline(min(a.requested_at for a in acts))
        if by_customer and start > deadline:  # what postponing may not do, this may not either
            problems.append(
                f"{when_label(group, start)} is past the postpone deadline "
                f"{when_label(group, deadline)}"
            )
        regular = occ is not None and not problems
        end = occ.ends_at if regular and occ is not None else start + timedelta(minutes=needed)
        finder = await slot_finder(conn, machine)
        clash = finder.conflict(machine_in(machine), start, end)
        told = list(problems)  # what the requester reads: operators see the host's name
        if clash is not None:
            problems.append(clash.text)
            told.append(clash.text if by_customer else clash.for_operators)
        if problems and not force:
            raise ValidationError([FieldError("starts_at", p) for p in told])
        forced = bool(problems)
        if forced:
            reason = f"forced by {who(False)} for {when_label(group, start)}: " + "; ".join(
                problems
            )
        else:
            reason = (
                f"scheduled by {who(by_customer)} for {when_label(group, start)}, inside the "
                f"regular {policy.label} window"
            )
        window = await Window.create(
            machine=machine,
            starts_at=start,
            ends_at=end,
            reason=reason,
            forced=forced,
            postpone_deadline=deadline,
            using_db=conn,
        )
        await _attach(conn, acts, window)
        await audit.record(
            actor,
            "window.schedule_at",
            window,
            {
                "machine": machine.name,
                "starts_at": start,
                "ends_at": end,
                "activities": [a.id for a in acts],
                "forced": forced,
                "overridden": told,
            },
            connection=conn,
        )
        await announce(conn, WindowScheduled(window.sequence, reason), group, window)
        return window


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
    (threaded with its earlier mail)."""
    changed: list[Window] = []
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
    for a in rows:
        await audit.record(
            actor,
            "activity.cancel",
            a,
            {"kind": a.kind, "window": a.window_id, "reason": reason},
            connection=conn,
        )
    for window in await Window.filter(id__in=sorted(touched), state="planned").using_db(conn):
        machine = await Machine.get(id=window.machine_id, using_db=conn)
        group = await ResourceGroup.get(id=machine.group_id, using_db=conn)
        left = await Activity.filter(window_id=window.id, state="scheduled").using_db(conn)
        window.touch()
        why = reason or f"cancelled by {audit_actor(actor)}"
        if not left:
            window.transition("cancelled")
            await window.save(using_db=conn)
            await audit.record(actor, "window.cancel", window, {"reason": why}, connection=conn)
            await announce(conn, WindowCancelled(window.sequence, why), group, window)
        else:
            mine = [a for a in rows if a.window_id == window.id]
            kinds = ", ".join(sorted({a.kind.replace("_", " ") for a in mine}))
            window.reason = f"{window.reason}\n{kinds} cancelled ({why})"
            await window.save(using_db=conn)
            await audit.record(actor, "window.reduce", window, {"reason": why}, connection=conn)
            notice = WindowChanged(window.sequence, window.reason)
            await announce(conn, notice, group, window)
        changed.append(window)
    return changed


async def _check_host_reboots(conn: BaseDBAsyncClient, rows: Sequence[Activity]) -> None:
    """A VM's reboot for its host's reboot is not cancelled while the host still reboots:
    the VM would go down with the host after its customers were told nothing happens."""
    cancelling = {a.id for a in rows}
    for a in rows:
        host = (a.params or {}).get(FOR_HOST_REBOOT) if a.kind == ActivityKind.REBOOT else None
        if not host or a.state != "scheduled":
            continue
        still = (
            await Activity.filter(
                machine__name=host,
                kind=ActivityKind.HOST_REBOOT,
                state="scheduled",
                window__state="planned",
            )
            .exclude(id__in=cancelling)
            .using_db(conn)
            .exists()
        )
        if still:
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
    must be at least the notice of every affected group away. Returns the windows, host first.
    """
    settings = settings or get_settings()
    now = now or datetime.now(UTC)
    if host.kind != "host":
        raise ValidationError.single("host", f"{host.name} is not a VM host")
    if start.tzinfo is None:
        raise ValidationError.single("starts_at", "must include a timezone")
    start = start.astimezone(UTC)
    if problem := reach(now, by_customer=False, horizon_days=settings.horizon_days).problem(start):
        raise ValidationError.single("starts_at", problem)
    async with in_transaction() as conn:
        await lock(conn)
        guests = await Machine.filter(host_id=host.id, kind="vm").using_db(conn).order_by("name")
        machines = [host, *guests]
        groups = {
            g.id: g
            for g in await ResourceGroup.filter(id__in={m.group_id for m in machines}).using_db(
                conn
            )
        }
        problems = []
        for g in sorted(groups.values(), key=lambda g: g.name):
            earliest = now + timedelta(minutes=g.notice_minutes)
            if start < earliest:
                problems.append(
                    f"group {g.name} needs {duration_label(g.notice_minutes)} notice; "
                    f"its earliest start is {when_label(g, earliest)}"
                )
        if problems:
            raise ValidationError([FieldError("starts_at", p) for p in problems])
        host_work = await Activity.filter(
            machine_id=host.id, kind=ActivityKind.HOST_REBOOT, state="queued", window_id=None
        ).using_db(conn)
        if not host_work:
            host_work = [
                await Activity.create(
                    machine=host,
                    kind=ActivityKind.HOST_REBOOT,
                    estimate_minutes=KINDS[ActivityKind.HOST_REBOOT].default_estimate,
                    requested_by=actor,
                    using_db=conn,
                )
            ]
        minutes = needed_minutes(work_of(host_work), settings.reboot_allowance_minutes)
        end = start + timedelta(minutes=minutes)
        windows: list[Window] = []
        per_group: dict[int, list[Window]] = defaultdict(list)
        for m in machines:
            g = groups[m.group_id]
            if m is host:
                work = list(host_work)
            else:
                work = [
                    await Activity.create(
                        machine=m,
                        kind=ActivityKind.REBOOT,
                        estimate_minutes=minutes,
                        params={FOR_HOST_REBOOT: host.name, REBOOT_FLAG: True},
                        requested_by=actor,
                        using_db=conn,
                    )
                ]
            reason = host_reboot_reason(g.timezone, g.notice_minutes, start, m is host)
            window = await Window.create(
                machine=m,
                starts_at=start,
                ends_at=end,
                reason=reason,
                forced=True,
                postpone_deadline=None,
                using_db=conn,
            )
            await _attach(conn, work, window)
            await audit.record(
                actor,
                "window.force_host_reboot",
                window,
                {"host": host.name, "machine": m.name, "starts_at": start, "ends_at": end},
                connection=conn,
            )
            windows.append(window)
            per_group[g.id].append(window)
        due = datetime.now(UTC)
        for group_id, wins in sorted(per_group.items()):
            g = groups[group_id]
            booked = [NewWindow(w.id, w.uid, w.sequence, w.reason) for w in wins]
            for row in new_windows_notices(
                settings.digest_threshold, g.id, list(g.contacts), booked, due
            ):
                await save(row, conn)
        return windows
