"""Notification -> email (text and HTML alternatives, a calendar attachment): pure, no I/O.

Templates are package data in ``api/notify/templates`` (``string.Template``, ``${name}``): a
``.txt`` and an ``.html`` per message. Values are HTML-escaped for the HTML part; the blocks
built here (window tables, lists) come as a :class:`Part` holding both forms.
"""

from __future__ import annotations

import hashlib
import html
import textwrap
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import format_datetime, parseaddr
from functools import lru_cache
from importlib.resources import files
from string import Template
from typing import Any
from zoneinfo import ZoneInfo

from api.feeds.ics import build_calendar, format_local
from api.feeds.values import CalendarView, WindowView

__all__ = [
    "GroupView",
    "MailContext",
    "Outgoing",
    "Part",
    "duration_text",
    "message_id",
    "render",
    "thread_root",
    "window_part",
]

WINDOW_KINDS = frozenset(
    {
        "window_scheduled",
        "window_changed",
        "window_postponed",
        "window_cancelled",
        "window_reminder",
        "window_completed",
        "window_failed",
    }
)
_ONE_LINE_HEADERS = SMTP.clone(max_line_length=998)
_WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")


@dataclass(frozen=True)
class GroupView:
    name: str
    title: str
    timezone: str
    feed_url: str = ""
    webcal_url: str = ""

    @property
    def label(self) -> str:
        return self.title or self.name


@dataclass(frozen=True)
class MailContext:
    """Site-wide mail facts (from settings)."""

    mail_from: str  # "fenster <maintenance@example.com>"
    domain: str  # Message-ID domain and MAINTNOTE provider
    public_url: str

    @property
    def provider(self) -> str:
        return parseaddr(self.mail_from)[0] or self.domain

    @property
    def from_address(self) -> str:
        return parseaddr(self.mail_from)[1]


@dataclass(frozen=True)
class Outgoing:
    """One outbox row with what it references, loaded by the mailer."""

    kind: str
    key: str  # the row's dedupe key: makes the Message-ID, stable across retries
    recipients: tuple[str, ...]
    group: GroupView
    windows: tuple[WindowView, ...] = ()
    payload: Mapping[str, Any] = field(default_factory=dict)
    starts_thread: bool = False  # the first mail about its window: carries the thread root id


@dataclass(frozen=True)
class Part:
    """A block in both forms; ``html`` is trusted markup."""

    text: str
    html: str


# ---------------------------------------------------------------- ids and small formats


def message_id(key: str, domain: str) -> str:
    return f"<{hashlib.sha256(key.encode()).hexdigest()[:32]}@{domain}>"


def thread_root(uid: str, domain: str) -> str:
    """The Message-ID every mail about window ``uid`` refers to (the first one carries it)."""
    local = "".join(c for c in uid.split("@", 1)[0] if c.isalnum() or c in "-.") or "window"
    return f"<window.{local}@{domain}>"


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


def _utc_span(w: WindowView) -> str:
    s, e = w.starts_at.astimezone(UTC), w.ends_at.astimezone(UTC)
    end = f"{e:%H:%M}" if s.date() == e.date() else f"{e:%Y-%m-%d %H:%M}"
    return f"{s:%Y-%m-%d %H:%M} to {end} UTC"


def _local_span(w: WindowView) -> str:
    start = format_local(w.starts_at, w.timezone)
    s, e = w.starts_at.astimezone(UTC), w.ends_at.astimezone(UTC)
    zone = ZoneInfo(w.timezone)
    ls, le = s.astimezone(zone), e.astimezone(zone)
    end = f"{le:%H:%M} {le.tzname()}" if ls.date() == le.date() else format_local(e, w.timezone)
    return f"{start} to {end} ({w.timezone})"


def _para(text: str) -> str:
    """A prose paragraph wrapped for the text part (HTML reflows it anyway)."""
    return textwrap.fill(text, width=76, break_long_words=False, break_on_hyphens=False)


def _esc(value: str) -> str:
    return html.escape(value, quote=True)


# ---------------------------------------------------------------- blocks


def _rows_part(rows: Sequence[tuple[str, str]]) -> Part:
    width = max(len(k) for k, _ in rows) + 2
    text = "\n".join(f"  {k + ':':<{width}}{v}" for k, v in rows)
    cells = "".join(
        f"<tr><th style='text-align:left;padding:2px 12px 2px 0;vertical-align:top'>{_esc(k)}</th>"
        f"<td style='padding:2px 0'>{_esc(v)}</td></tr>"
        for k, v in rows
    )
    return Part(text, f"<table style='border-collapse:collapse'>{cells}</table>")


