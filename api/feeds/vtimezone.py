"""VTIMEZONE components computed from the IANA database (zoneinfo), per RFC 5545 3.6.5.

Why not ``icalendar.Timezone.from_tzinfo``: icalendar 7.3 writes the DTSTART of a
spring-forward observance in the *new* offset's wall time (Europe/Berlin 2027: 03:00 instead
of 02:00), while RFC 5545 counts it in the prior offset (TZOFFSETFROM); strict readers such as
vobject then put the hour after the change in the wrong offset. Here each observance starts at
the exact transition instant written in local time of the offset before it.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

__all__ = ["transitions", "vtimezone_lines"]

_STEP = timedelta(hours=6)  # no zone changes its offset twice within six hours


def _offset(zone: ZoneInfo, instant: datetime) -> timedelta:
    offset = instant.astimezone(zone).utcoffset()
    assert offset is not None
    return offset


def transitions(
    zone: ZoneInfo, start: datetime, end: datetime
) -> list[tuple[datetime, timedelta, timedelta]]:
    """(UTC instant, offset before, offset after) for every offset change in [start, end)."""
    found: list[tuple[datetime, timedelta, timedelta]] = []
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
            found.append((hi, before, after))
            before = after
        t = nxt
    return found


def _hhmm(offset: timedelta) -> str:
    sign = "-" if offset < timedelta(0) else "+"
    seconds = int(abs(offset).total_seconds())
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{sign}{hours:02d}{minutes:02d}" + (f"{secs:02d}" if secs else "")


def _observance(
    zone: ZoneInfo, instant: datetime, before: timedelta, after: timedelta
) -> list[str]:
    local = instant.astimezone(zone)
    kind = "DAYLIGHT" if local.dst() else "STANDARD"
    onset = (instant + before).replace(tzinfo=None)
    return [
        f"BEGIN:{kind}",
        f"DTSTART:{onset:%Y%m%dT%H%M%S}",
        f"TZNAME:{local.tzname()}",
        f"TZOFFSETFROM:{_hhmm(before)}",
        f"TZOFFSETTO:{_hhmm(after)}",
        f"END:{kind}",
    ]


@lru_cache(maxsize=256)
def vtimezone_lines(tzid: str, first_year: int, last_year: int) -> tuple[str, ...]:
    """The VTIMEZONE for ``tzid`` valid from 1 January ``first_year`` to the end of ``last_year``.

    Callers widen an event span to whole years, which keeps output stable and the cache small.
    """
    zone = ZoneInfo(tzid)
    start = datetime(first_year, 1, 1, tzinfo=UTC)
    end = datetime(last_year + 1, 1, 1, tzinfo=UTC)
    first = _offset(zone, start)
    lines = ["BEGIN:VTIMEZONE", f"TZID:{tzid}"]
    lines += _observance(zone, start, first, first)
    for instant, before, after in transitions(zone, start, end):
        lines += _observance(zone, instant, before, after)
    lines.append("END:VTIMEZONE")
    return tuple(lines)
