"""The wave engine's pure core: the gate, and the step function over random wave outcomes."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from api.scheduling.engine import (
    Failure,
    StepKind,
    Tally,
    WaveView,
    cutoffs,
    decide,
    effective_starts,
    gate,
)
from api.scheduling.waves import WaveSelector

T0 = datetime(2026, 12, 7, 6, 0, tzinfo=UTC)


def wave(
    pos: int,
    selector: WaveSelector = WaveSelector.PERCENT,
    *,
    state: str = "pending",
    hours: float = 0,
    soak: int = 60,
    threshold: float = 0.05,
) -> WaveView:
    return WaveView(
        pos, pos, f"w{pos}", selector, state, T0 + timedelta(hours=hours), soak, threshold
    )


def tally(done: int, failed: int, unfinished: int = 0) -> Tally:
    return Tally(
        done + failed + unfinished,
        done,
        failed,
        unfinished,
        tuple(Failure(f"vm{i}", "exit 1") for i in range(failed)),
    )


def test_gate_threshold_is_inclusive() -> None:
    w = wave(2, WaveSelector.REPRESENTATIVE, threshold=0.2)
    assert gate(w, tally(8, 2)).passed  # exactly 20 %
    v = gate(w, tally(7, 3))
    assert not v.passed and "3 of 10 updates failed (30%)" in v.reason


def test_infrastructure_fails_on_any_failure() -> None:
    w = wave(1, WaveSelector.INFRASTRUCTURE, threshold=0.5)
    assert gate(w, tally(99, 0)).passed
    v = gate(w, tally(99, 1))
    assert not v.passed and "allows none" in v.reason


def test_unfinished_at_the_end_of_the_soak_fails() -> None:
    v = gate(wave(3), tally(100, 0, unfinished=1))
    assert not v.passed and "1 of 101 updates still unfinished" in v.reason


def test_an_empty_wave_passes() -> None:
    assert gate(wave(6, WaveSelector.HOSTS), Tally()).passed


@given(
    st.integers(0, 200),
    st.integers(0, 200),
    st.integers(0, 5),
    st.floats(0, 1),
    st.sampled_from(list(WaveSelector)),
)
def test_gate_property(
    done: int, failed: int, unfinished: int, threshold: float, sel: WaveSelector
) -> None:
    w = wave(1, sel, threshold=threshold)
    t = tally(done, failed, unfinished)
    total = done + failed + unfinished
    limit = 0 if sel is WaveSelector.INFRASTRUCTURE else threshold
    expected = unfinished == 0 and (failed == 0 or failed / total <= limit)
    v = gate(w, t)
    assert v.passed is expected
    assert (v.reason == "") is expected


def test_effective_start_waits_for_the_soak_before() -> None:
    waves = [wave(1, soak=180, state="completed"), wave(2, hours=1), wave(3, hours=5)]
    starts = effective_starts(waves)
    assert starts[2] == T0 + timedelta(hours=3)  # wave 1 soaks until 09:00
    assert starts[3] == T0 + timedelta(hours=5)  # its own date is later


def test_halted_rollout_moves_nothing_and_cutoffs_push_later_waves() -> None:
    waves = [wave(1, state="completed"), wave(2, state="halted", hours=1), wave(3, hours=2)]
    now = T0 + timedelta(hours=3)
    assert decide("halted", waves, {}, now) is None
    # resumed now, wave 2 soaks an hour first: wave 3 could start at now + 1 h
    assert cutoffs(waves, now) == {3: now + timedelta(hours=1)}
    assert cutoffs(waves, T0) == {3: T0 + timedelta(hours=2)}


# ------------------------------------------------------------- the engine over random outcomes


@st.composite
def rollouts(draw: st.DrawFn) -> tuple[list[WaveView], dict[int, list[Tally]]]:
    """Waves one after another, and for each a sequence of tallies the world may show."""
    n = draw(st.integers(1, 6))
    waves = []
    at = 0.0
    for pos in range(1, n + 1):
        at += draw(st.sampled_from([0, 0.5, 1, 12, 24]))
        sel = WaveSelector.INFRASTRUCTURE if pos == 1 else WaveSelector.PERCENT
        waves.append(wave(pos, sel, hours=at, soak=draw(st.sampled_from([0, 30, 120]))))
    outcomes = {
        w.id: [
            tally(draw(st.integers(0, 30)), draw(st.integers(0, 3)), draw(st.integers(0, 1)))
            for _ in range(3)
        ]
        for w in waves
    }
    return waves, outcomes


def apply(
    state: str, waves: list[WaveView], kind: StepKind, target: WaveView | None
) -> tuple[str, list[WaveView]]:
    """The step's effect, as the service applies it (compare-and-set on the states read)."""
    if kind is StepKind.COMPLETE:
        return "completed", waves
    assert target is not None
    new = {
        StepKind.START: "running",
        StepKind.PASS: "completed",
        StepKind.HALT: "halted",
    }[kind]
    waves = [replace(w, state=new) if w.id == target.id else w for w in waves]
    if kind is StepKind.START:
        state = "running"
    if kind is StepKind.HALT:
        state = "halted"
    return state, waves


@settings(max_examples=150, deadline=None)
@given(rollouts(), st.lists(st.integers(0, 40), min_size=1, max_size=60))
def test_engine_over_random_outcomes(
    case: tuple[list[WaveView], dict[int, list[Tally]]], ticks: list[int]
) -> None:
    waves, outcomes = case
    state = "announced"
    now = T0 - timedelta(hours=1)
    starts_seen: list[int] = []
    for i, minutes in enumerate(ticks):
        now += timedelta(minutes=minutes * 30)
        tallies = {w.id: outcomes[w.id][i % 3] for w in waves}
        for _ in range(20):
            s = decide(state, waves, tallies, now)
            if s is None:
                break
            before = (state, waves)
            if s.kind is StepKind.START:
                assert s.wave is not None
                # a wave starts only at its time, after every earlier wave passed
                assert now >= effective_starts(waves)[s.wave.id]
                assert all(w.state == "completed" for w in waves if w.position < s.wave.position)
                starts_seen.append(s.wave.id)
            if s.kind is StepKind.PASS:
                assert s.wave is not None and gate(s.wave, tallies[s.wave.id]).passed
            if s.kind is StepKind.HALT:
                assert s.wave is not None and not gate(s.wave, tallies[s.wave.id]).passed
                assert s.reason.startswith(f"wave {s.wave.position} ")
            state, waves = apply(state, waves, s.kind, s.wave)
            # the same step decided again on the old states is what a second leader would
            # try: its compare-and-set fails on the new states, and decide on the new states
            # never repeats it
            again = decide(state, waves, tallies, now)
            assert again is None or (again.kind, again.wave) != (s.kind, s.wave)
            assert before != (state, waves)
        # at most one wave runs or is halted, and none after it has started
        active = [w for w in waves if w.state in ("running", "halted")]
        assert len(active) <= 1
        if active:
            assert all(w.state == "pending" for w in waves if w.position > active[0].position)
        if state == "halted":
            assert decide(state, waves, tallies, now + timedelta(days=30)) is None
            break
    assert len(starts_seen) == len(set(starts_seen))  # no wave started twice
    if state == "completed":
        assert all(w.state == "completed" for w in waves)
