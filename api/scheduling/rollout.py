"""A rollout's plan (pure): waves, what each machine gets and when, conflicts, load.

The same plan is the preview (shown, nothing written) and what an announcement books. Each VM
gets a ``system_update`` at its wave's start (applied in place, no window), a ``kernel_update``
activated by a reboot in the first regular window of its group after its wave (planned by the
ordinary planner with ``not_before`` = the wave's start, so notice, freezes and capacity work
as for any activity), and a forced window for its host's reboot in the host wave.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from enum import StrEnum

from api.kinds import ActivityKind
from api.scheduling.fit import Freeze, first_freeze
from api.scheduling.occurrences import zone
from api.scheduling.planner import ActivityIn, ExtendedWindow, NewWindow, Plan, PlanInput, plan
from api.scheduling.texts import duration_label, local_label
from api.scheduling.waves import Assignment, WaveMachine, WaveSelector, WaveSpec, assign

__all__ = [
    "Activation",
    "ConflictKind",
    "HostReboot",
    "RolloutConflict",
    "RolloutPlan",
    "RolloutWorld",
    "WaveSummary",
    "plan_rollout",
]


class ConflictKind(StrEnum):
    AUTO_SCHEDULE_OFF = "auto_schedule_off"  # the machine's automatic scheduling is off
    NO_WINDOW = "no_window"  # no regular window before the deadline (the host wave)
    FREEZE = "freeze"  # a freeze covers the wave or the host reboot
    NOTICE = "notice"  # an event is sooner than the group's notice period
    SPREAD = "spread"  # a redundancy set could not be spread over waves


@dataclass(frozen=True)
class RolloutWorld:
    """The slice of the directory a rollout is planned over."""

    plan_input: PlanInput  # groups, machines, hosts, planned windows, freezes (no activities)
    machines: tuple[WaveMachine, ...]
    kernel_minutes: int  # a kernel update's estimate
    system_minutes: int  # a system update's estimate
    host_reboot_minutes: int  # a forced host-reboot window's length (with the allowance)
    # a re-plan after a delay or halt: machines of the waves already done (in no wave of this
    # plan, yet rebooted with their host), and hosts whose reboot in this rollout is done (no
    # window again for them or their VMs)
    settled: frozenset[int] = frozenset()
    rebooted: frozenset[int] = frozenset()


@dataclass(frozen=True, slots=True)
class Activation:
    """A VM's kernel activation: its window (None while it cannot be planned)."""

    machine_id: int
    group_id: int
    wave: int
    starts_at: datetime | None
    ends_at: datetime | None
    reason: str
    joins_window: int | None = None  # an existing planned window it is added to


@dataclass(frozen=True, slots=True)
class HostReboot:
    """A forced window for a host's reboot: the host's own, or one of its VMs'."""

    machine_id: int
    host_id: int
    group_id: int
    starts_at: datetime
    ends_at: datetime


@dataclass(frozen=True, slots=True)
class RolloutConflict:
    kind: ConflictKind
    group_id: int
    machine_ids: tuple[int, ...]
    text: str


@dataclass(frozen=True, slots=True)
class WaveSummary:
    spec: WaveSpec
    machine_ids: tuple[int, ...]
    per_group: tuple[tuple[int, int], ...]  # (group id, machines), by group id
    per_host: tuple[tuple[int, int], ...]  # (host id, machines on it, or the host itself)


@dataclass(frozen=True)
class RolloutPlan:
    waves: tuple[WaveSummary, ...]
    assignment: Assignment
    activations: tuple[Activation, ...]
    host_reboots: tuple[HostReboot, ...]
    conflicts: tuple[RolloutConflict, ...]
    load: tuple[tuple[int, date, int], ...]  # (host id, operators' local day, VMs in maintenance)

    @property
    def late_groups(self) -> tuple[int, ...]:
        """Groups whose notice period an announcement now would break."""
        return tuple(sorted({c.group_id for c in self.conflicts if c.kind is ConflictKind.NOTICE}))


def _summaries(
    waves: Sequence[WaveSpec], assignment: Assignment, by_id: dict[int, WaveMachine]
) -> tuple[WaveSummary, ...]:
    out = []
    for spec, ids in zip(waves, assignment.members, strict=True):
        groups = Counter(by_id[i].group_id for i in ids)
        hosts = Counter(
            host
            for i in ids
            if (host := by_id[i].id if by_id[i].kind == "host" else by_id[i].host_id) is not None
        )
        out.append(
            WaveSummary(spec, ids, tuple(sorted(groups.items())), tuple(sorted(hosts.items())))
        )
    return tuple(out)


