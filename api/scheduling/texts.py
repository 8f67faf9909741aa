"""How the scheduler words dates and durations for customers (English, locale-independent)."""

from __future__ import annotations

from datetime import date, datetime

__all__ = ["day_label", "duration_label", "local_label"]

_DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def day_label(d: date) -> str:
    """'Tue 1 Dec'."""
    return f"{_DAYS[d.weekday()]} {d.day} {_MONTHS[d.month - 1]}"


def local_label(dt: datetime, *, year: bool = False) -> str:
    """'Tue 1 Dec 02:00' (or 'Tue 1 Dec 2026 02:00') in ``dt``'s own zone."""
    d = dt.date()
    return f"{day_label(d)}{f' {d.year}' if year else ''} {dt:%H:%M}"


def duration_label(minutes: int) -> str:
    """'7 days', '36 hours', '90 min', '1 day'."""
    if minutes and minutes % 1440 == 0:
        n = minutes // 1440
        return f"{n} day" if n == 1 else f"{n} days"
    if minutes and minutes % 60 == 0:
        n = minutes // 60
        return f"{n} hour" if n == 1 else f"{n} hours"
    return f"{minutes} min"
