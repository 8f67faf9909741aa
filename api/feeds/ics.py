"""Maintenance windows -> iCalendar bytes (RFC 5545), a pure function of its arguments.

The writer is hand-rolled on purpose: it is a few string joins per event, several times faster
than building icalendar objects, and the tests parse every output with both ``icalendar`` and
``vobject``. Each VEVENT carries the MAINTNOTE properties of the network operators' maintenance
notification convention (BCOP "maintnote": X-MAINTNOTE-PROVIDER, -ACCOUNT, -MAINTENANCE-ID,
-OBJECT-ID, -IMPACT, -STATUS) so existing maintenance tooling can read the feed.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta
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


def _utc(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")


def _when(name: str, value: datetime, zone: ZoneInfo, tzid: str) -> str:
    """``DTSTART;TZID=Europe/Berlin:20261201T020000``; UTC for the repeated fall-back hour.

    A local time in the hour that happens twice means its first occurrence (RFC 5545 3.3.5),
    so an instant in the second occurrence can only be written in UTC.
    """
    local = value.astimezone(zone)
    if local.fold:
        return f"{name}:{_utc(value)}"
    return f"{name};TZID={tzid}:{local:%Y%m%dT%H%M%S}"


def format_local(value: datetime, tzid: str) -> str:
    """'Mon 30 Nov 2026 22:00 CET' in the zone ``tzid``."""
    local = value.astimezone(ZoneInfo(tzid))
    return f"{local:%a %d %b %Y %H:%M} {local.tzname()}"


def event_description(window: WindowView) -> str:
    """Plain text for DESCRIPTION: activities with estimates, downtime, reason, state."""
    lines = [f"Machine: {window.machine} ({window.machine_kind}), group {window.group}"]
    lines.append(
        f"Window: {format_local(window.starts_at, window.timezone)} to "
        f"{format_local(window.ends_at, window.timezone)} "
        f"({window.starts_at.astimezone(UTC):%Y-%m-%d %H:%M}-"
        f"{window.ends_at.astimezone(UTC):%H:%M} UTC)"
    )
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


def _event(window: WindowView, cal: CalendarView, stamp: datetime | None) -> Iterable[str]:
    zone = ZoneInfo(window.timezone)
    tzid = _param(window.timezone)
    cancelled = window.state == "cancelled"
    yield "BEGIN:VEVENT"
    yield f"UID:{escape_text(window.uid)}"
    yield f"DTSTAMP:{_utc(stamp or window.updated_at)}"
    yield _when("DTSTART", window.starts_at, zone, tzid)
    yield _when("DTEND", window.ends_at, zone, tzid)
    yield f"SEQUENCE:{window.sequence}"
    yield f"STATUS:{'CANCELLED' if cancelled else 'CONFIRMED'}"
    yield f"SUMMARY:{escape_text(window.summary)}"
    yield f"DESCRIPTION:{escape_text(event_description(window))}"
    yield "TRANSP:OPAQUE"
    yield f"CREATED:{_utc(window.created_at)}"
    yield f"LAST-MODIFIED:{_utc(window.updated_at)}"
    if window.url:
        yield f"URL;VALUE=URI:{window.url}"
    if cal.organizer:
        yield f"ORGANIZER;CN={_param(cal.provider)}:mailto:{cal.organizer}"
    yield f"X-MAINTNOTE-PROVIDER:{escape_text(cal.provider)}"
    yield f"X-MAINTNOTE-ACCOUNT:{escape_text(window.group)}"
    yield f"X-MAINTNOTE-MAINTENANCE-ID:{escape_text(window.uid)}"
    level = impact(window)
    yield f"X-MAINTNOTE-OBJECT-ID;X-MAINTNOTE-OBJECT-IMPACT={level}:{escape_text(window.machine)}"
    yield f"X-MAINTNOTE-IMPACT:{level}"
    yield f"X-MAINTNOTE-STATUS:{maintnote_status(window.state)}"
    yield "END:VEVENT"


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
    lines = head + _timezones(windows)
    for window in windows:
        lines.extend(_event(window, cal, stamp))
    lines.append("END:VCALENDAR")
    return ("\r\n".join(fold(line) for line in lines) + "\r\n").encode()
