"""The public pages as HTML from plain values (Jinja2, autoescaped): no database, no clock.

Templates are package data in ``api/pages/templates``; ``site.css`` gives them the notice
site's look (MkDocs Material, indigo) without loading anything from elsewhere.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from zoneinfo import ZoneInfo

from jinja2 import Environment, PackageLoader, select_autoescape

from api.calendar.texts import activity_line, duration_text, span_text
from api.calendar.values import WindowView

__all__ = [
    "Notice",
    "Slot",
    "Span",
    "activity_lines",
    "postpone_page",
    "problem_page",
    "slot",
    "span",
    "window_page",
]

_STATES = {"planned": "scheduled"}


@dataclass(frozen=True)
class Span:
    local: str  # "Tue 1 Dec 2026, 02:00 to 04:00 CET (Europe/Berlin)"
    utc: str  # "Tue 1 Dec 2026, 01:00 to 03:00 UTC"


@dataclass(frozen=True)
class Slot:
    value: str  # what the form sends back: the start as epoch seconds
    local: str
    utc: str


@dataclass(frozen=True)
class Notice:
    title: str
    text: str


def span(starts_at: datetime, ends_at: datetime, timezone: str) -> Span:
    """A window in its group's zone and in UTC, as the pages show it."""
    s, e = starts_at.astimezone(UTC), ends_at.astimezone(UTC)
    return Span(span_text(s, e, ZoneInfo(timezone)), span_text(s, e, None))


def slot(starts_at: datetime, ends_at: datetime, timezone: str) -> Slot:
    when = span(starts_at, ends_at, timezone)
    return Slot(str(int(starts_at.timestamp())), when.local, when.utc)


def activity_lines(w: WindowView) -> list[str]:
    return [activity_line(a) for a in w.activities]


@lru_cache(maxsize=1)
def _env() -> Environment:
    return Environment(
        loader=PackageLoader("api.pages", "templates"),
        autoescape=select_autoescape(["html", "css"], default=True),
        trim_blocks=True,
        lstrip_blocks=True,
    )


def _render(name: str, **values: object) -> str:
    return _env().get_template(name).render(**values)


def window_page(
    w: WindowView, *, provider: str, ics_path: str, notice: Notice | None = None
) -> str:
    downtime = ""
    if w.activities and w.state != "cancelled":  # a cancelled window takes nothing down
        downtime = f"up to {duration_text(w.downtime_minutes)}"
    return _render(
        "window.html",
        title=w.summary,
        provider=provider,
        w=w,
        state=_STATES.get(w.state, w.state),
        when=span(w.starts_at, w.ends_at, w.timezone),
        downtime=downtime,
        activities=activity_lines(w),
        ics_path=ics_path,
        notice=notice,
    )


def postpone_page(
    w: WindowView,
    *,
    provider: str,
    slots: Sequence[Slot],
    action: str,
    csrf: str,
    rules: str,
    window_path: str,
) -> str:
    return _render(
        "postpone.html",
        title=f"Postpone the maintenance of {w.machine}",
        provider=provider,
        w=w,
        when=span(w.starts_at, w.ends_at, w.timezone),
        activities=activity_lines(w),
        slots=slots,
        action=action,
        csrf=csrf,
        rules=rules,
        window_path=window_path,
    )


def problem_page(title: str, lines: Sequence[str], *, provider: str, window_path: str = "") -> str:
    return _render(
        "problem.html", title=title, lines=lines, provider=provider, window_path=window_path
    )
