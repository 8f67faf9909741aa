"""Maintenance windows (and rollouts' system updates) -> iCalendar bytes (RFC 5545), a pure
function of its arguments.

Built with icalendar's component model (Calendar, Event, Timezone: it escapes, quotes
parameters and folds). The VTIMEZONE observances are our own (see ``api.feeds.vtimezone``
for why). The tests read every output with icalendar, vobject, Home Assistant's ``ical``,
khal, and icalendar 5 through circuit-maintenance-parser. Each VEVENT carries the MAINTNOTE
properties of the network operators' maintenance notification convention (BCOP "maintnote":
X-MAINTNOTE-PROVIDER, -ACCOUNT, -MAINTENANCE-ID, -OBJECT-ID, -IMPACT, -STATUS) so existing
maintenance tooling can read the feed.

One instant, one reading: a start or end whose local time happens twice (the repeated hour
of a fall-back, half an hour at Lord Howe) is written in UTC, and so is the other end of the
same event. RFC 5545 reads a local time in the repeated hour as its first occurrence, but
icalendar 5, circuit-maintenance-parser and khal 0.14 take the second.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

from icalendar import Calendar, Event
from icalendar.prop import vCalAddress, vDDDTypes, vDuration, vInt, vText, vUri

from api.calendar.texts import format_local, zone_of
from api.calendar.values import (
    CalendarView,
    SystemUpdateView,
    WindowView,
    impact,
    maintnote_status,
    update_status,
)
from api.feeds.vtimezone import span_years, vtimezone

__all__ = [
    "PRODID",
    "build_calendar",
    "event_description",
    "update_description",
]

PRODID = "-//fenster//maintenance directory//EN"


def _ambiguous(local: datetime) -> bool:
    """Whether this wall-clock time happens twice in its zone (an instant read from UTC is
    never in a gap, so a different offset for the other fold means a repeated time)."""
    return local.replace(fold=1 - local.fold).utcoffset() != local.utcoffset()


def _instants(window: WindowView | SystemUpdateView, zone: ZoneInfo) -> tuple[vDDDTypes, vDDDTypes]:
    """DTSTART and DTEND: local time with TZID, or both in UTC when either is ambiguous."""
    start, end = window.starts_at.astimezone(zone), window.ends_at.astimezone(zone)
    if _ambiguous(start) or _ambiguous(end):
        start, end = window.starts_at.astimezone(UTC), window.ends_at.astimezone(UTC)
    return vDDDTypes(start), vDDDTypes(end)


def event_description(window: WindowView, zone: ZoneInfo | None = None) -> str:
    """Plain text for DESCRIPTION: activities with estimates, downtime, reason, state."""
    zone = zone or zone_of(window.timezone)
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


def update_description(update: SystemUpdateView, zone: ZoneInfo | None = None) -> str:
    """Plain text for a system update's DESCRIPTION: what, when, no downtime, what follows."""
    zone = zone or zone_of(update.timezone)
    start = update.starts_at.astimezone(UTC)
    detail = f" ({update.detail})" if update.detail else ""
    lines = [
        f"Machine: {update.machine} ({update.machine_kind}), group {update.group}",
        f"System update{detail} of rollout {update.rollout_title}",
        f"Starts: {format_local(start, zone)} ({start.isoformat(' ')[:16]} UTC), "
        f"about {update.estimate_minutes} min",
        "Applied in place while the machine runs: no downtime expected.",
    ]
    if update.activation_at is not None:
        lines.append(
            "The new kernel is activated afterwards by a reboot in the machine's maintenance "
            f"window of {format_local(update.activation_at, zone)} (its own event)."
        )
    else:
        lines.append(
            "The new kernel is activated afterwards by a reboot in one of the machine's "
            "maintenance windows, announced on its own."
        )
    if update.state == "cancelled":
        lines.append("This system update was cancelled.")
    elif update.state in {"done", "failed"}:
        outcome = f": {update.outcome}" if update.outcome else ""
        lines.append(f"Result: {update.state}{outcome}.")
    return "\n".join(lines)


def _maintnote(
    event: Event,
    item: WindowView | SystemUpdateView,
    shared: dict[str, object],
    level: str,
    status: str,
) -> None:
    """The calendar-wide ORGANIZER / PROVIDER and the event's own MAINTNOTE properties."""
    event.update(shared)
    event["X-MAINTNOTE-ACCOUNT"] = vText(item.group)
    event["X-MAINTNOTE-MAINTENANCE-ID"] = vText(item.uid)
    event["X-MAINTNOTE-OBJECT-ID"] = vText(
        item.machine, params={"X-MAINTNOTE-OBJECT-IMPACT": level}
    )
    event["X-MAINTNOTE-IMPACT"] = vText(level)
    event["X-MAINTNOTE-STATUS"] = vText(status)


def _update_event(
    update: SystemUpdateView, shared: dict[str, object], stamp: datetime | None
) -> Event:
    """One VEVENT for a system update: no window page, so its URL is the rollout's page."""
    zone = zone_of(update.timezone)
    start, end = _instants(update, zone)
    event = Event()
    event["UID"] = vText(update.uid)
    event["DTSTAMP"] = vDDDTypes(stamp or update.updated_at)
    event["DTSTART"] = start
    event["DTEND"] = end
    event["SEQUENCE"] = vInt(update.sequence)
    event["STATUS"] = vText("CANCELLED" if update.state == "cancelled" else "CONFIRMED")
    event["SUMMARY"] = vText(update.summary)
    event["DESCRIPTION"] = vText(update_description(update, zone))
    event["TRANSP"] = vText("TRANSPARENT")  # the machine stays up: nothing to keep free
    event["CREATED"] = vDDDTypes(update.created_at)
    event["LAST-MODIFIED"] = vDDDTypes(update.updated_at)
    if update.url:
        event["URL"] = vUri(update.url, params={"VALUE": "URI"})
    _maintnote(event, update, shared, "NO-IMPACT", update_status(update.state))
    return event


