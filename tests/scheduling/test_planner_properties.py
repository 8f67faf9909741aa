"""Properties of the planner over random worlds."""

from __future__ import annotations

import itertools
import random
from collections import defaultdict
from dataclasses import replace
from datetime import UTC, datetime, time, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from api.scheduling import (
    ActivityIn,
    FreezeIn,
    GroupIn,
    HostIn,
    MachineIn,
    Plan,
    PlanInput,
    Policy,
    WindowIn,
    Work,
    containing,
    needed_minutes,
    plan,
)

ZONES = ["Europe/Berlin", "America/New_York", "Australia/Sydney", "Asia/Kathmandu", "UTC"]
BASE = datetime(2026, 1, 1, tzinfo=UTC)


@st.composite
def worlds(draw: st.DrawFn) -> PlanInput:
    now = BASE + timedelta(minutes=draw(st.integers(0, 2 * 365 * 1440)))
    groups = []
    for gid in range(1, draw(st.integers(1, 3)) + 1):
        policy = Policy(
            draw(st.sampled_from(ZONES)),
            time(draw(st.integers(0, 23)), draw(st.sampled_from([0, 15, 30, 45]))),
            draw(st.sampled_from([30, 60, 120, 240, 600])),
            tuple(sorted(draw(st.sets(st.integers(0, 6), min_size=1)))),
        )
        notice = draw(st.sampled_from([0, 60, 1440, 7 * 1440]))
        groups.append(GroupIn(gid, f"g{gid}", policy, notice))
    hosts = tuple(HostIn(1000 + h, f"kvm{h}", draw(st.integers(1, 3))) for h in range(2))
    machines = []
    for mid in range(1, draw(st.integers(1, 12)) + 1):
        machines.append(
            MachineIn(
                mid,
                f"vm{mid}",
                draw(st.integers(1, len(groups))),
                host_id=draw(st.sampled_from([None, 1000, 1001])),
                redundancy=draw(st.sampled_from([None, None, "db", "web"])),
                auto_schedule=draw(st.booleans()) or draw(st.booleans()),
            )
        )
    activities = []
    for aid in range(1, draw(st.integers(0, 20)) + 1):
        nb = draw(st.none() | st.integers(0, 90 * 1440))
        activities.append(
            ActivityIn(
                aid,
                draw(st.integers(1, len(machines))),
                draw(st.sampled_from(["work", "work", "work", "host_reboot"])),
                draw(st.integers(1, 45)),
                draw(st.booleans()),
                now - timedelta(minutes=draw(st.integers(0, 5000))),
                not_before=None if nb is None else now + timedelta(minutes=nb),
            )
        )
    freezes = []
    for _ in range(draw(st.integers(0, 3))):
        start = now + timedelta(minutes=draw(st.integers(0, 40 * 1440)))
        freezes.append(
            FreezeIn(
                draw(st.sampled_from([None, *range(1, len(groups) + 1)])),
                start,
                start + timedelta(minutes=draw(st.integers(60, 10 * 1440))),
                "freeze",
            )
        )
    return PlanInput(
        now, tuple(groups), tuple(machines), tuple(activities), hosts, (), tuple(freezes)
    )


def apply(inp: PlanInput, result: Plan) -> PlanInput:
    """The input of the next pass after the plan is written (what the service does)."""
    placed = {a for w in result.new for a in w.activity_ids}
    placed |= {a for w in result.extended for a in w.activity_ids}
    reasons = {b.activity_id: b.reason for b in result.blocked}
    by_id = {a.id: a for a in inp.activities}
    windows = {w.id: w for w in inp.windows}
    for x in result.extended:
        old = windows[x.window_id]
        work = tuple(Work(by_id[a].estimate_minutes, by_id[a].needs_reboot) for a in x.activity_ids)
        windows[x.window_id] = replace(
            old, sequence=x.sequence, reason=x.reason, work=old.work + work
        )
    next_id = max(windows, default=0) + 1
    for i, w in enumerate(result.new):
        work = tuple(Work(by_id[a].estimate_minutes, by_id[a].needs_reboot) for a in w.activity_ids)
        windows[next_id + i] = WindowIn(
            next_id + i, w.machine_id, w.starts_at, w.ends_at, reason=w.reason, work=work
        )
    acts = tuple(
        replace(a, blocked_reason=reasons.get(a.id, a.blocked_reason))
        for a in inp.activities
        if a.id not in placed
    )
    return replace(inp, activities=acts, windows=tuple(windows.values()))


