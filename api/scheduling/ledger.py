"""Who is in maintenance when: booked intervals per key, bucketed by UTC day.

Keys are plain tuples: ("host", host_id) for the VMs of one host, ("redundancy", group_id, tag)
for a redundancy set, ("machine", machine_id) for one machine's own windows.
"""

from __future__ import annotations

from collections.abc import Hashable
from dataclasses import dataclass, field
from datetime import datetime

__all__ = ["Booking", "Ledger"]

DAY = 86_400


@dataclass(frozen=True, slots=True)
class Booking:
    start: int  # epoch seconds
    end: int
    machine_id: int
    machine_name: str


@dataclass
class Ledger:
    _days: dict[Hashable, dict[int, list[Booking]]] = field(default_factory=dict)
    _longest: int = DAY

    def book(
        self, key: Hashable, start: datetime, end: datetime, machine_id: int, machine_name: str
    ) -> None:
        s, e = int(start.timestamp()), int(end.timestamp())
        self._longest = max(self._longest, e - s)
        days = self._days.setdefault(key, {})
        days.setdefault(s // DAY, []).append(Booking(s, e, machine_id, machine_name))

    def overlapping(
        self, key: Hashable, start: datetime, end: datetime, *, exclude: int | None = None
    ) -> list[Booking]:
        """Bookings under ``key`` overlapping [start, end), except those of machine ``exclude``."""
        days = self._days.get(key)
        if not days:
            return []
        s, e = int(start.timestamp()), int(end.timestamp())
        found = []
        for day in range((s - self._longest) // DAY, (e - 1) // DAY + 1):
            for b in days.get(day, ()):
                if b.start < e and b.end > s and b.machine_id != exclude:
                    found.append(b)
        return found

    def release(self, key: Hashable, start: datetime, machine_id: int) -> None:
        """Forget the booking of ``machine_id`` under ``key`` that starts at ``start``."""
        s = int(start.timestamp())
        bucket = self._days.get(key, {}).get(s // DAY, [])
        for i, b in enumerate(bucket):
            if b.start == s and b.machine_id == machine_id:
                del bucket[i]
                return
