"""Does work fit a window, and does a window miss every freeze."""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

__all__ = ["DEFAULT_REBOOT_ALLOWANCE", "Freeze", "Work", "first_freeze", "needed_minutes"]

DEFAULT_REBOOT_ALLOWANCE = 10


@dataclass(frozen=True, slots=True)
class Work:
    estimate_minutes: int
    needs_reboot: bool


@dataclass(frozen=True, slots=True, order=True)
class Freeze:
    """A period without maintenance (half-open: [starts_at, ends_at))."""

    starts_at: datetime
    ends_at: datetime
    reason: str = ""


def needed_minutes(work: Iterable[Work], reboot_allowance: int = DEFAULT_REBOOT_ALLOWANCE) -> int:
    """Summed estimates, plus the reboot allowance once when any piece needs a reboot."""
    total = 0
    reboot = False
    for piece in work:
        total += piece.estimate_minutes
        reboot = reboot or piece.needs_reboot
    return total + (reboot_allowance if reboot else 0)


def first_freeze(start: datetime, end: datetime, freezes: Sequence[Freeze]) -> Freeze | None:
    """The first freeze (``freezes`` sorted by start) overlapping [start, end), if any."""
    # Freezes can overlap each other, so scan every freeze starting before ``end``.
    stop = bisect_left(freezes, end, key=lambda f: f.starts_at)
    for f in freezes[:stop]:
        if f.ends_at > start:
            return f
    return None