@settings(max_examples=150, deadline=None)
@given(worlds())
def test_windows_obey_policy_notice_fit_freezes_capacity_redundancy(inp: PlanInput) -> None:
    result = plan(inp)
    groups = {g.id: g for g in inp.groups}
    machines = {m.id: m for m in inp.machines}
    acts = {a.id: a for a in inp.activities}
    capacity = {h.id: h.capacity for h in inp.hosts}
    placed: list[int] = []
    for w in result.new:
        m, g = machines[w.machine_id], groups[machines[w.machine_id].group_id]
        assert m.auto_schedule
        occ = containing(g.policy, w.starts_at)
        assert occ is not None and (occ.starts_at, occ.ends_at) == (w.starts_at, w.ends_at)
        assert w.starts_at >= inp.now + timedelta(minutes=g.notice_minutes)
        assert w.starts_at < inp.now + timedelta(days=inp.horizon_days)
        mine = [acts[a] for a in w.activity_ids]
        assert all(a.machine_id == m.id for a in mine)
        assert all(a.not_before is None or w.starts_at >= a.not_before for a in mine)
        need = needed_minutes([Work(a.estimate_minutes, a.needs_reboot) for a in mine])
        assert need == w.needed_minutes <= (w.ends_at - w.starts_at).total_seconds() / 60
        for f in inp.freezes:
            if f.group_id in (None, g.id):
                assert w.ends_at <= f.starts_at or w.starts_at >= f.ends_at
        placed.extend(w.activity_ids)
    assert len(placed) == len(set(placed))
    assert len({w.machine_id for w in result.new}) == len(result.new)
    # every queued activity is placed or blocked
    blocked = {b.activity_id for b in result.blocked}
    assert set(placed) | blocked == set(acts)
    # capacity: at each window start, the host's VMs in maintenance never exceed its capacity
    by_host: dict[int, list[tuple[datetime, datetime]]] = defaultdict(list)
    by_set: dict[tuple[int, str], list[tuple[datetime, datetime]]] = defaultdict(list)
    for w in result.new:
        m = machines[w.machine_id]
        if m.host_id is not None:
            by_host[m.host_id].append((w.starts_at, w.ends_at))
        if m.redundancy:
            by_set[(m.group_id, m.redundancy)].append((w.starts_at, w.ends_at))
    for host_id, spans in by_host.items():
        for s, _ in spans:
            assert sum(1 for a, b in spans if a <= s < b) <= capacity[host_id]
    for spans in by_set.values():
        spans.sort()
        for (_, e1), (s2, _) in itertools.pairwise(spans):
            assert e1 <= s2


@settings(max_examples=100, deadline=None)
@given(worlds())
def test_second_pass_changes_nothing(inp: PlanInput) -> None:
    first = plan(inp)
    second = plan(apply(inp, first))
    assert second.empty, second


@settings(max_examples=100, deadline=None)
@given(worlds(), st.randoms(use_true_random=False))
def test_input_order_does_not_matter(inp: PlanInput, rnd: random.Random) -> None:
    def shuffled(items: tuple) -> tuple:  # type: ignore[type-arg]
        out = list(items)
        rnd.shuffle(out)
        return tuple(out)

    other = replace(
        inp,
        groups=shuffled(inp.groups),
        machines=shuffled(inp.machines),
        activities=shuffled(inp.activities),
        hosts=shuffled(inp.hosts),
        freezes=shuffled(inp.freezes),
    )
    assert plan(other) == plan(inp)


@settings(max_examples=60, deadline=None)
@given(worlds(), st.integers(1, 20 * 1440))
def test_later_passes_never_move_planned_windows(inp: PlanInput, later: int) -> None:
    first = plan(inp)
    after = apply(inp, first)
    extra = tuple(ActivityIn(10_000 + m.id, m.id, "more", 5, True, inp.now) for m in inp.machines)
    now = inp.now + timedelta(minutes=later)
    second = plan(replace(after, now=now, activities=after.activities + extra))
    known = {w.id: w for w in after.windows}
    for x in second.extended:
        old = known[x.window_id]
        assert (x.starts_at, x.ends_at) == (old.starts_at, old.ends_at)
        assert x.sequence == old.sequence + 1
        assert old.starts_at >= now