def plan_rollout(
    world: RolloutWorld, waves: Sequence[WaveSpec], operators_zone: str
) -> RolloutPlan:
    """Plan ``waves`` over ``world`` (``world.plan_input.now`` is now)."""
    ctx = _Planning(world, waves)
    assignment = assign(waves, [m for m in world.machines if m.id not in world.settled])
    # 1. system updates at each wave's start: announced now, so they need the group's notice
    activities, wave_of_activity = ctx.system_updates(assignment)
    # 2. kernel activations: the planner, with every forced host reboot booked first
    reboots = ctx.host_reboots(assignment)
    planned = plan(replace(world.plan_input, activities=tuple(activities)))
    activations = ctx.activations(planned, wave_of_activity)
    ctx.spread(assignment)
    activations.sort(key=lambda a: (a.wave, ctx.by_id[a.machine_id].name))
    return RolloutPlan(
        _summaries(waves, assignment, ctx.by_id),
        assignment,
        tuple(activations),
        tuple(reboots),
        tuple(sorted(ctx.conflicts, key=lambda c: (c.kind.value, c.group_id, c.machine_ids))),
        _load(ctx.by_id, activations, reboots, operators_zone),
    )


class _Planning:
    """One rollout's planning: the world looked up by id, and the conflicts found so far."""

    def __init__(self, world: RolloutWorld, waves: Sequence[WaveSpec]) -> None:
        inp = world.plan_input
        self.world, self.waves, self.now = world, waves, inp.now
        self.by_id = {m.id: m for m in world.machines}
        self.groups = {g.id: g for g in inp.groups}
        self.machines_in = {m.id: m for m in inp.machines}
        self.hosts_wave = next(
            (i for i, w in enumerate(waves) if w.selector is WaveSelector.HOSTS), None
        )
        self.deadline = waves[self.hosts_wave].starts_at if self.hosts_wave is not None else None
        self.conflicts: list[RolloutConflict] = []
        self.freezes: dict[int | None, list[Freeze]] = defaultdict(list)
        for row in inp.freezes:
            self.freezes[row.group_id].append(Freeze(row.starts_at, row.ends_at, row.reason))

    def frozen(self, group_id: int, start: datetime, end: datetime) -> Freeze | None:
        return first_freeze(start, end, [*self.freezes[None], *self.freezes[group_id]])

    def too_soon(self, group_id: int, start: datetime) -> bool:
        return start < self.now + timedelta(minutes=self.groups[group_id].notice_minutes)

    def conflict(self, kind: ConflictKind, gid: int, mids: Sequence[int], text: str) -> None:
        self.conflicts.append(RolloutConflict(kind, gid, tuple(mids), text))

    def notice_text(self, gid: int, event: str, start: datetime) -> str:
        g = self.groups[gid]
        return (
            f"{event} {_local(start, g.policy.timezone)}, sooner than group {g.name}'s notice "
            f"of {duration_label(g.notice_minutes)}"
        )

    def system_updates(self, assignment: Assignment) -> tuple[list[ActivityIn], dict[int, int]]:
        """Each VM's kernel update for the planner (not before its wave), by activity id its
        wave; a wave sooner than a group's notice is a conflict."""
        late: dict[tuple[int, int], list[int]] = defaultdict(list)
        activities: list[ActivityIn] = []
        wave_of_activity: dict[int, int] = {}
        for i, (spec, ids) in enumerate(zip(self.waves, assignment.members, strict=True)):
            if spec.selector is WaveSelector.HOSTS:
                continue
            for mid in ids:
                m = self.by_id[mid]
                if self.too_soon(m.group_id, spec.starts_at):
                    late[(m.group_id, i)].append(mid)
                if m.kind != "vm":
                    continue
                minutes, now = self.world.kernel_minutes, self.now
                kind = ActivityKind.KERNEL_UPDATE
                activities.append(ActivityIn(-mid, mid, kind, minutes, True, now, spec.starts_at))
                wave_of_activity[-mid] = i
        for (gid, i), mids in sorted(late.items()):
            text = self.notice_text(gid, f"wave {i + 1} starts", self.waves[i].starts_at)
            self.conflict(ConflictKind.NOTICE, gid, mids, text)
        return activities, wave_of_activity

    def host_reboots(self, assignment: Assignment) -> list[HostReboot]:
        """Every host of the host wave not yet rebooted in this rollout, and all its VMs (those
        of waves already done too), get a forced window at the wave's start; one too soon for a
        group's notice, or in a freeze, is a conflict."""
        if self.hosts_wave is None:
            return []
        start = self.waves[self.hosts_wave].starts_at
        end = start + timedelta(minutes=self.world.host_reboot_minutes)
        guests: dict[int, list[WaveMachine]] = defaultdict(list)
        for m in sorted(self.world.machines, key=lambda m: (m.name, m.id)):
            if m.kind == "vm" and m.host_id is not None:
                guests[m.host_id].append(m)
        reboots: list[HostReboot] = []
        late: dict[int, list[int]] = defaultdict(list)
        frozen: dict[int, list[int]] = defaultdict(list)
        for host_id in assignment.members[self.hosts_wave]:
            if host_id in self.world.rebooted:
                continue
            for m in (self.by_id[host_id], *guests[host_id]):
                reboots.append(HostReboot(m.id, host_id, m.group_id, start, end))
                if self.too_soon(m.group_id, start):
                    late[m.group_id].append(m.id)
                if self.frozen(m.group_id, start, end):
                    frozen[m.group_id].append(m.id)
        for gid, mids in sorted(late.items()):
            text = self.notice_text(gid, "the host reboots", start)
            self.conflict(ConflictKind.NOTICE, gid, mids, text)
        for gid, mids in sorted(frozen.items()):
            f = self.frozen(gid, start, end)
            text = f"the host reboot {_local(start, self.groups[gid].policy.timezone)} falls in a "
            why = f" ({f.reason})" if f and f.reason else ""
            self.conflict(ConflictKind.FREEZE, gid, mids, f"{text}freeze{why}")
        return reboots

    def activations(self, planned: Plan, wave_of_activity: dict[int, int]) -> list[Activation]:
        """The planner's windows as activations (one after the host reboot is a conflict),
        and its blocked activities as activations without a window (each a conflict)."""
        activations: list[Activation] = []
        made: list[NewWindow | ExtendedWindow] = [*planned.new, *planned.extended]
        for w in made:
            joins = w.window_id if isinstance(w, ExtendedWindow) else None
            for aid in w.activity_ids:
                i = wave_of_activity[aid]
                activations.append(
                    Activation(w.machine_id, w.group_id, i, w.starts_at, w.ends_at, w.reason, joins)
                )
                if self.deadline is not None and w.starts_at >= self.deadline:
                    self.too_late(w.machine_id, w.group_id, w.starts_at, self.deadline)
        for b in planned.blocked:
            i = wave_of_activity[b.activity_id]
            m = self.by_id[b.machine_id]
            activations.append(Activation(m.id, m.group_id, i, None, None, b.reason))
            starts = self.waves[i].starts_at
            f = self.frozen(m.group_id, starts, self.deadline or starts + _WEEK)
            if not self.machines_in[m.id].auto_schedule:
                kind = ConflictKind.AUTO_SCHEDULE_OFF
            else:
                kind = ConflictKind.FREEZE if f else ConflictKind.NO_WINDOW
            self.conflict(kind, m.group_id, (m.id,), f"{m.name}: {b.reason}")
        return activations

    def too_late(self, mid: int, gid: int, first: datetime, deadline: datetime) -> None:
        tz, g = self.groups[gid].policy.timezone, self.groups[gid]
        self.conflict(
            ConflictKind.NO_WINDOW,
            gid,
            (mid,),
            f"{self.by_id[mid].name}: no regular window of group {g.name} "
            f"between its wave and the host reboot {_local(deadline, tz)}; the first is "
            f"{_local(first, tz)}",
        )

    def spread(self, assignment: Assignment) -> None:
        """A redundancy set all in one wave is a conflict."""
        for s in assignment.spread:
            names = ", ".join(self.by_id[i].name for i in s.machine_ids)
            self.conflict(
                ConflictKind.SPREAD,
                s.group_id,
                s.machine_ids,
                f"redundancy set {s.tag} could not be spread: {names} are all in wave "
                f"{s.wave + 1} ({self.waves[s.wave].name})",
            )


def _load(
    by_id: dict[int, WaveMachine],
    activations: Sequence[Activation],
    reboots: Sequence[HostReboot],
    operators_zone: str,
) -> tuple[tuple[int, date, int], ...]:
    """VMs in maintenance per host and operators' local day."""
    load: Counter[tuple[int, date]] = Counter()
    tz = zone(operators_zone)
    for a in activations:
        host = by_id[a.machine_id].host_id
        if a.starts_at is not None and host is not None:
            load[(host, a.starts_at.astimezone(tz).date())] += 1
    for r in reboots:
        if r.machine_id != r.host_id:
            load[(r.host_id, r.starts_at.astimezone(tz).date())] += 1
    return tuple((h, d, n) for (h, d), n in sorted(load.items()))


_WEEK = timedelta(days=7)


def _local(instant: datetime, timezone: str) -> str:
    return f"{local_label(instant.astimezone(zone(timezone)))} {timezone}"
