"""What the mail templates show, as plain values: rows, lines and sentences. Pure, no I/O.

The templates lay these out (aligned text or an HTML table); the wording lives here so that the
text and HTML alternatives of a mail always say the same thing.
"""

from __future__ import annotations

import textwrap
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from email.utils import parseaddr

from api.calendar.texts import duration_text, format_local, local_span, utc_span
from api.calendar.values import WindowView
from api.notices import GroupSettings

__all__ = [
    "GroupView",
    "MailContext",
    "aligned",
    "digest_line",
    "downtime_text",
    "duration_text",
    "lead_text",
    "local_span",
    "outcome_lines",
    "paragraph",
    "postpone_offer",
    "settings_rows",
    "utc_span",
    "window_rows",
    "work_labels",
]

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


def downtime_text(w: WindowView) -> str:
    """'up to 20 minutes', or that the machine keeps running when no activity restarts it."""
    if w.downtime_minutes <= 0:
        return "none, the machine keeps running"
    return f"up to {duration_text(w.downtime_minutes)}"


def lead_text(w: WindowView, now: datetime) -> str:
    """How long until ``w`` starts: '15 hours 55 minutes'."""
    return duration_text(max(int((w.starts_at - now).total_seconds() // 60), 0))


def paragraph(text: str) -> str:
    """A prose paragraph wrapped for the text part (HTML reflows it anyway)."""
    return textwrap.fill(text, width=76, break_long_words=False, break_on_hyphens=False)


def aligned(rows: Sequence[tuple[str, str]]) -> str:
    """Label/value rows for the text part, values in one column."""
    if not rows:
        return ""
    width = max(len(k) for k, _ in rows) + 2
    return "\n".join(f"  {k + ':':<{width}}{v}" for k, v in rows)


def window_rows(w: WindowView) -> list[tuple[str, str]]:
    rows = [
        ("Machine", f"{w.machine} ({w.machine_kind})"),
        ("When", local_span(w)),
        ("In UTC", utc_span(w)),
    ]
    if w.activities and w.state != "cancelled":  # a cancelled window takes nothing down
        rows.append(("Expected downtime", downtime_text(w)))
    if w.reason:
        rows.append(("Why this slot", w.reason))
    return rows


def work_labels(w: WindowView) -> str:
    """'kernel update, memory resize': each kind of work once, in order."""
    return ", ".join(dict.fromkeys(a.label for a in w.activities))


@dataclass(frozen=True)
class PostponeOffer:
    """What a window mail says about postponing: ``text``, then (when the customer may postpone
    and the mailer made one) the one-click ``link`` and the other ways in ``after``."""

    text: str
    link: str = ""
    after: str = ""


def postpone_offer(w: WindowView, public_url: str, link: str = "") -> PostponeOffer:
    """Whether and how the customer can postpone ``w``."""
    reply = "if it is a problem for you, reply to this mail."
    if w.forced:
        return PostponeOffer(
            f"This window was set by our operators and cannot be postponed; {reply}"
        )
    left = w.max_postpones - w.postpones
    if left <= 0:
        return PostponeOffer(
            "This window has been postponed as often as your group's policy allows "
            f"({w.max_postpones} times); {reply}"
        )
    if w.postpone_deadline is not None and w.postpone_deadline <= w.starts_at:
        # every later window starts past the deadline, so a postpone would be refused
        return PostponeOffer(
            "This window cannot be postponed any more: its postpone deadline "
            f"({format_local(w.postpone_deadline, w.timezone)}) is not after it; {reply}"
        )
    until = f" until {format_local(w.postpone_deadline, w.timezone)}" if w.postpone_deadline else ""
    times = "once more" if left == 1 else f"up to {left} more times"
    offer = (
        f"Does this slot not suit you? You can postpone the window {times}{until} "
        "(it moves to a later day of your group's window)"
    )
    ways = (
        f"with the postponeWindow mutation of the GraphQL API at {public_url}/graphql and your "
        "customer token, or by replying to this mail."
    )
    if not link:
        return PostponeOffer(f"{offer}: {ways}")
    return PostponeOffer(
        f"{offer}. Choose a later window here, no login needed:", link, f"Or postpone it {ways}"
    )


def settings_rows(s: GroupSettings) -> list[tuple[str, str]]:
    days = (
        "every day"
        if sorted(s.weekdays) == list(range(7))
        else ", ".join(_WEEKDAYS[d] for d in sorted(s.weekdays) if 0 <= d < 7)
    )
    end = ""
    if ":" in s.window_start:
        hh, mm = (int(x) for x in s.window_start.split(":")[:2])
        total = (hh * 60 + mm + s.window_minutes) % 1440
        end = f"-{total // 60:02d}:{total % 60:02d}"
    window = f"{s.window_start}{end} local time ({duration_text(s.window_minutes)}), {days}"
    notice = (
        f"{duration_text(s.notice_minutes)} before any maintenance"
        if s.notice_minutes
        else "none: maintenance may be planned at once"
    )
    reminder = (
        f"{duration_text(s.reminder_minutes)} before a window starts"
        if s.reminder_minutes
        else "none"
    )
    return [
        ("Technical contacts", ", ".join(s.contacts) or "(none)"),
        ("Time zone", s.timezone),
        ("Maintenance window", window),
        ("Notice period", notice),
        ("Reminder", reminder),
        (
            "Postponements",
            f"up to {s.max_postpones} per window" if s.max_postpones else "none allowed",
        ),
    ]


def digest_line(w: WindowView) -> str:
    """One line of the digest's overview: local start, machine, the work."""
    return f"  {format_local(w.starts_at, w.timezone):<28} {w.machine:<16} {work_labels(w)}"


def outcome_lines(w: WindowView) -> list[str]:
    lines = []
    for a in w.activities:
        state = {"done": "done", "failed": "FAILED", "cancelled": "cancelled"}.get(
            a.state, f"not finished ({a.state})"
        )
        lines.append(f"{a.label}: {state}" + (f" - {a.outcome}" if a.outcome else ""))
    return lines
