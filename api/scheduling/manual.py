"""Rules for the hand-made operations (schedule at a start, a forced host reboot, cancel,
postpone), on plain values.

Each check returns the problems it found as sentences; each decision returns what to do or
``Refused`` with every problem found. The services (``api.services.window_ops``,
``api.services.postponing``) load a slice of the world, ask here, and apply the answer.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from api.scheduling.occurrences import Occurrence, Policy, occurrence, zone
from api.scheduling.slots import Conflict
from api.scheduling.texts import day_label, duration_label, local_label, who

__all__ = [
    "OPERATOR_REACH_DAYS",
    "POSTPONE_DEADLINE_DAYS",
    "GroupNotice",
    "Reach",
    "Refused",
    "StartDecision",
    "StartRequest",
    "check_postpone",
    "check_start",
    "containing",
    "decide_start",
    "host_reboot_problems",
    "postpone_deadline",
    "reach",
    "reduced_reason",
    "when",
]

POSTPONE_DEADLINE_DAYS = 30
# How far ahead an operator may set an instant (a forced window, a not-before time, a freeze).
OPERATOR_REACH_DAYS = 2 * 365


@dataclass(frozen=True)
class Reach:
    """The instants a client may give for scheduling: from ``earliest`` up to ``latest``."""

    earliest: datetime
    latest: datetime
    why: str

    def problem(self, instant: datetime) -> str | None:
        if self.earliest <= instant <= self.latest:
            return None
        if instant < self.earliest:
            return f"must not lie in the past (before {self.earliest:%Y-%m-%d %H:%M} UTC)"
        return f"must lie before {self.latest:%Y-%m-%d %H:%M} UTC ({self.why})"


def reach(now: datetime, *, by_customer: bool, horizon_days: int) -> Reach:
    """Customers reach as far as the scheduler plans (its horizon); operators two years.

    Each bound keeps the work a request causes in proportion: a window in the year 8999 made
    the group's calendar feed cover seven millennia of timezone transitions."""
    if by_customer:
        days, why = horizon_days, f"the planning horizon of {horizon_days} days"
    else:
        days, why = OPERATOR_REACH_DAYS, f"at most {OPERATOR_REACH_DAYS} days ahead"
    return Reach(now, now + timedelta(days=days), why)


def containing(policy: Policy, start: datetime) -> Occurrence | None:
    """The regular window (on an allowed weekday) that ``start`` falls into, if any."""
    local = start.astimezone(zone(policy.timezone)).date()
    for day in (local - timedelta(days=1), local):
        if day.weekday() not in policy.weekdays:
            continue
        occ = occurrence(policy, day)
        if occ.starts_at <= start < occ.ends_at:
            return occ
    return None


