"""Finding a free regular window for one machine: freezes, its own windows, host capacity and
redundancy sets, all checked against one ledger."""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from api.scheduling.fit import Freeze, first_freeze
from api.scheduling.ledger import Ledger
from api.scheduling.occurrences import Occurrence, Policy, occurrences
from api.scheduling.texts import HOST_FULL, host_full

__all__ = ["Conflict", "HostIn", "MachineIn", "Skip", "SlotFinder"]


@dataclass(frozen=True, slots=True)
class HostIn:
    id: int
    name: str
    capacity: int = 2


@dataclass(frozen=True, slots=True)
class MachineIn:
    id: int
    name: str
    group_id: int
    host_id: int | None = None
    redundancy: str | None = None
    auto_schedule: bool = True


@dataclass(frozen=True, slots=True)
class Conflict:
    category: str  # short, for summaries: "frozen (year end)", "host full", ...
    text: str  # for the reason, which customers read (api.scheduling.texts)
    operator_text: str | None = None  # the same for operators, naming what customers may not see

    @property
    def for_operators(self) -> str:
        return self.operator_text or self.text


@dataclass(frozen=True, slots=True)
class Skip:
    occurrence: Occurrence
    conflict: Conflict


class SlotFinder:
    """Answers "may this machine be in maintenance from start to end?" and books it."""

    def __init__(
        self,
        machines: Mapping[int, MachineIn],
        hosts: Mapping[int, HostIn],
        freezes: Mapping[int | None, Sequence[Freeze]],
    ) -> None:
        self.machines = machines
        self.hosts = hosts
        self._freezes = freezes
        self._group_freezes: dict[int, list[Freeze]] = {}
        self._series: dict[tuple[Policy, datetime, datetime], tuple[list[Occurrence], list[int]]]
        self._series = {}
        self.ledger = Ledger()

    def series(
        self, policy: Policy, since: datetime, until: datetime
    ) -> tuple[list[Occurrence], list[int]]:
        """All occurrences of ``policy`` in [since, until) and their start stamps (memoised)."""
        key = (policy, since, until)
        found = self._series.get(key)
        if found is None:
            occs = list(occurrences(policy, since, until))
            found = (occs, [o.start_ts for o in occs])
            self._series[key] = found
        return found

    def freezes_for(self, group_id: int) -> list[Freeze]:
        found = self._group_freezes.get(group_id)
        if found is None:
            found = sorted([*self._freezes.get(None, ()), *self._freezes.get(group_id, ())])
            self._group_freezes[group_id] = found
        return found

    def _keys(self, m: MachineIn) -> list[tuple[object, ...]]:
        keys: list[tuple[object, ...]] = [("machine", m.id)]
        if m.host_id is not None:
            keys.append(("host", m.host_id))
        if m.redundancy:
            keys.append(("redundancy", m.group_id, m.redundancy))
        return keys

    def conflict(
        self, m: MachineIn, start: datetime, end: datetime, *, check_freezes: bool = True
    ) -> Conflict | None:
        """Why ``m`` may not be in maintenance in [start, end), or None."""
        freezes = self.freezes_for(m.group_id) if check_freezes else []
        return self._conflict(m, start, end, int(start.timestamp()), int(end.timestamp()), freezes)

    def _conflict(
        self,
        m: MachineIn,
        start: datetime,
        end: datetime,
        s: int,
        e: int,
        freezes: list[Freeze],
        days: tuple[Any, Any, Any] | None = None,
    ) -> Conflict | None:
        if freezes:
            frozen = first_freeze(start, end, freezes)
            if frozen is not None:
                why = f"frozen ({frozen.reason})" if frozen.reason else "frozen"
                return Conflict(why, why)
        return self._booked(m, s, e, days or self._days(m))

    def _days(self, m: MachineIn) -> tuple[Any, Any, Any]:
        """The ledger buckets ``m`` is checked against: its own, its host's, its set's."""
        ledger = self.ledger
        return (
            ledger.days_of(("machine", m.id)),
            ledger.days_of(("host", m.host_id)) if m.host_id is not None else None,
            ledger.days_of(("redundancy", m.group_id, m.redundancy)) if m.redundancy else None,
        )

    def _booked(self, m: MachineIn, s: int, e: int, days: tuple[Any, Any, Any]) -> Conflict | None:
        ledger = self.ledger
        own, on_host, in_set = days
        if own and ledger.scan(own, s, e):
            return Conflict("own window", f"{m.name} already has a window then")
        if m.host_id is not None:
            host = self.hosts.get(m.host_id)
            capacity = host.capacity if host else 2
            name = host.name if host else f"#{m.host_id}"
            busy = ledger.scan(on_host, s, e, m.id)
            if len(busy) >= capacity:
                return Conflict(HOST_FULL, host_full(len(busy)), host_full(len(busy), name))
        if m.redundancy and in_set:
            busy = ledger.scan(in_set, s, e, m.id)
            if busy:
                other = min(b.machine_name for b in busy)
                return Conflict(
                    f"redundancy set '{m.redundancy}' busy",
                    f"{other} of redundancy set '{m.redundancy}' is in maintenance then",
                )
        return None

    def book(self, m: MachineIn, start: datetime, end: datetime) -> None:
        s, e = int(start.timestamp()), int(end.timestamp())
        for key in self._keys(m):
            self.ledger.book_ts(key, s, e, m.id, m.name)

    def release(self, m: MachineIn, start: datetime) -> None:
        for key in self._keys(m):
            self.ledger.release(key, start, m.id)

    def find(
        self,
        m: MachineIn,
        policy: Policy,
        needed: int,
        earliest: datetime,
        until: datetime,
        *,
        since: datetime | None = None,
    ) -> tuple[Occurrence | None, list[Skip]]:
        """The first occurrence starting in [earliest, until) that is long enough and free.

        With ``since`` (<= earliest, the same for many calls) the occurrences of [since, until)
        are computed once per policy and shared by every machine of every group using it.
        """
        if since is not None and since <= earliest:
            occs, stamps = self.series(policy, since, until)
            candidates = occs[bisect_left(stamps, int(earliest.timestamp())) :]
        else:
            candidates = list(occurrences(policy, earliest, until))
        skips: list[Skip] = []
        freezes = self.freezes_for(m.group_id)
        days = self._days(m)  # no booking happens during one search
        for occ in candidates:
            if occ.minutes < needed:
                skips.append(Skip(occ, Conflict("too short", f"only {occ.minutes} min")))
                continue
            why = self._conflict(
                m, occ.starts_at, occ.ends_at, occ.start_ts, occ.end_ts, freezes, days
            )
            if why is None:
                return occ, skips
            skips.append(Skip(occ, why))
        return None, skips
