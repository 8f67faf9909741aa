"""Rollout waves (pure): the seed's default template, validation, and machine assignment.

Plain frozen values in and out; no database, no clock (``now`` is a parameter).

Assignment is deterministic (machines are taken in name order, ties broken by wave position)
and stratified:

- infrastructure machines go to the infrastructure wave, VM hosts to the host wave, VMs flagged
  representative to the representative wave;
- the other VMs of every group are shared between the percentage waves and the rest wave:
  each group's count in a wave is its share rounded down or up (largest remainder, ties given
  to the wave furthest behind its share of all VMs so far), so the totals stay near the shares
  too;
- inside a group the members of redundancy sets are placed first (largest set first), each in a
  wave that holds no member of its set while one with room is left; then the group's VMs, in
  host order, take the group's quotas evenly interleaved (the wave furthest behind its quota
  so far first, then the one furthest behind its share of the VM's host), so each host gets
  its share of every group as near as the group's rounding allows.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum

from api.errors import FieldError
from api.scheduling.occurrences import resolve_local, zone
from api.scheduling.texts import duration_label, local_label

__all__ = [
    "DEFAULT_THRESHOLD",
    "TEMPLATE",
    "Assignment",
    "SpreadConflict",
    "WaveMachine",
    "WaveSelector",
    "WaveSpec",
    "assign",
    "check_assignment",
    "default_waves",
    "monday_of",
    "validate_waves",
]

DEFAULT_THRESHOLD = 0.05  # 5 % of a wave's machines failing halts the rollout


class WaveSelector(StrEnum):
    """Which machines a wave takes."""

    INFRASTRUCTURE = "infrastructure"  # machines of kind infrastructure
    REPRESENTATIVE = "representative"  # VMs flagged representative (the canaries)
    PERCENT = "percent"  # a share of all other VMs
    REST = "rest"  # the VMs no earlier wave took
    HOSTS = "hosts"  # the VM hosts themselves (host reboots)


# Selectors a rollout has at most once.
_SINGLE = frozenset(s for s in WaveSelector if s is not WaveSelector.PERCENT)


@dataclass(frozen=True, slots=True)
class WaveSpec:
    name: str
    selector: WaveSelector
    starts_at: datetime  # UTC, aware
    percent: int | None = None  # only for PERCENT
    threshold: float = DEFAULT_THRESHOLD  # a fraction of the wave's machines, 0..1
    soak_minutes: int = 0  # how long the next wave waits after this one starts


@dataclass(frozen=True, slots=True)
class _Step:
    name: str
    selector: WaveSelector
    percent: int | None
    day: int  # days after the Monday
    at: time  # operators' local time
    threshold: float
    soak_minutes: int


# The seed's order of events (times in the operators' zone, the week's Monday as day 0).
TEMPLATE: tuple[_Step, ...] = (
    _Step("Infrastructure", WaveSelector.INFRASTRUCTURE, None, 0, time(7), 0.0, 6 * 60),
    _Step("Representative set", WaveSelector.REPRESENTATIVE, None, 0, time(19), 0.05, 12 * 60),
    _Step("20 % of all VMs", WaveSelector.PERCENT, 20, 1, time(19), 0.05, 12 * 60),
    _Step("30 % of all VMs", WaveSelector.PERCENT, 30, 2, time(19), 0.05, 12 * 60),
    _Step("The remaining VMs", WaveSelector.REST, None, 3, time(19), 0.05, 12 * 60),
    _Step("VM hosts", WaveSelector.HOSTS, None, 5, time(9), 0.05, 0),
)


def monday_of(day: date) -> date:
    """The Monday of ``day``'s week."""
    return day - timedelta(days=day.weekday())


def default_waves(week: date, timezone: str) -> tuple[WaveSpec, ...]:
    """The seed's waves in the week of ``week``, at their local times in ``timezone``."""
    monday = monday_of(week)
    tz = zone(timezone)
    specs = []
    for s in TEMPLATE:
        local = datetime.combine(monday + timedelta(days=s.day), s.at)
        starts_at, _ = resolve_local(local, tz)
        specs.append(
            WaveSpec(s.name, s.selector, starts_at, s.percent, s.threshold, s.soak_minutes)
        )
    return tuple(specs)


def _when(dt: datetime) -> str:
    return f"{local_label(dt.astimezone(UTC), year=True)} UTC"


def validate_waves(waves: Sequence[WaveSpec], now: datetime) -> list[FieldError]:
    """Every problem of ``waves`` (empty when they are fine)."""
    errors: list[FieldError] = []
    if not waves:
        return [FieldError("waves", "a rollout needs at least one wave")]
    seen: dict[WaveSelector, int] = {}
    total = 0
    for i, w in enumerate(waves):
        at = f"waves[{i}]"
        if not w.name.strip() or len(w.name) > 100:
            errors.append(FieldError(f"{at}.name", "a wave needs a name of 1 to 100 characters"))
        if w.starts_at.tzinfo is None:
            errors.append(FieldError(f"{at}.startsAt", "needs a time zone"))
            continue
        errors += _timing_problems(waves, i, now) + _shape_problems(w, at)
        if w.selector is WaveSelector.PERCENT and w.percent is not None and 1 <= w.percent <= 100:
            total += w.percent
        if w.selector in _SINGLE:
            if w.selector in seen:
                errors.append(
                    FieldError(
                        f"{at}.selector",
                        f"a rollout has one {w.selector.value} wave (wave {seen[w.selector] + 1})",
                    )
                )
            seen.setdefault(w.selector, i)
    if total > 100:
        errors.append(FieldError("waves", f"the percentages total {total} %, over 100 %"))
    return errors


