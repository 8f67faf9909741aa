"""Maintenance windows -> iCalendar bytes (RFC 5545), a pure function of its arguments.

The writer is hand-rolled on purpose: it is a few string joins per event, several times faster
than building icalendar objects, and the tests parse every output with both ``icalendar`` and
``vobject``. Each VEVENT carries the MAINTNOTE properties of the network operators' maintenance
notification convention (BCOP "maintnote": X-MAINTNOTE-PROVIDER, -ACCOUNT, -MAINTENANCE-ID,
-OBJECT-ID, -IMPACT, -STATUS) so existing maintenance tooling can read the feed.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

from api.feeds.values import CalendarView, WindowView, impact, maintnote_status
from api.feeds.vtimezone import vtimezone_lines

__all__ = [
    "PRODID",
    "build_calendar",
    "escape_text",
    "event_description",
    "fold",
    "format_local",
]

PRODID = "-//fenster//maintenance directory//EN"
_DAY = timedelta(days=1)


def escape_text(value: str) -> str:
    """RFC 5545 3.3.11 TEXT escaping."""
    return (
        value.replace("\\", "\\\\")
        .replace(";", "\\;")
        .replace(",", "\\,")
        .replace("\r\n", "\\n")
        .replace("\r", "\\n")
        .replace("\n", "\\n")
    )


def _param(value: str) -> str:
    """A parameter value, quoted when it holds ':', ';' or ','; DQUOTE cannot be carried."""
    value = value.replace('"', "'")
    return f'"{value}"' if any(c in value for c in ":;,") else value


def fold(line: str) -> str:
    """Fold a content line at 75 octets without splitting a UTF-8 sequence (RFC 5545 3.1)."""
    if len(line) <= 75 and line.isascii():
        return line
    data = line.encode()
    if len(data) <= 75:
        return line
    parts: list[str] = []
    start, limit = 0, 75
    while start < len(data):
        end = min(start + limit, len(data))
        while end < len(data) and (data[end] & 0xC0) == 0x80:  # inside a multi-byte char
            end -= 1
        parts.append(data[start:end].decode())
        start, limit = end, 74  # continuation lines begin with one space
    return "\r\n ".join(parts)


def _basic(value: datetime) -> str:
    """'20261201T020000' (RFC 5545 basic format) of ``value``'s wall clock; no strftime,
    which is slower and follows the C locale."""
    return value.isoformat()[:19].replace("-", "").replace(":", "")


def _utc(value: datetime) -> str:
    return _basic(value.astimezone(UTC)) + "Z"


def _when(name: str, value: datetime, zone: ZoneInfo, tzid: str) -> str:
    """``DTSTART;TZID=Europe/Berlin:20261201T020000``; UTC for the repeated fall-back hour.

    A local time in the hour that happens twice means its first occurrence (RFC 5545 3.3.5),
    so an instant in the second occurrence can only be written in UTC.
    """
    local = value.astimezone(zone)
    if local.fold:
        return f"{name}:{_utc(value)}"
    return f"{name};TZID={tzid}:{_basic(local)}"


_DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_MONTHS = ("", "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def format_local(value: datetime, tzid: str | ZoneInfo) -> str:
    """'Mon 30 Nov 2026 22:00 CET' in the zone ``tzid`` (English names whatever the locale)."""
    t = value.astimezone(tzid if isinstance(tzid, ZoneInfo) else _zone(tzid))
    return (
        f"{_DAYS[t.weekday()]} {t.day:02d} {_MONTHS[t.month]} {t.year} "
        f"{t.hour:02d}:{t.minute:02d} {t.tzname()}"
    )


def event_description(window: WindowView, zone: ZoneInfo | None = None) -> str:
    """Plain text for DESCRIPTION: activities with estimates, downtime, reason, state."""
    zone = zone or _zone(window.timezone)
    start, end = window.starts_at.astimezone(UTC), window.ends_at.astimezone(UTC)
    lines = [
        f"Machine: {window.machine} ({window.machine_kind}), group {window.group}",
        f"Window: {format_local(start, zone)} to {format_local(end, zone)} "
        f"({start.isoformat(' ')[:16]}-{end.isoformat()[11:16]} UTC)",
    ]
    if window.activities:
        lines.append("Activities:")
        for a in window.activities:
            extra = f", {a.detail}" if a.detail else ""
            reboot = ", restarts the machine" if a.needs_reboot else ""
            done = ""
            if a.state in {"done", "failed", "cancelled"}:
                done = f" [{a.state}: {a.outcome}]" if a.outcome else f" [{a.state}]"
            lines.append(f"- {a.label}{extra}: about {a.estimate_minutes} min{reboot}{done}")
        lines.append(f"Expected downtime: up to {window.downtime_minutes} min")
    if window.reason:
        lines.append(f"Why this slot: {window.reason}")
    if window.state == "cancelled":
        lines.append("This window was cancelled.")
    elif window.state in {"completed", "failed"}:
        lines.append(f"Result: {window.state}.")
    return "\n".join(lines)


def _event(window: WindowView, tail: str, stamp: str | None) -> str:
    """One VEVENT, folded, CRLF-joined; ``tail`` is the calendar-wide ORGANIZER/PROVIDER part.

    Only lines whose length depends on data are folded: this runs a thousand times a feed.
    """
    zone = _zone(window.timezone)
    tzid = _param(window.timezone)
    changed = _utc(window.updated_at)
    uid = escape_text(window.uid)
    level = impact(window)
    lines = [
        "BEGIN:VEVENT",
        fold(f"UID:{uid}"),
        f"DTSTAMP:{stamp or changed}",
        fold(_when("DTSTART", window.starts_at, zone, tzid)),
        fold(_when("DTEND", window.ends_at, zone, tzid)),
        f"SEQUENCE:{window.sequence}",
        "STATUS:CANCELLED" if window.state == "cancelled" else "STATUS:CONFIRMED",
        fold(f"SUMMARY:{escape_text(window.summary)}"),
        fold(f"DESCRIPTION:{escape_text(event_description(window, zone))}"),
        "TRANSP:OPAQUE",
        f"CREATED:{_utc(window.created_at)}",
        f"LAST-MODIFIED:{changed}",
    ]
    if window.url:
        lines.append(fold(f"URL;VALUE=URI:{window.url}"))
    lines.append(tail)
    lines.append(fold(f"X-MAINTNOTE-ACCOUNT:{escape_text(window.group)}"))
    lines.append(fold(f"X-MAINTNOTE-MAINTENANCE-ID:{uid}"))
    lines.append(
        fold(
            f"X-MAINTNOTE-OBJECT-ID;X-MAINTNOTE-OBJECT-IMPACT={level}:{escape_text(window.machine)}"
        )
    )
    lines.append(f"X-MAINTNOTE-IMPACT:{level}")
    lines.append(f"X-MAINTNOTE-STATUS:{maintnote_status(window.state)}")
    lines.append("END:VEVENT")
    return "\r\n".join(lines)


@lru_cache(maxsize=64)
def _zone(tzid: str) -> ZoneInfo:
    return ZoneInfo(tzid)


def _timezones(windows: Sequence[WindowView]) -> list[str]:
    """One VTIMEZONE per zone in use, covering its events' span widened to whole years."""
    spans: dict[str, tuple[int, int]] = {}
    for w in windows:
        # a day either side covers any UTC offset, so local dates near New Year are inside
        lo, hi = (w.starts_at - _DAY).year, (w.ends_at + _DAY).year
        if w.timezone in spans:
            a, b = spans[w.timezone]
            lo, hi = min(a, lo), max(b, hi)
        spans[w.timezone] = (lo, hi)
    lines: list[str] = []
    for tzid in sorted(spans):
        lines += vtimezone_lines(tzid, *spans[tzid])
    return lines