def _activity_line(a: Any) -> str:
    extra = f" ({a.detail})" if a.detail else ""
    reboot = ", restarts the machine" if a.needs_reboot else ""
    return f"{a.label}{extra}: about {a.estimate_minutes} min{reboot}"


def window_part(w: WindowView) -> Part:
    rows = [
        ("Machine", f"{w.machine} ({w.machine_kind})"),
        ("When", _local_span(w)),
        ("In UTC", _utc_span(w)),
    ]
    if w.activities and w.state != "cancelled":  # a cancelled window takes nothing down
        rows.append(("Expected downtime", f"up to {duration_text(w.downtime_minutes)}"))
    if w.reason:
        rows.append(("Why this slot", w.reason))
    table = _rows_part(rows)
    if not w.activities:
        return table
    lines = [_activity_line(a) for a in w.activities]
    text = table.text + "\n  Activities:\n" + "\n".join(f"    - {x}" for x in lines)
    items = "".join(f"<li>{_esc(x)}</li>" for x in lines)
    return Part(text, f"{table.html}<p>Activities:</p><ul>{items}</ul>")


def _postpone(w: WindowView, ctx: MailContext) -> str:
    if w.forced:
        return _para(
            "This window was set by our operators and cannot be postponed; "
            "if it is a problem for you, reply to this mail."
        )
    left = w.max_postpones - w.postpones
    if left <= 0:
        return _para(
            f"This window has been postponed as often as your group's policy allows "
            f"({w.max_postpones} times); if it is a problem for you, reply to this mail."
        )
    if w.postpone_deadline is not None and w.postpone_deadline <= w.starts_at:
        # every later window starts past the deadline, so a postpone would be refused
        return _para(
            "This window cannot be postponed any more: its postpone deadline "
            f"({format_local(w.postpone_deadline, w.timezone)}) is not after it; "
            "if it is a problem for you, reply to this mail."
        )
    until = f" until {format_local(w.postpone_deadline, w.timezone)}" if w.postpone_deadline else ""
    times = "once more" if left == 1 else f"up to {left} more times"
    return _para(
        f"Does this slot not suit you? You can postpone the window {times}{until} "
        f"(it moves to a later day of your group's window): with the postponeWindow "
        f"mutation of the GraphQL API at {ctx.public_url}/graphql and your customer token, "
        "or by replying to this mail."
    )


def _settings_part(payload: Mapping[str, Any], group: GroupView) -> Part:
    weekdays = payload.get("weekdays") or list(range(7))
    days = (
        "every day"
        if sorted(weekdays) == list(range(7))
        else ", ".join(_WEEKDAYS[d] for d in sorted(weekdays) if 0 <= d < 7)
    )
    minutes = int(payload.get("window_minutes", 0))
    start = str(payload.get("window_start", ""))
    end = ""
    if ":" in start:
        hh, mm = (int(x) for x in start.split(":")[:2])
        total = (hh * 60 + mm + minutes) % 1440
        end = f"-{total // 60:02d}:{total % 60:02d}"
    rows = [
        ("Technical contacts", ", ".join(payload.get("contacts", [])) or "(none)"),
        ("Time zone", str(payload.get("timezone", group.timezone))),
        ("Maintenance window", f"{start}{end} local time ({duration_text(minutes)}), {days}"),
        (
            "Notice period",
            f"{duration_text(int(payload.get('notice_minutes', 0)))} before any maintenance",
        ),
        (
            "Reminder",
            f"{duration_text(int(payload.get('reminder_minutes', 0)))} before a window starts"
            if payload.get("reminder_minutes")
            else "none",
        ),
        ("Postponements", f"up to {payload.get('max_postpones', 0)} per window"),
    ]
    return _rows_part(rows)


def _previous(payload: Mapping[str, Any], w: WindowView) -> Part:
    raw = payload.get("previous_starts_at") or payload.get("old_starts_at")
    if not raw:
        return Part("", "")
    try:
        before = datetime.fromisoformat(str(raw))
    except ValueError:
        return Part("", "")
    if before.tzinfo is None:
        before = before.replace(tzinfo=UTC)
    text = f"Previously: {format_local(before, w.timezone)}"
    return Part(text + "\n\nNow:\n\n", f"<p>{_esc(text)}. Now:</p>")


