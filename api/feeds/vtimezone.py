"""VTIMEZONE components computed from the IANA database (zoneinfo), per RFC 5545 3.6.5,
emitted as icalendar components.

Why not ``icalendar.Timezone.from_tzinfo`` (checked with icalendar 7.3.2, the newest 7.x):

- it writes the DTSTART of a spring-forward observance in the *new* offset's wall time
  (Europe/Berlin 2027: 03:00 instead of 02:00), while RFC 5545 counts it in the prior offset
  (TZOFFSETFROM); strict readers such as vobject then put the hour after the change in the
  wrong offset;
- its first observance starts on ``first_date`` with TZOFFSETFROM equal to TZOFFSETTO
  (Lord Howe 2027: ``+1100 -> +1100``), and dateutil's reader (vobject's) then turns UTC into
  local time wrongly in the repeated hour before that year's first fall-back.

Here each observance starts at the exact transition instant written in local time of the
offset before it, and the first one is the real transition in force at the start of the span.
The reproduction is in docs/architecture.md ("VTIMEZONE").

Cost: a VTIMEZONE covers only the calendar years its events touch (plus the transition in
force when each run of years begins), each year's transitions are computed once per process
(:func:`year_transitions`), and a whole component is cached per zone and set of years. An
event in year 8999 next to events in 2026 costs two more years, not seven thousand.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

from icalendar import Timezone, TimezoneDaylight, TimezoneStandard

__all__ = ["Transition", "span_years", "transitions", "vtimezone", "year_transitions"]

_STEP = timedelta(hours=6)  # no zone changes its offset twice within six hours
_DAY = timedelta(days=1)

Transition = tuple[datetime, timedelta, timedelta]  # (UTC instant, offset before, after)


def _offset(zone: ZoneInfo, instant: datetime) -> timedelta:
    offset = instant.astimezone(zone).utcoffset()
    assert offset is not None
    return offset


def transitions(zone: ZoneInfo, start: datetime, end: datetime) -> list[Transition]:
    """(UTC instant, offset before, offset after) for every offset change in [start, end)."""
    found: list[Transition] = []
    t = start
    before = _offset(zone, t)
    while t < end:
        nxt = t + _STEP
        after = _offset(zone, nxt)
        if after != before:
            lo, hi = t, nxt
            while hi - lo > timedelta(seconds=1):
                mid = lo + (hi - lo) / 2
                if _offset(zone, mid) == before:
                    lo = mid
                else:
                    hi = mid
            hi = hi.replace(microsecond=0)
            if hi < end:
                found.append((hi, before, after))
            before = after
        t = nxt
    return found


@lru_cache(maxsize=4096)
def year_transitions(tzid: str, year: int) -> tuple[Transition, ...]:
    """The offset changes of ``tzid`` in the UTC calendar year ``year`` (computed once)."""
    start = datetime(year, 1, 1, tzinfo=UTC)
    end = datetime(year + 1, 1, 1, tzinfo=UTC) if year < 9999 else datetime.max.replace(tzinfo=UTC)
    return tuple(transitions(ZoneInfo(tzid), start, end))


def span_years(spans: Iterable[tuple[datetime, datetime]]) -> tuple[int, ...]:
    """The UTC years a VTIMEZONE must cover for events spanning ``spans`` (start, end).

    A day either side covers any UTC offset, so local dates near New Year are inside.
    """
    years: set[int] = set()
    for start, end in spans:
        lo = start - _DAY if start.year > 1 else start
        hi = end + _DAY if end.year < 9999 else end
        years.update(range(lo.year, hi.year + 1))
    return tuple(sorted(years))


def _runs(years: tuple[int, ...]) -> list[tuple[int, int]]:
    """(first, last) of each run of consecutive years."""
    runs: list[tuple[int, int]] = []
    for year in years:
        if runs and runs[-1][1] == year - 1:
            runs[-1] = (runs[-1][0], year)
        else:
            runs.append((year, year))
    return runs


def _observance(zone: ZoneInfo, change: Transition) -> TimezoneStandard | TimezoneDaylight:
    instant, before, after = change
    local = instant.astimezone(zone)
    part = TimezoneDaylight() if local.dst() else TimezoneStandard()
    # RFC 5545: the onset is local time in the offset before it (TZOFFSETFROM)
    part.add("dtstart", (instant + before).replace(tzinfo=None))
    part.add("tzname", local.tzname())
    part.add("tzoffsetfrom", before)
    part.add("tzoffsetto", after)
    return part


def _leading(tzid: str, zone: ZoneInfo, first: int) -> Transition:
    """The change in force on 1 January ``first``: the last one of the year before, or, for a
    zone that did not change then, 1 January itself (the offset before it is the same)."""
    if first > 1:
        earlier = year_transitions(tzid, first - 1)
        if earlier:
            return earlier[-1]
    start = datetime(first, 1, 1, tzinfo=UTC)
    offset = _offset(zone, start)
    return (start, offset, offset)


@lru_cache(maxsize=256)
def vtimezone(tzid: str, years: tuple[int, ...]) -> Timezone:
    """The VTIMEZONE for ``tzid`` valid in every UTC year of ``years`` (sorted, non-empty).

    Shared between calendars: callers add it to a calendar and never change it.
    """
    zone = ZoneInfo(tzid)
    component = Timezone()
    component.add("tzid", tzid)
    for first, last in _runs(years):
        component.add_component(_observance(zone, _leading(tzid, zone, first)))
        for year in range(first, last + 1):
            for change in year_transitions(tzid, year):
                component.add_component(_observance(zone, change))
    return component
