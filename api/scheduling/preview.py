"""The next regular windows of a policy, with what clock changes do to them (for previews)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from api.scheduling.occurrences import Occurrence, Policy, occurrences

__all__ = ["PreviewRow", "preview"]


@dataclass(frozen=True, slots=True)
class PreviewRow:
    occurrence: Occurrence
    dst: str  # "", "start moved", "lengthened", "shortened" (on the local wall clock)


def _dst(occ: Occurrence) -> str:
    if occ.start_moved:
        return "start moved"
    if occ.clock_shift > 0:
        return "lengthened"
    if occ.clock_shift < 0:
        return "shortened"
    return ""


def preview(policy: Policy, now: datetime, count: int, *, max_days: int = 3660) -> list[PreviewRow]:
    """The next ``count`` occurrences starting at or after ``now``."""
    rows: list[PreviewRow] = []
    start = now
    while len(rows) < count and start < now + timedelta(days=max_days):
        until = start + timedelta(days=max(count * 2, 14))
        for occ in occurrences(policy, start, until):
            rows.append(PreviewRow(occ, _dst(occ)))
            if len(rows) == count:
                break
        start = until
    return rows