def _outcomes(w: WindowView, payload: Mapping[str, Any]) -> Part:
    lines = []
    for a in w.activities:
        state = {"done": "done", "failed": "FAILED", "cancelled": "cancelled"}.get(
            a.state, f"not finished ({a.state})"
        )
        lines.append(f"{a.label}: {state}" + (f" - {a.outcome}" if a.outcome else ""))
    note = str(payload.get("message") or payload.get("error") or "")
    text = "Outcome of each activity:\n" + "\n".join(f"  - {x}" for x in lines)
    items = "".join(f"<li>{_esc(x)}</li>" for x in lines)
    markup = f"<p>Outcome of each activity:</p><ul>{items}</ul>"
    if note:
        text += f"\n\nNote from the agent: {note}"
        markup += f"<p>Note from the agent: {_esc(note)}</p>"
    return Part(text + "\n", markup)


def _digest_table(windows: Sequence[WindowView]) -> Part:
    text = "\n".join(
        f"  {format_local(w.starts_at, w.timezone):<28} {w.machine:<16} "
        f"{w.summary.split(' - ', 1)[1] if ' - ' in w.summary else ''}"
        for w in windows
    )
    rows = "".join(
        f"<tr><td style='padding:2px 12px 2px 0'>{_esc(format_local(w.starts_at, w.timezone))}</td>"
        f"<td style='padding:2px 12px 2px 0'><strong>{_esc(w.machine)}</strong></td>"
        f"<td>{_esc(', '.join(dict.fromkeys(a.label for a in w.activities)))}</td></tr>"
        for w in windows
    )
    return Part(text, f"<table style='border-collapse:collapse'>{rows}</table>")


# ---------------------------------------------------------------- templates


@lru_cache(maxsize=64)
def _template(name: str) -> Template:
    return Template(files("api.notify").joinpath("templates", name).read_text("utf-8"))


def _fill(name: str, values: Mapping[str, str | Part]) -> tuple[str, str]:
    text = _template(f"{name}.txt").substitute(
        {k: v.text if isinstance(v, Part) else v for k, v in values.items()}
    )
    markup = _template(f"{name}.html").substitute(
        {k: v.html if isinstance(v, Part) else _esc(v) for k, v in values.items()}
    )
    return text, markup


# ---------------------------------------------------------------- messages


