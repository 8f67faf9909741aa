"""Postponing a window: the slots it may move to, and the move itself.

Both read the same :class:`_Plan` (the window, its group's policy, the next free regular
windows after it) and ask the pure rules of ``api.scheduling.manual.check_postpone`` about
each target, so the slots a page offers are exactly the ones a postpone accepts.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.transactions import in_transaction

from api.errors import FieldError, ValidationError
from api.kinds import ActivityKind
from api.models import Activity, Machine, ResourceGroup, Window
from api.notices import WindowPostponed
from api.policy import limited_as_customer
from api.principal import Principal
from api.scheduling import Occurrence, Policy, check_postpone, dst_note, needed_minutes
from api.scheduling import postpone_deadline as deadline_of
from api.scheduling.slots import Skip
from api.scheduling.texts import day_label, who
from api.services import audit
from api.services.scheduling import lock
from api.services.window_base import (
    announce,
    group_policy,
    machine_in,
    slot_finder,
    when_label,
    work_of,
)
from api.settings import Settings, get_settings

__all__ = ["CHOICES", "PostponeChoice", "postpone", "postpone_choice"]

CHOICES = 5  # how many later windows a customer may pick from


@dataclass(frozen=True)
class PostponeChoice:
    """Where a customer may move a window now: ``slots`` (soonest first), or ``problems``
    saying why it cannot move at all."""

    window: Window
    group: ResourceGroup
    slots: tuple[Occurrence, ...]
    problems: tuple[str, ...]


@dataclass(frozen=True)
class _Plan:
    window: Window
    group: ResourceGroup
    policy: Policy
    free: list[Occurrence]  # the next free regular windows after this one, soonest first
    skips: list[Skip]  # occurrences passed over before the first free one
    deadline: datetime
    refusals: list[str]  # what forbids any move (state, forced, a host reboot)

    def problems(self, by_customer: bool, target: Occurrence | None) -> list[str]:
        return self.refusals or check_postpone(
            by_customer=by_customer,
            postpones=self.window.postpones,
            max_postpones=self.group.max_postpones,
            target=target,
            deadline=self.deadline,
            policy=self.policy,
        )


def _refusals(
    window: Window, machine: Machine, acts: list[Activity], by_customer: bool
) -> list[str]:
    if window.state != "planned":
        return [f"a {window.state} window cannot be postponed"]
    if by_customer and window.forced:
        return ["a forced window can only be moved by an operator"]
    for a in acts:  # the host's window and its VMs' windows only move together
        rebooting = machine.name if a.kind == ActivityKind.HOST_REBOOT else a.for_host_reboot_id
        if rebooting:
            return [
                "this window is part of a host reboot, which moves only as a whole: "
                "cancel its activities and force a new host reboot"
            ]
    return []


async def _plan(
    conn: BaseDBAsyncClient,
    window: Window,
    *,
    by_customer: bool,
    count: int,
    now: datetime,
    settings: Settings,
) -> _Plan:
    machine = await Machine.get(id=window.machine_id, using_db=conn)
    group = await ResourceGroup.get(id=machine.group_id, using_db=conn)
    acts = await Activity.filter(window_id=window.id, state="scheduled").using_db(conn)
    policy = group_policy(group)
    deadline = window.postpone_deadline or deadline_of(
        min((a.requested_at for a in acts), default=window.created_at)
    )
    refusals = _refusals(window, machine, acts, by_customer)
    free: list[Occurrence] = []
    skips: list[Skip] = []
    if not refusals:
        needed = needed_minutes(work_of(acts), settings.reboot_allowance_minutes)
        finder = await slot_finder(conn, machine, skip_window=window.id)
        earliest = max(window.ends_at, now)
        until = now + timedelta(days=settings.horizon_days)
        while len(free) < count:
            target, passed = finder.find(machine_in(machine), policy, needed, earliest, until)
            if not free:
                skips = passed
            if target is None:
                break
            free.append(target)
            earliest = target.starts_at + timedelta(seconds=1)
    return _Plan(window, group, policy, free, skips, deadline, refusals)


async def postpone_choice(
    window: Window, *, now: datetime | None = None, settings: Settings | None = None
) -> PostponeChoice:
    """The later windows a customer may move ``window`` to now, or why it cannot move."""
    settings = settings or get_settings()
    now = now or datetime.now(UTC)
    async with in_transaction() as conn:
        window = await Window.get(id=window.id, using_db=conn)
        plan = await _plan(
            conn, window, by_customer=True, count=CHOICES, now=now, settings=settings
        )
    slots = tuple(o for o in plan.free if not plan.problems(True, o))
    problems = () if slots else tuple(plan.problems(True, plan.free[0] if plan.free else None))
    return PostponeChoice(plan.window, plan.group, slots, problems)


def _target(plan: _Plan, to: datetime | None) -> tuple[Occurrence | None, list[str]]:
    """The chosen occurrence (the first free one without ``to``) and the notes for its reason."""
    if to is None:
        target = plan.free[0] if plan.free else None
        notes = [
            f"{day_label(s.occurrence.local_date)} skipped: {s.conflict.text}" for s in plan.skips
        ]
        return target, notes[:3]
    for occ in plan.free:
        if occ.starts_at == to:
            return occ, []
    raise ValidationError.single(
        "starts_at",
        f"{when_label(plan.group, to)} is not one of the next {len(plan.free) or CHOICES} free "
        f"{plan.policy.label} windows of this machine",
    )


async def postpone(
    caller: Principal,
    window: Window,
    *,
    to: datetime | None = None,
    sequence: int | None = None,
    now: datetime | None = None,
    settings: Settings | None = None,
) -> Window:
    """Move a planned window to the next regular window that fits after it, or to ``to``
    (one of the next :data:`CHOICES` free ones that :func:`postpone_choice` offers).

    Customers may postpone a window at most ``max_postpones`` times and not past its deadline
    (first request + 30 days); operators are bound by neither. With ``sequence`` the window
    must still be at that revision (a link mailed about it).
    """
    actor, by_customer = caller.actor, limited_as_customer(caller)
    settings = settings or get_settings()
    now = now or datetime.now(UTC)
    async with in_transaction() as conn:
        await lock(conn)
        window = await Window.filter(id=window.id).using_db(conn).select_for_update().get()
        if sequence is not None and window.sequence != sequence:
            raise ValidationError.single(
                "sequence",
                f"the window changed after revision {sequence} (it is at {window.sequence} now)",
            )
        count = 1 if to is None else CHOICES
        plan = await _plan(
            conn, window, by_customer=by_customer, count=count, now=now, settings=settings
        )
        if plan.refusals:
            raise ValidationError([FieldError("window", p) for p in plan.refusals])
        target, notes = _target(plan, to)
        problems = plan.problems(by_customer, target)
        if problems or target is None:
            raise ValidationError([FieldError("window", p) for p in problems])
        return await _move(
            conn, actor, plan, target, notes, by_customer=by_customer, chosen=bool(to)
        )


async def _move(
    conn: BaseDBAsyncClient,
    actor: str,
    plan: _Plan,
    target: Occurrence,
    notes: list[str],
    *,
    by_customer: bool,
    chosen: bool,
) -> Window:
    window, group, policy = plan.window, plan.group, plan.policy
    previous = window.starts_at
    to = (
        f"the {policy.label} window of {day_label(target.local_date)}, which they chose"
        if chosen
        else f"the next {policy.label} window that fits"
    )
    dst = dst_note(policy, target)
    window.reason = "; ".join(
        [
            f"postponed by {who(by_customer)} from {when_label(group, previous)} to {to}",
            *notes,
            *([dst] if dst else []),
        ]
    )
    window.starts_at, window.ends_at = target.starts_at, target.ends_at
    window.forced = False
    window.postpone_deadline = plan.deadline
    if by_customer:
        window.postpones += 1
    window.touch()
    await window.save(using_db=conn)
    await audit.record(
        actor,
        "window.postpone",
        window,
        {
            "from": previous,
            "to": window.starts_at,
            "by_customer": by_customer,
            "postpones": window.postpones,
        },
        connection=conn,
    )
    notice = WindowPostponed(window.sequence, window.reason, previous_starts_at=previous)
    await announce(conn, notice, group, window)
    return window
