"""Who is in maintenance when: booked intervals per key, bucketed by UTC day.

Keys are plain tuples: ("host", host_id) for the VMs of one host, ("redundancy", group_id, tag)
for a redundancy set, ("machine", machine_id) for one machine's own windows. A lookup touches
only the few day buckets an interval can overlap, so it costs O(bookings per key and day).
"""

from __future__ import annotations

from collections.abc import Hashable
from datetime import datetime
from typing import NamedTuple

__all__ = ["Booking", "Ledger"]

DAY = 86_400


class Booking(NamedTuple):
    start: int  # epoch seconds
    end: int
    machine_id: int
    machine_name: str


class Ledger:
    def __init__(self) -> None:
        self._days: dict[Hashable, dict[int, list[Booking]]] = {}
        self._longest = DAY

    def book(
        self, key: Hashable, start: datetime, end: datetime, machine_id: int, machine_name: str
    ) -> None:
        self.book_ts(key, int(start.timestamp()), int(end.timestamp()), machine_id, machine_name)

    def book_ts(self, key: Hashable, s: int, e: int, machine_id: int, machine_name: str) -> None:
        """Book [s, e) given as epoch seconds."""
        if e - s > self._longest:
            self._longest = e - s
        days = self._days.get(key)
        if days is None:
            days = self._days[key] = {}
        bucket = days.get(s // DAY)
        if bucket is None:
            bucket = days[s // DAY] = []
        bucket.append(Booking(s, e, machine_id, machine_name))

    def overlapping(
        self, key: Hashable, start: datetime, end: datetime, *, exclude: int | None = None
    ) -> list[Booking]:
        """Bookings under ``key`` overlapping [start, end), except those of machine ``exclude``."""
        return self.overlapping_ts(
            key, int(start.timestamp()), int(end.timestamp()), exclude=exclude
        )

    def overlapping_ts(
        self, key: Hashable, s: int, e: int, *, exclude: int | None = None
    ) -> list[Booking]:
        """As ``overlapping``, with [s, e) given as epoch seconds."""
        return self.scan(self._days.get(key), s, e, exclude)

    def days_of(self, key: Hashable) -> dict[int, list[Booking]] | None:
        """The day buckets of ``key`` (None when nothing is booked), for repeated ``scan``s."""
        return self._days.get(key)

    def scan(
        self, days: dict[int, list[Booking]] | None, s: int, e: int, exclude: int | None = None
    ) -> list[Booking]:
        """Bookings in ``days`` (from ``days_of``) overlapping [s, e), except ``exclude``'s."""
        if not days:
            return []
        found = []
        for day in range((s - self._longest) // DAY, (e - 1) // DAY + 1):
            bucket = days.get(day)
            if bucket:
                for b in bucket:
                    if b[0] < e and b[1] > s and b[2] != exclude:
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