def _body(out: Outgoing, ctx: MailContext, now: datetime) -> tuple[str, str, str]:
    """(subject, text, html body) for ``out``."""
    g = out.group
    if out.kind == "group_settings":
        text, markup = _fill(
            "group_settings",
            {
                "group_title": g.label,
                "group_name": g.name,
                "settings": _settings_part(out.payload, g),
                "feed_url": g.feed_url,
                "webcal_url": g.webcal_url,
                "public_url": ctx.public_url,
            },
        )
        return f"Maintenance settings of your resource group {g.label}", text, markup
    if out.kind == "windows_digest":
        ws = tuple(sorted(out.windows, key=lambda w: (w.starts_at, w.machine)))
        first = ws[0]
        parts = [window_part(w) for w in ws]
        text, markup = _fill(
            "windows_digest",
            {
                "count": str(len(ws)),
                "group_title": g.label,
                "group_name": g.name,
                "table": _digest_table(ws),
                "windows": Part("\n\n".join(p.text for p in parts), "".join(p.html for p in parts)),
                "postpone": _para(
                    "A window that does not suit you can be postponed (your group's policy "
                    f"allows {first.max_postpones} postponements per window; windows set by "
                    "our operators cannot be moved), with the postponeWindow mutation of the "
                    "GraphQL API at "
                    f"{ctx.public_url}/graphql with your customer token, or by replying to "
                    "this mail."
                ),
            },
        )
        subject = (
            f"Maintenance scheduled for {len(ws)} machines of {g.label}, "
            f"from {format_local(first.starts_at, first.timezone)}"
        )
        return subject, text, markup

    [w] = out.windows
    when = format_local(w.starts_at, w.timezone)
    common: dict[str, str | Part] = {"machine": w.machine, "window": window_part(w)}
    if out.kind == "window_scheduled":
        text, markup = _fill("window_scheduled", {**common, "postpone": _postpone(w, ctx)})
        return f"Maintenance scheduled: {w.machine}, {when}", text, markup
    if out.kind in {"window_changed", "window_postponed"}:
        postponed = out.kind == "window_postponed"
        if postponed:
            headline = f"the maintenance window for {w.machine} has been postponed to {when}."
        elif out.payload.get("added"):
            headline = (
                f"more work has been added to the maintenance window for {w.machine} "
                f"on {when}; the activities below are now planned for it."
            )
        else:
            headline = f"the maintenance window for {w.machine} has changed; it is now {when}."
        text, markup = _fill(
            "window_changed",
            {
                **common,
                "headline": _para(headline),
                "previous": _previous(out.payload, w),
                "postpone": _postpone(w, ctx),
            },
        )
        verb = "postponed" if postponed else "changed"
        return f"Maintenance {verb}: {w.machine}, now {when}", text, markup
    if out.kind == "window_cancelled":
        why = str(out.payload.get("reason") or "")
        text, markup = _fill(
            "window_cancelled", {**common, "reason": f"Reason: {why}\n\n" if why else ""}
        )
        return f"Maintenance cancelled: {w.machine}, {when}", text, markup
    if out.kind == "window_reminder":
        lead = max(int((w.starts_at - now).total_seconds() // 60), 0)
        text, markup = _fill(
            "window_reminder",
            {**common, "lead": duration_text(lead), "postpone": _postpone(w, ctx)},
        )
        return f"Reminder: maintenance of {w.machine} starts {when}", text, markup
    if out.kind in {"window_completed", "window_failed"}:
        ok = out.kind == "window_completed"
        headline = (
            f"the maintenance of {w.machine} is complete."
            if ok
            else f"the maintenance of {w.machine} did not succeed."
        )
        closing = (
            "Thank you for your patience."
            if ok
            else "Our administrators look into every failed window. Work that is retried "
            "gets a new window, announced to you as usual."
        )
        text, markup = _fill(
            "window_result",
            {
                **common,
                "headline": _para(headline),
                "outcomes": _outcomes(w, out.payload),
                "closing": closing,
            },
        )
        word = "completed" if ok else "FAILED"
        return f"Maintenance {word}: {w.machine}", text, markup
    raise AssertionError(out.kind)  # render() checked the kind


def _calendar(out: Outgoing, ctx: MailContext, now: datetime) -> bytes | None:
    if out.kind not in {
        "window_scheduled",
        "window_changed",
        "window_postponed",
        "window_cancelled",
        "windows_digest",
    }:
        return None
    cal = CalendarView(
        name=f"Maintenance: {out.group.label}",
        timezone=out.group.timezone,
        provider=ctx.domain,
        organizer=ctx.from_address,
    )
    return build_calendar(cal, out.windows, method="PUBLISH", stamp=now)


def render(out: Outgoing, ctx: MailContext, now: datetime) -> EmailMessage:
    """The complete message for one outbox row, ready for any transport."""
    if out.kind not in WINDOW_KINDS | {"group_settings", "windows_digest"}:
        raise ValueError(f"no template for notification kind {out.kind!r}")
    if out.kind in WINDOW_KINDS and len(out.windows) != 1:
        raise ValueError(f"{out.kind} needs exactly one window, got {len(out.windows)}")
    if out.kind == "windows_digest" and not out.windows:
        raise ValueError("windows_digest needs at least one window")
    subject, text, body = _body(out, ctx, now)
    footer_text = (
        _template("footer.txt")
        .substitute(group_name=out.group.name, provider=ctx.provider, feed_url=out.group.feed_url)
        .rstrip()
    )
    markup = _template("base.html").substitute(
        subject=_esc(subject), body=body, footer=_esc(footer_text).replace("\n", "<br>\n")
    )
    msg = EmailMessage(policy=SMTP)
    msg["Subject"] = subject
    msg["From"] = ctx.mail_from
    msg["To"] = ", ".join(out.recipients)
    msg["Date"] = format_datetime(now.astimezone(UTC))
    own = message_id(out.key, ctx.domain)
    if out.kind in WINDOW_KINDS:
        w = out.windows[0]
        root = thread_root(w.uid, ctx.domain)
        if out.starts_thread:
            own = root
        else:
            msg["In-Reply-To"] = root
            msg["References"] = root
    msg["Message-ID"] = own
    msg["Auto-Submitted"] = "auto-generated"  # RFC 3834: no vacation replies
    msg["X-Fenster-Kind"] = out.kind
    msg["X-Fenster-Group"] = out.group.name
    if out.kind in WINDOW_KINDS:
        msg["X-Fenster-Window"] = out.windows[0].uid
    msg.set_content(text.rstrip() + "\n\n-- \n" + footer_text, cte="quoted-printable")
    msg.add_alternative(markup, subtype="html", cte="quoted-printable")
    ics = _calendar(out, ctx, now)
    if ics is not None:
        name = out.windows[0].machine if len(out.windows) == 1 else out.group.name
        msg.add_attachment(
            ics,
            maintype="text",
            subtype="calendar",
            filename=f"maintenance-{name}.ics",
            params={"charset": "utf-8", "method": "PUBLISH"},
        )
    # Bodies are encoded (76-column quoted-printable) already; headers are written on one
    # line up to 998 octets: Python folds a long Subject by moving all of it to the next
    # line, which several readers then show with a leading space.
    msg.policy = _ONE_LINE_HEADERS
    return msg