def check_start(
    policy: Policy, notice_minutes: int, now: datetime, start: datetime, needed: int
) -> tuple[Occurrence | None, list[str]]:
    """May work of ``needed`` minutes start at ``start`` without forcing it?"""
    problems: list[str] = []
    tz = zone(policy.timezone)
    occ = containing(policy, start)
    when = f"{local_label(start.astimezone(tz))} {policy.timezone}"
    if occ is None:
        problems.append(f"{when} is outside the regular {policy.label} window")
    else:
        left = int((occ.ends_at - start).total_seconds() // 60)
        if needed > left:
            problems.append(f"needs {needed} min; only {left} min of that window remain at {when}")
    if start < now + timedelta(minutes=notice_minutes):
        problems.append(
            f"{when} is less than the group's notice of {duration_label(notice_minutes)} away"
            if notice_minutes
            else f"{when} is in the past"
        )
    return occ, problems


def postpone_deadline(requested_at: datetime) -> datetime:
    """Customers may not postpone work past its request time + 30 days."""
    return requested_at + timedelta(days=POSTPONE_DEADLINE_DAYS)


def check_postpone(
    *,
    by_customer: bool,
    postpones: int,
    max_postpones: int,
    target: Occurrence | None,
    deadline: datetime,
    policy: Policy,
) -> list[str]:
    """Problems with moving a window to ``target`` (the next occurrence that fits)."""
    problems: list[str] = []
    if target is None:
        problems.append(f"no later {policy.label} window within the planning horizon fits")
    if not by_customer:
        return problems
    if postpones >= max_postpones:
        problems.append(
            f"this window was already postponed {postpones} "
            f"{'time' if postpones == 1 else 'times'}; the group allows {max_postpones}"
        )
    if target is not None and target.starts_at > deadline:
        tz = zone(policy.timezone)
        problems.append(
            f"the next window that fits ({day_label(target.local_date)}) is past the postpone "
            f"deadline {local_label(deadline.astimezone(tz))} {policy.timezone}"
        )
    return problems


def when(timezone: str, instant: datetime) -> str:
    """``instant`` in words in ``timezone``, the zone named: "Thu 3 Dec 02:30 Europe/Berlin"."""
    return f"{local_label(instant.astimezone(zone(timezone)))} {timezone}"


@dataclass(frozen=True)
class Refused:
    """A request refused: every problem found, for one input field."""

    field: str
    problems: tuple[str, ...]


@dataclass(frozen=True)
class StartRequest:
    """Putting a machine's queued work (``needed`` minutes) into a window at ``start``."""

    policy: Policy
    notice_minutes: int
    now: datetime
    start: datetime
    needed: int
    not_before: datetime | None  # the latest not-before time of the work
    deadline: datetime  # the postpone deadline of the work
    by_customer: bool
    force: bool


@dataclass(frozen=True)
class StartDecision:
    ends_at: datetime
    forced: bool
    reason: str
    overridden: tuple[str, ...]  # the problems a forced start overrides, as the requester read


def _start_problems(req: StartRequest) -> tuple[datetime, list[str]]:
    """The window's end (the regular window's, or just the work's) and the problems."""
    tz = req.policy.timezone
    occ, problems = check_start(req.policy, req.notice_minutes, req.now, req.start, req.needed)
    if req.not_before is not None and req.start < req.not_before:
        problems.append(
            f"{when(tz, req.start)} is before the requested not-before time "
            f"{when(tz, req.not_before)}"
        )
    if req.by_customer and req.start > req.deadline:  # what postponing may not, this may not
        problems.append(
            f"{when(tz, req.start)} is past the postpone deadline {when(tz, req.deadline)}"
        )
    if occ is not None and not problems:
        return occ.ends_at, problems
    return req.start + timedelta(minutes=req.needed), problems


def decide_start(
    req: StartRequest, conflict: Callable[[datetime, datetime], Conflict | None]
) -> StartDecision | Refused:
    """May the work start at ``req.start``? Without ``force`` the start must lie in a regular
    window with room for the work, respect the notice, the not-before time, (customers) the
    postpone deadline, and ``conflict`` (host capacity, redundancy set, freezes) must find
    none. With ``force`` (operators) the problems are overridden and listed. Customers read a
    conflict without the host's name."""
    ends_at, problems = _start_problems(req)
    told = list(problems)
    clash = conflict(req.start, ends_at)
    if clash is not None:
        problems.append(clash.text)
        told.append(clash.text if req.by_customer else clash.for_operators)
    if problems and not req.force:
        return Refused("starts_at", tuple(told))
    label = when(req.policy.timezone, req.start)
    if problems:
        reason = f"forced by {who(False)} for {label}: " + "; ".join(problems)
    else:
        reason = (
            f"scheduled by {who(req.by_customer)} for {label}, inside the regular "
            f"{req.policy.label} window"
        )
    return StartDecision(ends_at, bool(problems), reason, tuple(told))


@dataclass(frozen=True)
class GroupNotice:
    """What a forced host reboot must respect of a group: its notice."""

    name: str
    timezone: str
    notice_minutes: int


def host_reboot_problems(
    groups: Sequence[GroupNotice], now: datetime, start: datetime
) -> list[str]:
    """A forced host reboot is still announced: ``start`` must be at least the notice of every
    affected group away (one problem per group that would be told too late, by name)."""
    problems = []
    for g in sorted(groups, key=lambda g: g.name):
        earliest = now + timedelta(minutes=g.notice_minutes)
        if start < earliest:
            problems.append(
                f"group {g.name} needs {duration_label(g.notice_minutes)} notice; "
                f"its earliest start is {when(g.timezone, earliest)}"
            )
    return problems


def reduced_reason(reason: str, kinds: Sequence[str], why: str) -> str:
    """A window's reason after some of its work was cancelled (the rest stays)."""
    names = ", ".join(sorted({k.replace("_", " ") for k in kinds}))
    return f"{reason}\n{names} cancelled ({why})"
