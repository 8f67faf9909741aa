"""Every allowed and refused transition of every state machine."""

from __future__ import annotations

import itertools

import pytest

from api.errors import IllegalTransition
from api.states import ACTIVITY, ROLLOUT, WAVE, WINDOW, StateMachine

ALLOWED = {
    "activity": {
        ("queued", "scheduled"),
        ("queued", "cancelled"),
        ("scheduled", "queued"),
        ("scheduled", "running"),
        ("scheduled", "cancelled"),
        ("scheduled", "failed"),  # guest work that never reported
        ("running", "done"),
        ("running", "failed"),
        ("failed", "queued"),
    },
    "window": {
        ("planned", "running"),
        ("planned", "cancelled"),
        ("running", "completed"),
        ("running", "failed"),
    },
    "rollout": {
        ("draft", "announced"),
        ("announced", "running"),
        ("running", "completed"),
        ("running", "halted"),
        ("halted", "running"),
        ("announced", "delayed"),
        ("running", "delayed"),
        ("halted", "delayed"),
        ("delayed", "announced"),
        *((s, "cancelled") for s in ("draft", "announced", "running", "halted", "delayed")),
    },
    "wave": {
        ("pending", "running"),
        ("pending", "skipped"),
        ("running", "completed"),
        ("running", "halted"),
        ("halted", "running"),
        ("halted", "skipped"),  # a delay closes a halted wave
    },
}
MACHINES = [ACTIVITY, WINDOW, ROLLOUT, WAVE]
CASES = [
    pytest.param(m, a, b, (a, b) in ALLOWED[m.name], id=f"{m.name}:{a}->{b}")
    for m in MACHINES
    for a, b in itertools.product(sorted(m.states), repeat=2)
]


@pytest.mark.parametrize(("machine", "current", "wanted", "allowed"), CASES)
def test_transition(machine: StateMachine, current: str, wanted: str, allowed: bool) -> None:
    if allowed:
        machine.check(current, wanted)
        assert machine.can(current, wanted)
    else:
        with pytest.raises(IllegalTransition) as exc:
            machine.check(current, wanted)
        assert current in str(exc.value) and wanted in str(exc.value)
        assert not machine.can(current, wanted)


def test_unknown_state_is_refused() -> None:
    with pytest.raises(IllegalTransition):
        WINDOW.check("exploded", "planned")


def test_final_states() -> None:
    assert ACTIVITY.final == {"done", "cancelled"}
    assert WINDOW.final == {"completed", "failed", "cancelled"}
    assert ROLLOUT.final == {"completed", "cancelled"}
