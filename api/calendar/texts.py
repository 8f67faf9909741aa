"""Times, durations and activities in words, for the feeds, the mail and the pages.

English names whatever the locale; a time is written in the zone it is given.
"""

from __future__ import annotations

from datetime import UTC, datetime
from functools import lru_cache
from zoneinfo import ZoneInfo

from api.calendar.values import ActivityView, WindowView

__all__ = [
    "activity_line",
    "duration_text",
    "format_local",
    "local_span",
    "span_text",
    "utc_span",
    "zone_of",
]


@lru_cache(maxsize=64)
def zone_of(tzid: str) -> ZoneInfo:
    return ZoneInfo(tzid)


_DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_MONTHS = ("", "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def format_local(value: datetime, tzid: str | ZoneInfo) -> str:
    """'Mon 30 Nov 2026 22:00 CET' in the zone ``tzid`` (English names whatever the locale)."""
    t = value.astimezone(tzid if isinstance(tzid, ZoneInfo) else zone_of(tzid))
    return (
        f"{_DAYS[t.weekday()]} {t.day:02d} {_MONTHS[t.month]} {t.year} "
        f"{t.hour:02d}:{t.minute:02d} {t.tzname()}"
    )


def duration_text(minutes: int) -> str:
    """1440 -> '1 day', 90 -> '1 hour 30 minutes', 10080 -> '7 days'."""
    if minutes <= 0:
        return "0 minutes"
    days, rest = divmod(minutes, 1440)
    hours, mins = divmod(rest, 60)
    out = []
    for n, unit in ((days, "day"), (hours, "hour"), (mins, "minute")):
        if n:
            out.append(f"{n} {unit}{'' if n == 1 else 's'}")
    return " ".join(out)


def utc_span(w: WindowView) -> str:
    s, e = w.starts_at.astimezone(UTC), w.ends_at.astimezone(UTC)
    end = f"{e:%H:%M}" if s.date() == e.date() else f"{e:%Y-%m-%d %H:%M}"
    return f"{s:%Y-%m-%d %H:%M} to {end} UTC"


def local_span(w: WindowView) -> str:
    start = format_local(w.starts_at, w.timezone)
    zone = ZoneInfo(w.timezone)
    ls, le = w.starts_at.astimezone(zone), w.ends_at.astimezone(zone)
    end = f"{le:%H:%M} {le.tzname()}" if ls.date() == le.date() else format_local(le, zone)
    return f"{start} to {end} ({w.timezone})"


def activity_line(a: ActivityView) -> str:
    extra = f" ({a.detail})" if a.detail else ""
    reboot = ", restarts the machine" if a.needs_reboot else ""
    return f"{a.label}{extra}: about {a.estimate_minutes} min{reboot}"


def span_text(start: datetime, end: datetime, tz: ZoneInfo | None) -> str:
    """'Tue 1 Dec 2026, 02:00 to 04:00 CET (Europe/Berlin)' (in UTC when ``tz`` is None)."""
    s, e = (start.astimezone(tz), end.astimezone(tz)) if tz else (start, end)
    first = f"{s:%a} {s.day} {s:%b %Y}, {s:%H:%M}"
    if s.tzname() != e.tzname():  # a clock change inside the window: say which side is which
        first += f" {s.tzname()}"
    last = f"{e:%H:%M}" if s.date() == e.date() else f"{e:%a} {e.day} {e:%b}, {e:%H:%M}"
    zone = f"{e.tzname()} ({tz.key})" if tz else "UTC"
    return f"{first} to {last} {zone}"
