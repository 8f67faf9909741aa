"""Rollout waves: the seed's template, validation, stratified assignment on random directories."""

from __future__ import annotations

import math
import random
from collections import Counter, defaultdict
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from hypothesis import given, settings
from hypothesis import strategies as st

from api.scheduling.waves import (
    Assignment,
    WaveMachine,
    WaveSelector,
    WaveSpec,
    assign,
    check_assignment,
    default_waves,
    monday_of,
    validate_waves,
)

ZoneBerlin = ZoneInfo("Europe/Berlin")
NOW = datetime(2011, 8, 22, 9, 0, tzinfo=UTC)
WEEK = date(2011, 8, 31)  # a Wednesday: the template takes that week's Monday


def test_default_template_is_the_seeds_week_in_the_operators_zone() -> None:
    waves = default_waves(WEEK, "Europe/Berlin")
    local = [(w.selector, w.starts_at.astimezone(ZoneBerlin)) for w in waves]
    assert [(s.value, f"{t:%a %d %H:%M}") for s, t in local] == [
        ("infrastructure", "Mon 29 07:00"),
        ("representative", "Mon 29 19:00"),
        ("percent", "Tue 30 19:00"),
        ("percent", "Wed 31 19:00"),
        ("rest", "Thu 01 19:00"),
        ("hosts", "Sat 03 09:00"),
    ]
    assert [w.percent for w in waves] == [None, None, 20, 30, None, None]
    assert waves[0].threshold == 0.0  # infrastructure: any failure halts
    assert all(w.threshold == 0.05 for w in waves[1:])
    assert waves[0].starts_at == datetime(2011, 8, 29, 5, 0, tzinfo=UTC)  # CEST is UTC+2
    assert validate_waves(waves, NOW) == []
    assert monday_of(date(2011, 9, 4)) == date(2011, 8, 29)


def test_validation_returns_every_problem() -> None:
    good = default_waves(WEEK, "UTC")
    bad = list(good)
    bad[0] = replace(bad[0], starts_at=NOW - timedelta(hours=1))  # in the past
    bad[2] = replace(bad[2], percent=80)  # 80 + 30 > 100
    bad[3] = replace(bad[3], starts_at=bad[1].starts_at)  # out of order
    bad[4] = replace(bad[4], threshold=1.5)  # over 100 %
    errors = validate_waves(bad, NOW)
    fields = Counter(e.field for e in errors)
    assert fields == {
        "waves[0].startsAt": 1,
        "waves[3].startsAt": 1,
        "waves[4].failureThreshold": 1,
        "waves": 1,
    }
    text = "; ".join(str(e) for e in errors)
    assert "in the past" in text and "out of order" in text
    assert "110 %, over 100 %" in text and "between 0 and 100 %" in text


def test_validation_refuses_duplicate_and_malformed_waves() -> None:
    good = default_waves(WEEK, "UTC")
    twice = [*good, replace(good[-1], starts_at=good[-1].starts_at + timedelta(days=1))]
    assert [e.field for e in validate_waves(twice, NOW)] == ["waves[6].selector"]
    assert [e.field for e in validate_waves([], NOW)] == ["waves"]
    odd = [replace(good[0], percent=5), replace(good[2], starts_at=good[1].starts_at, percent=0)]
    assert {e.field for e in validate_waves(odd, NOW)} == {"waves[0].percent", "waves[1].percent"}
    soaked = [good[0], replace(good[1], starts_at=good[0].starts_at + timedelta(hours=1))]
    assert "soak time" in str(validate_waves(soaked, NOW)[0])


def test_an_empty_wave_is_a_problem() -> None:
    waves = default_waves(WEEK, "UTC")
    vms = [WaveMachine(i, f"vm{i:02d}", "vm", 1, 100) for i in range(10)]
    host = WaveMachine(100, "host", "host", 1)
    result = assign(waves, [*vms, host])
    assert [len(ids) for ids in result.members] == [0, 0, 2, 3, 5, 1]
    assert [e.field for e in check_assignment(waves, result)] == ["waves[0]", "waves[1]"]


# --- properties on random directories -------------------------------------------------------


@st.composite
def directories(draw: st.DrawFn) -> tuple[tuple[WaveSpec, ...], list[WaveMachine]]:
    first = draw(st.integers(1, 60))
    second = draw(st.integers(1, 100 - first))
    waves = list(default_waves(WEEK, "UTC"))
    waves[2] = replace(waves[2], percent=first)
    waves[3] = replace(waves[3], percent=second)
    n_groups = draw(st.integers(1, 6))
    n_hosts = draw(st.integers(1, 5))
    machines = [WaveMachine(1000 + h, f"host{h}", "host", 1) for h in range(n_hosts)]
    n_infra = draw(st.integers(0, 2))
    machines += [WaveMachine(2000 + i, f"infra{i}", "infrastructure", 1) for i in range(n_infra)]
    for i in range(draw(st.integers(0, 80))):
        machines.append(
            WaveMachine(
                i,
                f"vm{draw(st.integers(0, 10**6)):07d}-{i}",
                "vm",
                draw(st.integers(1, n_groups)),
                1000 + draw(st.integers(0, n_hosts - 1)),
                draw(st.sampled_from([None, None, "db", "web"])),
                draw(st.booleans()) and draw(st.booleans()) and draw(st.booleans()),
            )
        )
    return tuple(waves), machines