def _timing_problems(waves: Sequence[WaveSpec], i: int, now: datetime) -> list[FieldError]:
    """Wave ``i`` starts in the future, after the wave before it and its soak time."""
    w, at = waves[i], f"waves[{i}].startsAt"
    errors = []
    if w.starts_at <= now:
        errors.append(FieldError(at, f"{_when(w.starts_at)} is in the past"))
    prev = waves[i - 1] if i else None
    if prev is None or prev.starts_at.tzinfo is None:
        return errors
    if w.starts_at <= prev.starts_at:
        errors.append(
            FieldError(
                at,
                f"waves out of order: {_when(w.starts_at)} is not after wave "
                f"{i} ({_when(prev.starts_at)})",
            )
        )
    elif w.starts_at < prev.starts_at + timedelta(minutes=max(prev.soak_minutes, 0)):
        errors.append(
            FieldError(
                at,
                f"starts before the {duration_label(prev.soak_minutes)} soak time of wave {i} ends",
            )
        )
    return errors


def _shape_problems(w: WaveSpec, at: str) -> list[FieldError]:
    """The wave's threshold, soak time and percentage."""
    errors = []
    if not 0.0 <= w.threshold <= 1.0:
        errors.append(
            FieldError(f"{at}.failureThreshold", "a failure threshold is between 0 and 100 %")
        )
    if w.soak_minutes < 0:
        errors.append(FieldError(f"{at}.soakMinutes", "a soak time cannot be negative"))
    if w.selector is WaveSelector.PERCENT:
        if w.percent is None or not 1 <= w.percent <= 100:
            errors.append(FieldError(f"{at}.percent", "a percentage wave takes 1 to 100 %"))
    elif w.percent is not None:
        errors.append(FieldError(f"{at}.percent", "only a percentage wave has a percentage"))
    return errors


@dataclass(frozen=True, slots=True)
class WaveMachine:
    id: int
    name: str
    kind: str  # infrastructure | host | vm
    group_id: int
    host_id: int | None = None
    redundancy: str | None = None
    representative: bool = False


@dataclass(frozen=True, slots=True)
class SpreadConflict:
    """Members of one redundancy set that had to share a wave."""

    group_id: int
    tag: str
    wave: int  # index into the waves
    machine_ids: tuple[int, ...]


@dataclass(frozen=True)
class Assignment:
    members: tuple[tuple[int, ...], ...]  # machine ids per wave, in name order
    unplaced: tuple[int, ...] = ()  # machines no wave takes
    spread: tuple[SpreadConflict, ...] = ()
    _wave_of: dict[int, int] = field(default_factory=dict, compare=False, repr=False)

    def wave_of(self, machine_id: int) -> int | None:
        if not self._wave_of:
            for i, ids in enumerate(self.members):
                for mid in ids:
                    self._wave_of[mid] = i
        return self._wave_of.get(machine_id)


def _index(waves: Sequence[WaveSpec], selector: WaveSelector) -> int | None:
    return next((i for i, w in enumerate(waves) if w.selector is selector), None)


def _shares(waves: Sequence[WaveSpec]) -> list[tuple[int | None, float]]:
    """(wave index or None for 'no wave', share) for the waves sharing the ordinary VMs."""
    shares: list[tuple[int | None, float]] = []
    total = 0
    for i, w in enumerate(waves):
        if w.selector is WaveSelector.PERCENT and w.percent:
            shares.append((i, w.percent / 100))
            total += w.percent
    left = max(0, 100 - total) / 100
    if left:
        shares.append((_index(waves, WaveSelector.REST), left))
    return shares


def _quotas(
    n: int,
    shares: list[tuple[int | None, float]],
    seen: int,
    done: dict[int | None, int],
) -> dict[int | None, int]:
    """Split ``n`` machines by ``shares``: each gets its share rounded down or up."""
    exact = {w: s * n for w, s in shares}
    quota = {w: int(exact[w] + 1e-9) for w in exact}
    extra = n - sum(quota.values())
    after = seen + n

    def behind(w: int | None) -> tuple[float, float, int]:
        share = dict(shares)[w]
        return (
            -(share * after - done.get(w, 0) - quota[w]),
            -(exact[w] - quota[w]),
            -1 if w is None else w,
        )

    ranked = sorted(exact, key=lambda w: (exact[w] - quota[w] <= 1e-9, behind(w)))
    for i in range(extra):  # float shares may leave more over than there are fractions
        quota[ranked[i % len(ranked)]] += 1
    return quota