def build_calendar(
    cal: CalendarView,
    windows: Sequence[WindowView],
    *,
    method: str | None = None,
    stamp: datetime | None = None,
) -> bytes:
    """A VCALENDAR with one VEVENT per window and a VTIMEZONE for every zone they use.

    ``method`` ("PUBLISH" for mail attachments) is left out for subscribed feeds. ``stamp`` is
    DTSTAMP for every event (the time a message is made); without it each event's DTSTAMP is
    its last change, so a feed is a pure function of the stored windows and caches well.
    """
    refresh = (
        f"PT{cal.refresh_minutes // 60}H"
        if cal.refresh_minutes % 60 == 0
        else (f"PT{cal.refresh_minutes}M")
    )
    head = [
        "BEGIN:VCALENDAR",
        f"PRODID:{PRODID}",
        "VERSION:2.0",
        "CALSCALE:GREGORIAN",
    ]
    if method:
        head.append(f"METHOD:{method}")
    head += [
        f"NAME:{escape_text(cal.name)}",
        f"X-WR-CALNAME:{escape_text(cal.name)}",
        f"X-WR-TIMEZONE:{cal.timezone}",
    ]
    if cal.description:
        head.append(f"X-WR-CALDESC:{escape_text(cal.description)}")
        head.append(f"DESCRIPTION:{escape_text(cal.description)}")
    head += [
        f"REFRESH-INTERVAL;VALUE=DURATION:{refresh}",
        f"X-PUBLISHED-TTL:{refresh}",
    ]
    tail = [fold(f"X-MAINTNOTE-PROVIDER:{escape_text(cal.provider)}")]
    if cal.organizer:
        tail.insert(0, fold(f"ORGANIZER;CN={_param(cal.provider)}:mailto:{cal.organizer}"))
    tail_text = "\r\n".join(tail)
    stamp_text = _utc(stamp) if stamp else None
    parts = [fold(line) for line in head + _timezones(windows)]
    parts += [_event(w, tail_text, stamp_text) for w in windows]
    parts.append("END:VCALENDAR\r\n")
    return "\r\n".join(parts).encode()
