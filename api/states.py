"""The state machines of fenster. Each has exactly one transition table, here."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from api.errors import IllegalTransition

__all__ = ["ACTIVITY", "ROLLOUT", "WAVE", "WINDOW", "StateMachine"]


@dataclass(frozen=True)
class StateMachine:
    name: str
    transitions: Mapping[str, frozenset[str]]
    initial: str

    @property
    def states(self) -> frozenset[str]:
        return frozenset(self.transitions)

    @property
    def final(self) -> frozenset[str]:
        return frozenset(s for s, nxt in self.transitions.items() if not nxt)

    def allowed(self, current: str) -> frozenset[str]:
        return self.transitions.get(current, frozenset())

    def can(self, current: str, wanted: str) -> bool:
        return wanted in self.allowed(current)

    def check(self, current: str, wanted: str) -> None:
        """Raise IllegalTransition unless ``current -> wanted`` is in the table."""
        if current not in self.transitions:
            raise IllegalTransition(self.name, current, wanted, frozenset())
        if wanted not in self.transitions[current]:
            raise IllegalTransition(self.name, current, wanted, self.transitions[current])


def _table(pairs: dict[str, set[str]]) -> dict[str, frozenset[str]]:
    return {state: frozenset(nxt) for state, nxt in pairs.items()}


ACTIVITY = StateMachine(
    "activity",
    _table(
        {
            "queued": {"scheduled", "cancelled"},
            # failed without running: guest work never reported (api.services.watchdog)
            "scheduled": {"queued", "running", "cancelled", "failed"},
            "running": {"done", "failed"},
            "failed": {"queued"},  # retry, bounded by Activity.MAX_ATTEMPTS
            "done": set(),
            "cancelled": set(),
        }
    ),
    initial="queued",
)

WINDOW = StateMachine(
    "window",
    _table(
        {
            "planned": {"running", "cancelled"},
            "running": {"completed", "failed"},
            "completed": set(),
            "failed": set(),
            "cancelled": set(),
        }
    ),
    initial="planned",
)

ROLLOUT = StateMachine(
    "rollout",
    _table(
        {
            "draft": {"announced", "cancelled"},
            "announced": {"running", "delayed", "cancelled"},
            "running": {"completed", "halted", "delayed", "cancelled"},
            "halted": {"running", "delayed", "cancelled"},
            "delayed": {"announced", "cancelled"},
            "completed": set(),
            "cancelled": set(),
        }
    ),
    initial="draft",
)

WAVE = StateMachine(
    "wave",
    _table(
        {
            "pending": {"running", "skipped"},
            "running": {"completed", "halted"},
            "halted": {"running", "skipped"},  # resumed, or closed by a delay
            "completed": set(),
            "skipped": set(),
        }
    ),
    initial="pending",
)
