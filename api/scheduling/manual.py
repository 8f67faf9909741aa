"""Rules for the hand-made operations (schedule at a start, postpone), on plain values.

Each check returns the problems it found as sentences; the service turns them into errors.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from api.scheduling.occurrences import Occurrence, Policy, occurrence, zone
from api.scheduling.texts import day_label, duration_label, local_label

__all__ = [
    "OPERATOR_REACH_DAYS",
    "POSTPONE_DEADLINE_DAYS",
    "Reach",
    "check_postpone",
    "check_start",
    "containing",
    "postpone_deadline",
    "reach",
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