def _share_waves(waves: tuple[WaveSpec, ...]) -> dict[int, float]:
    shares = {i: w.percent / 100 for i, w in enumerate(waves) if w.percent}
    shares[4] = 1 - sum(shares.values())
    return shares


@settings(max_examples=150, deadline=None)
@given(directories(), st.randoms(use_true_random=False))
def test_assignment_is_deterministic_and_complete(
    world: tuple[tuple[WaveSpec, ...], list[WaveMachine]], rnd: random.Random
) -> None:
    waves, machines = world
    result = assign(waves, machines)
    shuffled = list(machines)
    rnd.shuffle(shuffled)
    assert assign(waves, shuffled) == result
    every = [mid for ids in result.members for mid in ids]
    assert sorted(every) == sorted(m.id for m in machines)  # each machine exactly once
    assert result.unplaced == ()
    by_id = {m.id: m for m in machines}
    for i, ids in enumerate(result.members):
        for mid in ids:
            m = by_id[mid]
            expected = {
                "infrastructure": WaveSelector.INFRASTRUCTURE,
                "host": WaveSelector.HOSTS,
            }.get(m.kind)
            if expected is None:
                expected = WaveSelector.REPRESENTATIVE if m.representative else None
            if expected is not None:
                assert waves[i].selector is expected, (m, waves[i])
            else:
                assert waves[i].selector in (WaveSelector.PERCENT, WaveSelector.REST)


def _ordinary(machines: list[WaveMachine]) -> list[WaveMachine]:
    return [m for m in machines if m.kind == "vm" and not m.representative]


@settings(max_examples=150, deadline=None)
@given(directories())
def test_each_wave_takes_its_share_of_every_group_and_host(
    world: tuple[tuple[WaveSpec, ...], list[WaveMachine]],
) -> None:
    waves, tagged = world
    # Spreading redundancy sets comes before balancing hosts; this property is about the shares.
    machines = [replace(m, redundancy=None) for m in tagged]
    result = assign(waves, machines)
    shares = _share_waves(waves)
    vms = _ordinary(machines)
    per_group: dict[int, int] = Counter(m.group_id for m in vms)
    per_host: dict[int | None, int] = Counter(m.host_id for m in vms)
    in_group: dict[tuple[int, int], int] = Counter()
    on_host: dict[tuple[int | None, int], int] = Counter()
    total: dict[int, int] = Counter()
    by_id = {m.id: m for m in vms}
    for w in shares:
        for mid in result.members[w]:
            in_group[(by_id[mid].group_id, w)] += 1
            on_host[(by_id[mid].host_id, w)] += 1
            total[w] += 1
    for w, share in shares.items():
        # every group: its exact share rounded down or up
        for g, n in per_group.items():
            assert math.floor(share * n - 1e-9) <= in_group[(g, w)] <= math.ceil(share * n + 1e-9)
        # all VMs: within one machine of the share
        assert abs(total[w] - share * len(vms)) < 1 + 1e-9
        # every host: the VMs of one group on one host are a run of the group's evenly
        # interleaved waves, so each group on the host adds less than two machines of rounding
        for h, n in per_host.items():
            groups_on_host = len({m.group_id for m in vms if m.host_id == h})
            assert abs(on_host[(h, w)] - share * n) < 2 * groups_on_host, (h, w)


@settings(max_examples=150, deadline=None)
@given(directories())
def test_redundancy_sets_are_spread_wherever_possible(
    world: tuple[tuple[WaveSpec, ...], list[WaveMachine]],
) -> None:
    waves, machines = world
    result: Assignment = assign(waves, machines)
    by_id = {m.id: m for m in machines}
    shares = _share_waves(waves)
    holds: dict[tuple[int, int], list[WaveMachine]] = defaultdict(list)
    for w in shares:
        for mid in result.members[w]:
            holds[(by_id[mid].group_id, w)].append(by_id[mid])
    reported = {(c.group_id, c.tag, c.wave) for c in result.spread}
    for m in machines:
        if not m.redundancy:
            continue
        mates = [x for x in machines if (x.group_id, x.redundancy) == (m.group_id, m.redundancy)]
        waves_of = Counter(result.wave_of(x.id) for x in mates)
        for w, n in waves_of.items():
            if n < 2:
                continue
            assert (m.group_id, m.redundancy, w) in reported
            if w not in shares:
                continue  # representatives share their wave by their flag
            # A shared wave is forced: no wave of the group holds only untagged VMs while
            # lacking a member of this set (a swap with one of them would spread the set).
            for (g, other), held in holds.items():
                if g != m.group_id or other == w or other in waves_of:
                    continue
                assert any(x.redundancy for x in held), (m, w, other)