def _event(window: WindowView, shared: dict[str, object], stamp: datetime | None) -> Event:
    """One VEVENT; ``shared`` holds the calendar-wide ORGANIZER / PROVIDER values (see
    :func:`_shared`)."""
    zone = zone_of(window.timezone)
    start, end = _instants(window, zone)
    level = impact(window)
    event = Event()
    event["UID"] = vText(window.uid)
    event["DTSTAMP"] = vDDDTypes(stamp or window.updated_at)
    event["DTSTART"] = start
    event["DTEND"] = end
    event["SEQUENCE"] = vInt(window.sequence)
    event["STATUS"] = vText("CANCELLED" if window.state == "cancelled" else "CONFIRMED")
    event["SUMMARY"] = vText(window.summary)
    event["DESCRIPTION"] = vText(event_description(window, zone))
    event["TRANSP"] = vText("OPAQUE")
    event["CREATED"] = vDDDTypes(window.created_at)
    event["LAST-MODIFIED"] = vDDDTypes(window.updated_at)
    if window.url:
        event["URL"] = vUri(window.url, params={"VALUE": "URI"})
    _maintnote(event, window, shared, level, maintnote_status(window.state))
    return event


def _header(cal: CalendarView, method: str | None) -> Calendar:
    refresh = timedelta(minutes=cal.refresh_minutes)
    out = Calendar()
    out.add("prodid", PRODID)
    out.add("version", "2.0")
    out.add("calscale", "GREGORIAN")
    if method:
        out.add("method", method)
    out.add("name", cal.name)
    out.add("x-wr-calname", cal.name)
    out.add("x-wr-timezone", cal.timezone)
    if cal.description:
        out.add("x-wr-caldesc", cal.description)
        out.add("description", cal.description)
    out.add("refresh-interval", refresh, parameters={"VALUE": "DURATION"})
    out["X-PUBLISHED-TTL"] = vDuration(refresh)  # an X- property is TEXT unless told
    return out


def build_calendar(
    cal: CalendarView,
    windows: Sequence[WindowView],
    *,
    updates: Sequence[SystemUpdateView] = (),
    method: str | None = None,
    stamp: datetime | None = None,
    empty_year: int | None = None,
) -> bytes:
    """A VCALENDAR with one VEVENT per window and per system update (the feeds show a
    rollout's, the mail's calendar file none), and a VTIMEZONE for every zone they use.

    The calendar's own zone always has its VTIMEZONE, so an empty feed still holds a component
    (RFC 5545 3.6 requires one); it then covers ``empty_year`` (default: the year of
    ``stamp``, else 1970). ``method`` ("PUBLISH" for mail attachments) is left out for
    subscribed feeds. ``stamp`` is DTSTAMP for every event (the time a message is made);
    without it each event's DTSTAMP is its last change, so a feed is a pure function of the
    stored windows and caches well.
    """
    out = _header(cal, method)
    spans: dict[str, list[tuple[datetime, datetime]]] = {}
    items: list[WindowView | SystemUpdateView] = [*windows, *updates]
    for item in items:
        spans.setdefault(item.timezone, []).append((item.starts_at, item.ends_at))
    if not spans:
        moment = datetime(empty_year or (stamp.year if stamp else 1970), 7, 1, tzinfo=UTC)
        spans[cal.timezone] = [(moment, moment)]
    for tzid in sorted(spans):
        out.add_component(vtimezone(tzid, span_years(spans[tzid])))
    if stamp is None:
        events = [_feed_event(w, cal.organizer, cal.provider) for w in windows]
        events += [_feed_update_event(u, cal.organizer, cal.provider) for u in updates]
    else:
        shared = _shared(cal.organizer, cal.provider)
        events = [_event(w, shared, stamp).to_ical(sorted=False) for w in windows]
        events += [_update_event(u, shared, stamp).to_ical(sorted=False) for u in updates]
    # icalendar writes the calendar's own lines and its VTIMEZONEs; the events, each written
    # by icalendar too, go in before its END line
    head = out.to_ical(sorted=False)
    assert head.endswith(_END)
    return b"".join([head[: -len(_END)], *events, _END])


_END = b"END:VCALENDAR\r\n"


def _shared(organizer: str, provider: str) -> dict[str, object]:
    """The calendar-wide ORGANIZER and X-MAINTNOTE-PROVIDER of every event."""
    shared: dict[str, object] = {}
    if organizer:
        shared["ORGANIZER"] = vCalAddress(f"mailto:{organizer}", params={"CN": provider})
    shared["X-MAINTNOTE-PROVIDER"] = vText(provider)
    return shared


@lru_cache(maxsize=8192)
def _feed_event(window: WindowView, organizer: str, provider: str) -> bytes:
    """A feed's VEVENT bytes, kept per window value: after one window changes, a feed
    re-renders that event only (a WindowView is frozen and holds all an event shows)."""
    return _event(window, _shared(organizer, provider), None).to_ical(sorted=False)


@lru_cache(maxsize=8192)
def _feed_update_event(update: SystemUpdateView, organizer: str, provider: str) -> bytes:
    """A feed's VEVENT bytes for a system update, kept per value like :func:`_feed_event`."""
    return _update_event(update, _shared(organizer, provider), None).to_ical(sorted=False)
