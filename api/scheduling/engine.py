"""The wave engine's pure core: the gate that judges a wave, and the one next step of a rollout.

The engine (``api.services.rollout_engine``) reads a rollout's waves and the tallies of their
``system_update`` activities, asks :func:`decide` for the one next step, and applies it in one
transaction with a compare-and-set on the state it read. Pure: no database, no clock (``now``
is an argument).
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from api.scheduling.waves import WaveSelector

__all__ = [
    "Failure",
    "GateState",
    "NextEvent",
    "NextKind",
    "RolloutEventKind",
    "Step",
    "StepKind",
    "Tally",
    "Verdict",
    "WaveView",
    "cutoffs",
    "decide",
    "effective_starts",
    "gate",
    "halt_reason",
    "next_event",
    "wave_verdict",
]

# Rollout states in which the engine moves waves.
ACTIVE = frozenset({"announced", "running"})
DONE = frozenset({"completed", "skipped"})
MAX_LISTED = 20  # failed machines named in a halt reason (the rest are counted)


@dataclass(frozen=True, slots=True)
class Failure:
    machine: str
    error: str  # the last line of the update's log, or "no log"


@dataclass(frozen=True, slots=True)
class Tally:
    """A wave's system updates: how many, and how they stand."""

    total: int = 0
    done: int = 0
    failed: int = 0
    unfinished: int = 0  # not yet started (pending) or running
    failures: tuple[Failure, ...] = ()
    running: int = 0  # of the unfinished: started by the guest agent, no report yet
    skipped: int = 0  # failed, and an operator skipped the machine: not a failure of the gate

    @property
    def pending(self) -> int:
        return self.unfinished - self.running


@dataclass(frozen=True, slots=True)
class WaveView:
    id: int
    position: int
    name: str
    selector: WaveSelector
    state: str
    starts_at: datetime
    soak_minutes: int
    threshold: float  # a fraction: 0.05 is 5 %

    @property
    def soak(self) -> timedelta:
        return timedelta(minutes=self.soak_minutes)


@dataclass(frozen=True, slots=True)
class Verdict:
    passed: bool
    reason: str  # why it failed; empty when it passed


def gate(wave: WaveView, tally: Tally) -> Verdict:
    """A wave passes when its share of failed updates is at or below its threshold (the
    infrastructure wave: no failure at all) and none is unfinished at the end of the soak."""
    problems = []
    if tally.unfinished:
        problems.append(f"{tally.unfinished} of {tally.total} updates still unfinished")
    if tally.failed:
        share = tally.failed / tally.total
        if wave.selector is WaveSelector.INFRASTRUCTURE:
            problems.append(
                f"{tally.failed} of {tally.total} updates failed; the infrastructure wave "
                "allows none"
            )
        elif share > wave.threshold:
            problems.append(
                f"{tally.failed} of {tally.total} updates failed ({share:.0%}), above the "
                f"threshold of {wave.threshold:.0%}"
            )
    return Verdict(not problems, "; ".join(problems))


def halt_reason(wave: WaveView, verdict: Verdict, tally: Tally) -> str:
    """The reason recorded on the rollout: which wave, why, which machines with which errors."""
    lines = [f"wave {wave.position} ({wave.name}) failed its gate: {verdict.reason}"]
    for f in tally.failures[:MAX_LISTED]:
        lines.append(f"- {f.machine}: {f.error}")
    if len(tally.failures) > MAX_LISTED:
        lines.append(f"- and {len(tally.failures) - MAX_LISTED} more")
    return "\n".join(lines)


class StepKind(enum.Enum):
    START = "start"  # a pending wave starts (the rollout runs)
    PASS = "pass"  # a running wave passed its gate: completed
    HALT = "halt"  # a running wave failed its gate: halted, and the rollout with it
    COMPLETE = "complete"  # every wave is done: the rollout is completed


@dataclass(frozen=True, slots=True)
class Step:
    kind: StepKind
    wave: WaveView | None = None
    reason: str = ""  # HALT: the rollout's halted reason


def effective_starts(waves: Sequence[WaveView]) -> dict[int, datetime]:
    """When each wave not skipped starts (or started): at its date, but never before the
    wave before it has soaked. A date is a wave's planned start, or the time it was resumed."""
    out: dict[int, datetime] = {}
    prev_end: datetime | None = None
    for wave in sorted(waves, key=lambda w: w.position):
        if wave.state == "skipped":
            continue
        start = wave.starts_at if prev_end is None else max(wave.starts_at, prev_end)
        out[wave.id] = start
        prev_end = start + wave.soak
    return out


