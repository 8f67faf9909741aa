"""The planner: queued activities + existing windows + policies + now -> a Plan.

Plain frozen values in, plain frozen values out; no database, no clock. The same input gives
the same plan whatever the order of its sequences, and planned windows never move.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from api.kinds import manual_because
from api.scheduling.fit import (
    DEFAULT_REBOOT_ALLOWANCE,
    Freeze,
    Work,
    first_freeze,
    needed_minutes,
)
from api.scheduling.occurrences import Occurrence, Policy, zone
from api.scheduling.slots import HostIn, MachineIn, Skip, SlotFinder
from api.scheduling.texts import day_label, duration_label, local_label

__all__ = [
    "ActivityIn",
    "Blocked",
    "ExtendedWindow",
    "FreezeIn",
    "GroupIn",
    "HostIn",
    "MachineIn",
    "NewWindow",
    "Plan",
    "PlanInput",
    "WindowIn",
    "dst_note",
    "plan",
    "windows_of",
]

HORIZON_DAYS = 60
SHOWN_SKIPS = 3
RECENT_REQUEST = timedelta(days=1)


@dataclass(frozen=True, slots=True)
class GroupIn:
    id: int
    name: str
    policy: Policy
    notice_minutes: int = 7 * 1440


@dataclass(frozen=True, slots=True)
class FreezeIn:
    group_id: int | None  # None: every group
    starts_at: datetime
    ends_at: datetime
    reason: str = ""


@dataclass(frozen=True, slots=True)
class ActivityIn:
    id: int
    machine_id: int
    kind: str
    estimate_minutes: int
    needs_reboot: bool
    requested_at: datetime
    not_before: datetime | None = None
    blocked_reason: str | None = None


@dataclass(frozen=True, slots=True)
class WindowIn:
    """An existing planned or running window and the work it already carries."""

    id: int
    machine_id: int
    starts_at: datetime
    ends_at: datetime
    state: str = "planned"
    sequence: int = 0
    reason: str = ""
    forced: bool = False
    work: tuple[Work, ...] = ()


@dataclass(frozen=True)
class PlanInput:
    now: datetime
    groups: tuple[GroupIn, ...]
    machines: tuple[MachineIn, ...]
    activities: tuple[ActivityIn, ...]  # queued and without a window
    hosts: tuple[HostIn, ...] = ()
    windows: tuple[WindowIn, ...] = ()  # planned or running
    freezes: tuple[FreezeIn, ...] = ()
    reboot_allowance: int = DEFAULT_REBOOT_ALLOWANCE
    horizon_days: int = HORIZON_DAYS


@dataclass(frozen=True, slots=True)
class NewWindow:
    machine_id: int
    group_id: int
    starts_at: datetime
    ends_at: datetime
    reason: str
    activity_ids: tuple[int, ...]
    needed_minutes: int


@dataclass(frozen=True, slots=True)
class ExtendedWindow:
    window_id: int
    machine_id: int
    group_id: int
    starts_at: datetime
    ends_at: datetime
    reason: str
    sequence: int
    activity_ids: tuple[int, ...]
    needed_minutes: int


@dataclass(frozen=True, slots=True)
class Blocked:
    activity_id: int
    machine_id: int
    reason: str


@dataclass(frozen=True)
class Plan:
    new: tuple[NewWindow, ...] = ()
    extended: tuple[ExtendedWindow, ...] = ()
    blocked: tuple[Blocked, ...] = ()  # only activities whose blocked_reason changes
    still_blocked: int = 0  # blocked with an unchanged reason (nothing to write)

    @property
    def empty(self) -> bool:
        return not (self.new or self.extended or self.blocked)


@dataclass
class _Context:
    inp: PlanInput
    groups: dict[int, GroupIn]
    machines: dict[int, MachineIn]
    finder: SlotFinder
    windows_by_machine: dict[int, list[WindowIn]] = field(default_factory=dict)


def _finder(inp: PlanInput, machines: dict[int, MachineIn]) -> SlotFinder:
    freezes: dict[int | None, list[Freeze]] = defaultdict(list)
    for f in inp.freezes:
        freezes[f.group_id].append(Freeze(f.starts_at, f.ends_at, f.reason))
    return SlotFinder(machines, {h.id: h for h in inp.hosts}, freezes)


def plan(inp: PlanInput) -> Plan:
    """Plan every queued activity of machines with automatic scheduling on."""
    machines = {m.id: m for m in inp.machines}
    ctx = _Context(inp, {g.id: g for g in inp.groups}, machines, _finder(inp, machines))
    for w in sorted(inp.windows, key=lambda w: (w.starts_at, w.id)):
        m = machines.get(w.machine_id)
        if m is not None:
            ctx.finder.book(m, w.starts_at, w.ends_at)
            ctx.windows_by_machine.setdefault(m.id, []).append(w)

    queued: dict[int, list[ActivityIn]] = defaultdict(list)
    for a in inp.activities:
        queued[a.machine_id].append(a)
    order = sorted(queued, key=lambda mid: (min(a.requested_at for a in queued[mid]), mid))
    new: list[NewWindow] = []
    extended: list[ExtendedWindow] = []
    blocked: list[Blocked] = []
    unchanged = 0
    for mid in order:
        acts = sorted(queued[mid], key=lambda a: a.id)
        manual = {a.id: why for a in acts if (why := manual_because(a.kind)) is not None}
        waiting = [(a, manual[a.id]) for a in acts if a.id in manual]
        acts = [a for a in acts if a.id not in manual]
        outcome = _plan_machine(ctx, mid, acts) if acts else None
        if isinstance(outcome, NewWindow):
            new.append(outcome)
        elif isinstance(outcome, ExtendedWindow):
            extended.append(outcome)
        elif outcome is not None:
            waiting.extend((a, outcome) for a in acts)
        for a, why in waiting:
            if a.blocked_reason != why:
                blocked.append(Blocked(a.id, mid, why))
            else:
                unchanged += 1
    return Plan(tuple(new), tuple(extended), tuple(blocked), unchanged)


def _plan_machine(
    ctx: _Context, mid: int, acts: list[ActivityIn]
) -> NewWindow | ExtendedWindow | str:
    inp = ctx.inp
    m = ctx.machines.get(mid)
    if m is None:
        return "the machine is unknown to the scheduler"
    group = ctx.groups[m.group_id]
    policy = group.policy
    if not m.auto_schedule:
        return (
            f"automatic scheduling is off for {m.name}; "
            "it waits until an operator schedules it by hand"
        )
    work = [Work(a.estimate_minutes, a.needs_reboot) for a in acts]
    needed = needed_minutes(work, inp.reboot_allowance)
    notice_from = inp.now + timedelta(minutes=group.notice_minutes)
    not_before = max((a.not_before for a in acts if a.not_before), default=None)
    earliest = max(notice_from, not_before) if not_before else notice_from

    joined = _join(ctx, m, group, acts, work, earliest)
    if joined is not None:
        return joined

    if needed > policy.window_minutes:
        return f"needs {needed} min; the {policy.label} window is {policy.window_minutes} min"
    if not policy.weekdays:
        return f"the {policy.label} window has no allowed weekday"
    until = inp.now + timedelta(days=inp.horizon_days)
    tz = zone(policy.timezone)
    if notice_from >= until:
        return (
            f"the group's notice of {duration_label(group.notice_minutes)} reaches beyond the "
            f"{inp.horizon_days}-day planning horizon, so no window can be planned "
            "automatically; shorten the notice or schedule it by hand"
        )
    if earliest >= until:
        return (
            f"not before {local_label(earliest.astimezone(tz), year=True)} {policy.timezone}, "
            f"beyond the "
            f"{inp.horizon_days}-day planning horizon; it is planned when that date comes closer"
        )
    occ, skips = ctx.finder.find(m, policy, needed, earliest, until, since=inp.now)
    if occ is None:
        return _nothing_fits(policy, earliest, until, skips, inp.horizon_days)
    ctx.finder.book(m, occ.starts_at, occ.ends_at)
    reason = _reason(inp.now, group, acts, earliest, notice_from, occ, skips)
    return NewWindow(
        mid, group.id, occ.starts_at, occ.ends_at, reason, tuple(a.id for a in acts), needed
    )


def _join(
    ctx: _Context,
    m: MachineIn,
    group: GroupIn,
    acts: list[ActivityIn],
    work: list[Work],
    earliest: datetime,
) -> ExtendedWindow | None:
    for w in ctx.windows_by_machine.get(m.id, ()):
        if w.state != "planned" or w.forced or w.starts_at < earliest:
            continue
        if first_freeze(w.starts_at, w.ends_at, ctx.finder.freezes_for(m.group_id)):
            continue  # frozen since it was planned: no more work goes into it
        total = needed_minutes([*w.work, *work], ctx.inp.reboot_allowance)
        length = int((w.ends_at - w.starts_at).total_seconds() // 60)
        if total > length:
            continue
        first_line = w.reason.split("\n", 1)[0]
        added = ", ".join(sorted({a.kind.replace("_", " ") for a in acts}))
        when = local_label(ctx.inp.now.astimezone(zone(group.policy.timezone)))
        away = (
            f"still at least {duration_label(group.notice_minutes)} away; "
            if group.notice_minutes
            else ""
        )
        reason = (
            f"{first_line}\n{when}: {added} added to this planned window "
            f"({away}the work now needs {total} of {length} min)"
        )
        return ExtendedWindow(
            w.id,
            m.id,
            group.id,
            w.starts_at,
            w.ends_at,
            reason,
            w.sequence + 1,
            tuple(a.id for a in acts),
            total,
        )
    return None


def _reason(
    now: datetime,
    group: GroupIn,
    acts: list[ActivityIn],
    earliest: datetime,
    notice_from: datetime,
    occ: Occurrence,
    skips: list[Skip],
) -> str:
    policy = group.policy
    tz = zone(policy.timezone)
    if earliest > notice_from:
        head = (
            f"first {policy.label} window on or after "
            f"{local_label(earliest.astimezone(tz))} (not before, as requested)"
        )
    else:
        latest_request = max(a.requested_at for a in acts)
        since = (
            "the request"
            if now - latest_request <= RECENT_REQUEST
            else local_label(now.astimezone(tz))
        )
        notice = duration_label(group.notice_minutes)
        gap = f"at least {notice} after" if group.notice_minutes else "after"
        head = f"first {policy.label} window {gap} {since}"
    parts = [head]
    for s in skips[:SHOWN_SKIPS]:
        parts.append(f"{day_label(s.occurrence.local_date)} skipped: {s.conflict.text}")
    if len(skips) > SHOWN_SKIPS:
        parts.append(f"{len(skips) - SHOWN_SKIPS} more skipped")
    dst = dst_note(policy, occ)
    if dst:
        parts.append(dst)
    return "; ".join(parts)


def dst_note(policy: Policy, occ: Occurrence) -> str:
    """A customer-readable note when a clock change touches this occurrence, else ''."""
    if not occ.start_moved and not occ.clock_shift:
        return ""
    span = f"{occ.local_start:%H:%M}-{occ.local_end:%H:%M} local time"
    if occ.start_moved:
        nominal = f"{policy.window_start:%H:%M}"
        return f"clock change: {nominal} does not exist that day, so the window is {span}"
    if occ.clock_shift > 0:
        return f"clock change: the clock moves forward during the window ({span})"
    if occ.clock_shift < 0:
        return f"clock change: the clock moves back during the window ({span})"
    return ""


def _nothing_fits(
    policy: Policy, earliest: datetime, until: datetime, skips: list[Skip], horizon: int
) -> str:
    tz = zone(policy.timezone)
    first = day_label(earliest.astimezone(tz).date())
    last = day_label(until.astimezone(tz).date())
    if not skips:
        return f"no {policy.label} window from {first} to {last} (planning horizon {horizon} days)"
    counts = Counter(s.conflict.category for s in skips)
    causes = "; ".join(
        f"{n} {'day' if n == 1 else 'days'} {cat}" for cat, n in sorted(counts.items())
    )
    return f"no {policy.label} window from {first} to {last} fits: {causes}"


def windows_of(plan_: Plan) -> Iterable[NewWindow | ExtendedWindow]:
    yield from plan_.new
    yield from plan_.extended
