"""A group's daily maintenance window, resolved into real (UTC) occurrences.

A window on local date D starts at D + ``window_start`` in the group's zone and lasts
``window_minutes`` of real time. A start inside a spring-forward gap moves to the first instant
after the gap; an ambiguous start (fall-back) takes the first of its two instants.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

__all__ = ["Occurrence", "Policy", "occurrence", "occurrences", "resolve_local", "zone"]

ALL_DAYS = (0, 1, 2, 3, 4, 5, 6)


@lru_cache(maxsize=1024)
def zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)


@dataclass(frozen=True, slots=True)
class Policy:
    """The part of a resource group that decides when its windows are."""

    timezone: str
    window_start: time
    window_minutes: int
    weekdays: tuple[int, ...] = ALL_DAYS

    @property
    def label(self) -> str:
        """'02:00-04:00 Europe/Berlin': the nominal local start and end."""
        start = self.window_start.hour * 60 + self.window_start.minute
        end = (start + self.window_minutes) % 1440
        return f"{start // 60:02d}:{start % 60:02d}-{end // 60:02d}:{end % 60:02d} {self.timezone}"


@dataclass(frozen=True, slots=True)
class Occurrence:
    """One regular window: local date, real UTC start and end, and what DST did to it."""

    local_date: date
    starts_at: datetime  # UTC
    ends_at: datetime  # UTC
    local_start: datetime  # aware, in the group's zone
    local_end: datetime
    start_moved: bool  # the nominal start fell into a spring-forward gap
    wall_minutes: int  # local wall-clock span (local end minus local start, as read on a clock)
    minutes: int  # real length (always the policy's window_minutes)
    start_ts: int  # starts_at and ends_at as epoch seconds (for the ledger)
    end_ts: int

    @property
    def clock_shift(self) -> int:
        """Minutes the wall clock span differs from the real length (+ longer, - shorter)."""
        return self.wall_minutes - self.minutes


def _wall(dt: datetime) -> datetime:
    return dt.replace(tzinfo=None, fold=0)


def resolve_local(local: datetime, tz: ZoneInfo) -> tuple[datetime, bool]:
    """UTC instant of naive local wall time ``local``; True when it fell into a gap.

    Ambiguous wall times take the first instant; wall times in a gap move to the first instant
    after the gap (the transition itself).
    """
    first = local.replace(tzinfo=tz, fold=0).astimezone(UTC)
    if _wall(first.astimezone(tz)) == local:
        return first, False
    other = local.replace(tzinfo=tz, fold=1).astimezone(UTC)
    lo, hi = min(first, other), max(first, other)
    # Binary search (whole seconds) for the first instant whose wall clock reads >= local.
    lo_s, hi_s = int(lo.timestamp()), int(hi.timestamp())
    while lo_s < hi_s:
        mid = (lo_s + hi_s) // 2
        if _wall(datetime.fromtimestamp(mid, UTC).astimezone(tz)) >= local:
            hi_s = mid
        else:
            lo_s = mid + 1
    return datetime.fromtimestamp(lo_s, UTC), True


@lru_cache(maxsize=200_000)
def occurrence(policy: Policy, day: date) -> Occurrence:
    """The window of ``policy`` on local date ``day`` (weekday not checked)."""
    tz = zone(policy.timezone)
    nominal = datetime.combine(day, policy.window_start)
    start, moved = resolve_local(nominal, tz)
    end = start + timedelta(minutes=policy.window_minutes)
    local_start = start.astimezone(tz)
    local_end = end.astimezone(tz)
    wall = int((_wall(local_end) - _wall(local_start)).total_seconds() // 60)
    return Occurrence(
        day,
        start,
        end,
        local_start,
        local_end,
        moved,
        wall,
        policy.window_minutes,
        int(start.timestamp()),
        int(end.timestamp()),
    )


def occurrences(policy: Policy, after: datetime, until: datetime) -> Iterator[Occurrence]:
    """Occurrences on allowed weekdays starting at or after ``after`` and before ``until``."""
    if not policy.weekdays:
        return
    tz = zone(policy.timezone)
    day = after.astimezone(tz).date() - timedelta(days=1)
    last = until.astimezone(tz).date() + timedelta(days=1)
    allowed = set(policy.weekdays)
    one = timedelta(days=1)
    while day <= last:
        if day.weekday() in allowed:
            occ = occurrence(policy, day)
            if occ.starts_at >= until:
                return
            if occ.starts_at >= after:
                yield occ
        day += one