class NextKind(enum.Enum):
    WAVE_START = "wave_start"  # a pending wave starts
    GATE = "gate"  # a running wave is judged at the end of its soak
    COMPLETE = "complete"  # every wave is done: the rollout completes


@dataclass(frozen=True, slots=True)
class NextEvent:
    kind: NextKind
    at: datetime  # when it is due (in the past: the engine's next pass takes it)
    wave: WaveView | None = None


def next_event(rollout_state: str, waves: Sequence[WaveView], now: datetime) -> NextEvent | None:
    """What happens next to a rollout, and when; None when nothing will without an operator
    (a draft, halted, delayed, completed or cancelled rollout).

    Waves run in order: the first wave not done starts at its effective start (see
    :func:`effective_starts`) and is judged when its soak ends."""
    if rollout_state not in ACTIVE:
        return None
    starts = effective_starts(waves)
    for wave in sorted(waves, key=lambda w: w.position):
        if wave.state in DONE:
            continue
        if wave.state == "pending":
            return NextEvent(NextKind.WAVE_START, starts[wave.id], wave)
        if wave.state == "running":
            return NextEvent(NextKind.GATE, starts[wave.id] + wave.soak, wave)
        return None  # a halted wave in an active rollout: nothing until it is resumed
    return NextEvent(NextKind.COMPLETE, now) if rollout_state == "running" else None


def decide(
    rollout_state: str,
    waves: Sequence[WaveView],
    tallies: dict[int, Tally],
    now: datetime,
) -> Step | None:
    """The one next step of a rollout, or None when there is nothing to do now: the
    :func:`next_event` once it is due. A halted or delayed rollout moves no wave."""
    event = next_event(rollout_state, waves, now)
    if event is None or now < event.at:
        return None
    wave = event.wave
    if event.kind is NextKind.WAVE_START:
        return Step(StepKind.START, wave)
    if event.kind is NextKind.GATE:
        assert wave is not None
        tally = tallies.get(wave.id, Tally())
        verdict = gate(wave, tally)
        if verdict.passed:
            return Step(StepKind.PASS, wave)
        return Step(StepKind.HALT, wave, halt_reason(wave, verdict, tally))
    return Step(StepKind.COMPLETE)


class GateState(enum.Enum):
    NOT_STARTED = "not_started"
    PASSING = "passing"  # running: the gate would pass if judged now
    FAILING = "failing"  # running: it would fail now (the reason says why)
    PASSED = "passed"
    FAILED = "failed"  # halted on its gate (or halted by hand while it would fail)
    HALTED = "halted"  # halted by hand while it would pass
    SKIPPED = "skipped"


def wave_verdict(wave: WaveView, tally: Tally) -> tuple[GateState, str]:
    """The gate's verdict on a wave as it stands, with the reason when it fails."""
    if wave.state == "pending":
        return GateState.NOT_STARTED, ""
    if wave.state == "completed":
        return GateState.PASSED, ""
    if wave.state == "skipped":
        return GateState.SKIPPED, ""
    verdict = gate(wave, tally)
    if wave.state == "running":
        return (GateState.PASSING if verdict.passed else GateState.FAILING), verdict.reason
    return (GateState.HALTED if verdict.passed else GateState.FAILED), verdict.reason


class RolloutEventKind(enum.Enum):
    """A rollout's timeline: each kind is the audit action recorded where it happens."""

    CREATED = "rollout.create"
    DRAFT_CHANGED = "rollout.update_draft"
    ANNOUNCED = "rollout.announce"
    WAVE_STARTED = "rollout.wave_start"
    GATE_PASSED = "rollout.gate_pass"
    GATE_FAILED = "rollout.gate_fail"
    HALTED = "rollout.halt"
    RESUMED = "rollout.resume_halted"
    DELAYED = "rollout.delay"
    RESCHEDULED = "rollout.reschedule"
    REANNOUNCED = "rollout.resume"
    CANCELLED = "rollout.cancel"
    COMPLETED = "rollout.complete"
    STATUS_POSTED = "rollout.update"
    MACHINE_RETRIED = "rollout.machine_retry"
    MACHINE_SKIPPED = "rollout.machine_skip"


def cutoffs(waves: Sequence[WaveView], now: datetime) -> dict[int, datetime]:
    """While a rollout is halted: for each pending wave, the earliest time it could still
    start if the rollout were resumed now (every unfinished wave before it soaks again first).
    A window of one of its machines booked before that would come before its wave could run."""
    out: dict[int, datetime] = {}
    at = now
    for wave in sorted(waves, key=lambda w: w.position):
        if wave.state in DONE:
            continue
        if wave.state == "pending":
            at = max(at, wave.starts_at)
            out[wave.id] = at
        at += wave.soak
    return out
