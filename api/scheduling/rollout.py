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
from api.scheduling.planner import ActivityIn, ExtendedWindow, NewWindow, PlanInput, plan
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
    inp = world.plan_input
    now = inp.now
    by_id = {m.id: m for m in world.machines}
    groups = {g.id: g for g in inp.groups}
    machines_in = {m.id: m for m in inp.machines}
    assignment = assign(waves, world.machines)
    hosts_wave = next((i for i, w in enumerate(waves) if w.selector is WaveSelector.HOSTS), None)
    deadline = waves[hosts_wave].starts_at if hosts_wave is not None else None
    conflicts: list[RolloutConflict] = []
    freezes: dict[int | None, list[Freeze]] = defaultdict(list)
    for row in inp.freezes:
        freezes[row.group_id].append(Freeze(row.starts_at, row.ends_at, row.reason))

    def frozen(group_id: int, start: datetime, end: datetime) -> Freeze | None:
        return first_freeze(start, end, [*freezes[None], *freezes[group_id]])

    # 1. system updates at each wave's start: announced now, so they need the group's notice
    late: dict[tuple[int, int], list[int]] = defaultdict(list)
    activities: list[ActivityIn] = []
    wave_of_activity: dict[int, int] = {}
    for i, (spec, ids) in enumerate(zip(waves, assignment.members, strict=True)):
        if spec.selector is WaveSelector.HOSTS:
            continue
        for mid in ids:
            m = by_id[mid]
            g = groups[m.group_id]
            if spec.starts_at < now + timedelta(minutes=g.notice_minutes):
                late[(m.group_id, i)].append(mid)
            if m.kind != "vm":
                continue
            activities.append(
                ActivityIn(
                    -mid,
                    mid,
                    ActivityKind.KERNEL_UPDATE,
                    world.kernel_minutes,
                    True,
                    now,
                    spec.starts_at,
                )
            )
            wave_of_activity[-mid] = i
    for (gid, i), mids in sorted(late.items()):
        g = groups[gid]
        conflicts.append(
            RolloutConflict(
                ConflictKind.NOTICE,
                gid,
                tuple(mids),
                f"wave {i + 1} starts {_local(waves[i].starts_at, g.policy.timezone)}, sooner "
                f"than group {g.name}'s notice of {duration_label(g.notice_minutes)}",
            )
        )

    # 2. kernel activations: the planner, with every forced host reboot booked first
    reboots: list[HostReboot] = []
    if hosts_wave is not None:
        start = waves[hosts_wave].starts_at
        end = start + timedelta(minutes=world.host_reboot_minutes)
        guests: dict[int, list[WaveMachine]] = defaultdict(list)
        for m in sorted(world.machines, key=lambda m: (m.name, m.id)):
            if m.kind == "vm" and m.host_id is not None:
                guests[m.host_id].append(m)
        late_reboot: dict[int, list[int]] = defaultdict(list)
        frozen_reboot: dict[int, list[int]] = defaultdict(list)
        for host_id in assignment.members[hosts_wave]:
            for m in (by_id[host_id], *guests[host_id]):
                reboots.append(HostReboot(m.id, host_id, m.group_id, start, end))
                if start < now + timedelta(minutes=groups[m.group_id].notice_minutes):
                    late_reboot[m.group_id].append(m.id)
                if frozen(m.group_id, start, end):
                    frozen_reboot[m.group_id].append(m.id)
        for gid, mids in sorted(late_reboot.items()):
            g = groups[gid]
            conflicts.append(
                RolloutConflict(
                    ConflictKind.NOTICE,
                    gid,
                    tuple(mids),
                    f"the host reboots {_local(start, g.policy.timezone)}, sooner than group "
                    f"{g.name}'s notice of {duration_label(g.notice_minutes)}",
                )
            )
        for gid, mids in sorted(frozen_reboot.items()):
            g = groups[gid]
            f = frozen(gid, start, end)
            conflicts.append(
                RolloutConflict(
                    ConflictKind.FREEZE,
                    gid,
                    tuple(mids),
                    f"the host reboot {_local(start, g.policy.timezone)} falls in a freeze"
                    + (f" ({f.reason})" if f and f.reason else ""),
                )
            )
    planned = plan(replace(inp, activities=tuple(activities)))
    activations: list[Activation] = []
    made: list[NewWindow | ExtendedWindow] = [*planned.new, *planned.extended]
    for w in made:
        for aid in w.activity_ids:
            i = wave_of_activity[aid]
            joins = w.window_id if isinstance(w, ExtendedWindow) else None
            activations.append(
                Activation(w.machine_id, w.group_id, i, w.starts_at, w.ends_at, w.reason, joins)
            )
            if deadline is not None and w.starts_at >= deadline:
                g = groups[w.group_id]
                conflicts.append(
                    RolloutConflict(
                        ConflictKind.NO_WINDOW,
                        w.group_id,
                        (w.machine_id,),
                        f"{by_id[w.machine_id].name}: no regular window of group {g.name} "
                        f"between its wave and the host reboot "
                        f"{_local(deadline, g.policy.timezone)}; the first is "
                        f"{_local(w.starts_at, g.policy.timezone)}",
                    )
                )
    for b in planned.blocked:
        i = wave_of_activity[b.activity_id]
        m = by_id[b.machine_id]
        activations.append(Activation(m.id, m.group_id, i, None, None, b.reason))
        f = frozen(m.group_id, waves[i].starts_at, deadline or waves[i].starts_at + _WEEK)
        if not machines_in[m.id].auto_schedule:
            kind = ConflictKind.AUTO_SCHEDULE_OFF
        else:
            kind = ConflictKind.FREEZE if f else ConflictKind.NO_WINDOW
        conflicts.append(
            RolloutConflict(
                kind,
                m.group_id,
                (m.id,),
                f"{m.name}: {b.reason}",
            )
        )
    for s in assignment.spread:
        names = ", ".join(by_id[i].name for i in s.machine_ids)
        conflicts.append(
            RolloutConflict(
                ConflictKind.SPREAD,
                s.group_id,
                s.machine_ids,
                f"redundancy set {s.tag} could not be spread: {names} are all in wave "
                f"{s.wave + 1} ({waves[s.wave].name})",
            )
        )

    load: Counter[tuple[int, date]] = Counter()
    tz = zone(operators_zone)
    for a in activations:
        host = by_id[a.machine_id].host_id
        if a.starts_at is not None and host is not None:
            load[(host, a.starts_at.astimezone(tz).date())] += 1
    for r in reboots:
        if r.machine_id != r.host_id:
            load[(r.host_id, r.starts_at.astimezone(tz).date())] += 1
    activations.sort(key=lambda a: (a.wave, by_id[a.machine_id].name))
    return RolloutPlan(
        _summaries(waves, assignment, by_id),
        assignment,
        tuple(activations),
        tuple(reboots),
        tuple(sorted(conflicts, key=lambda c: (c.kind.value, c.group_id, c.machine_ids))),
        tuple((h, d, n) for (h, d), n in sorted(load.items())),
    )


_WEEK = timedelta(days=7)


def _local(instant: datetime, timezone: str) -> str:
    return f"{local_label(instant.astimezone(zone(timezone)))} {timezone}"