def assign(waves: Sequence[WaveSpec], machines: Iterable[WaveMachine]) -> Assignment:
    """Which wave each machine goes in (see the module's docstring for the rules)."""
    ordered = sorted(machines, key=lambda m: (m.name, m.id))
    infra = _index(waves, WaveSelector.INFRASTRUCTURE)
    hosts = _index(waves, WaveSelector.HOSTS)
    rep = _index(waves, WaveSelector.REPRESENTATIVE)
    shares = _shares(waves)
    placed: dict[int | None, list[WaveMachine]] = defaultdict(list)
    pool: dict[int, list[WaveMachine]] = defaultdict(list)
    for m in ordered:
        if m.kind == "infrastructure":
            placed[infra].append(m)
        elif m.kind == "host":
            placed[hosts].append(m)
        elif m.representative and rep is not None:
            placed[rep].append(m)
        elif shares:
            pool[m.group_id].append(m)
        else:
            placed[None].append(m)

    # Members already in a fixed wave count for spreading their sets.
    set_waves: dict[tuple[int, str], set[int | None]] = defaultdict(set)
    for w, ms in placed.items():
        for m in ms:
            if m.redundancy:
                set_waves[(m.group_id, m.redundancy)].add(w)

    host_total: dict[int | None, int] = defaultdict(int)
    for ms in pool.values():
        for m in ms:
            host_total[m.host_id] += 1
    share_of = dict(shares)
    host_count: dict[tuple[int | None, int | None], int] = defaultdict(int)
    done: dict[int | None, int] = defaultdict(int)
    seen = 0
    for gid in sorted(pool):
        vms = pool[gid]
        quota = _quotas(len(vms), shares, seen, done)
        seen += len(vms)
        for w, q in quota.items():
            done[w] += q
        room = dict(quota)
        sets: dict[str, list[WaveMachine]] = defaultdict(list)
        plain: list[WaveMachine] = []
        for m in vms:
            (sets[m.redundancy] if m.redundancy else plain).append(m)
        order = [m for tag in sorted(sets, key=lambda t: (-len(sets[t]), t)) for m in sets[tag]]
        order += sorted(plain, key=lambda m: (m.host_id or 0, m.name, m.id))
        for m, w in _interleave(order, room, set_waves, share_of, host_total, host_count):
            placed[w].append(m)

    members = tuple(
        tuple(m.id for m in sorted(placed.get(i, []), key=lambda m: (m.name, m.id)))
        for i in range(len(waves))
    )
    unplaced = tuple(m.id for m in sorted(placed.get(None, []), key=lambda m: (m.name, m.id)))
    return Assignment(members, unplaced, _spread_conflicts(placed))


def _interleave(
    order: list[WaveMachine],
    room: dict[int | None, int],
    set_waves: dict[tuple[int, str], set[int | None]],
    share_of: dict[int | None, float],
    host_total: dict[int | None, int],
    host_count: dict[tuple[int | None, int | None], int],
) -> Iterable[tuple[WaveMachine, int | None]]:
    """One group's VMs into its quotas ``room``: sets spread, then waves evenly interleaved."""
    quota = dict(room)
    count: dict[int | None, int] = defaultdict(int)
    n = len(order)
    for k, m in enumerate(order, start=1):
        taken = set_waves[(m.group_id, m.redundancy)] if m.redundancy else set()
        best: tuple[bool, float, float, int] | None = None
        chosen: int | None = None
        for w, left in room.items():
            if left <= 0:
                continue
            behind_group = quota[w] * k / n - count[w]
            behind_host = share_of[w] * host_total[m.host_id] - host_count[(m.host_id, w)]
            key = (w in taken, -behind_group, -behind_host, -1 if w is None else w)
            if best is None or key < best:
                best, chosen = key, w
        room[chosen] -= 1
        count[chosen] += 1
        host_count[(m.host_id, chosen)] += 1
        taken.add(chosen)
        yield m, chosen


def _spread_conflicts(placed: dict[int | None, list[WaveMachine]]) -> tuple[SpreadConflict, ...]:
    together: dict[tuple[int, str, int], list[int]] = defaultdict(list)
    for w, ms in placed.items():
        if w is None:
            continue
        for m in ms:
            if m.redundancy:
                together[(m.group_id, m.redundancy, w)].append(m.id)
    return tuple(
        SpreadConflict(gid, tag, w, tuple(sorted(ids)))
        for (gid, tag, w), ids in sorted(together.items())
        if len(ids) > 1
    )


def check_assignment(waves: Sequence[WaveSpec], assignment: Assignment) -> list[FieldError]:
    """An empty wave is a problem: it would announce a step that does nothing."""
    return [
        FieldError(f"waves[{i}]", f"wave {i + 1} ({w.name}) takes no machine")
        for i, (w, ids) in enumerate(zip(waves, assignment.members, strict=True))
        if not ids
    ]
