"""What operators watch of a rollout: each wave's progress and gate verdict, the next event, the
failed machines (``progress``), and the timeline (``events``).

One read for GraphQL (``Rollout.progress``, ``rolloutEvents``) and ``fenster rollout status``.
The counts are the wave engine's own tallies (``rollout_tally``), the verdict its gate and the
next event its ``next_event``: nothing here decides anything the engine does not.

The timeline is the rollout's audit trail: every transition writes its audit event where it
happens (``RolloutEventKind`` names them), so the timeline cannot disagree with what was done.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from tortoise.transactions import in_transaction

from api.models import AuditEvent, Rollout
from api.scheduling.engine import (
    GateState,
    NextEvent,
    RolloutEventKind,
    Tally,
    next_event,
    wave_verdict,
)
from api.services.rollout_tally import FailedUpdate, failed_updates, latest_updates, tallies
from api.services.rollout_tally import wave_views as _wave_views

__all__ = ["RolloutEvent", "RolloutProgress", "WaveProgress", "events", "progress"]

FINISHED = frozenset({"completed", "halted", "cancelled"})  # a watcher stops at these
_KINDS = {k.value: k for k in RolloutEventKind}


@dataclass(frozen=True, slots=True)
class WaveProgress:
    position: int
    name: str
    state: str
    starts_at: datetime  # its date (a resumed wave: the time it was resumed)
    soak_minutes: int
    threshold: float
    tally: Tally
    verdict: GateState
    reason: str  # why the gate fails (or would fail now); empty when it passes


@dataclass(frozen=True, slots=True)
class RolloutProgress:
    name: str
    title: str
    state: str
    halted_reason: str | None
    waves: tuple[WaveProgress, ...]
    next: NextEvent | None  # None: nothing happens without an operator
    failed: tuple[FailedUpdate, ...]

    @property
    def finished(self) -> bool:
        """Nothing will change without an operator: completed, halted or cancelled."""
        return self.state in FINISHED


async def progress(rollout: Rollout, now: datetime | None = None) -> RolloutProgress:
    """The rollout's waves with their counts and verdicts, its next event and failed machines,
    read in one transaction."""
    now = (now or datetime.now(UTC)).astimezone(UTC)
    async with in_transaction() as conn:
        current = await Rollout.get(id=rollout.id, using_db=conn)
        views = await _wave_views(conn, rollout.id)
        counts = tallies(await latest_updates(conn, rollout.id), views)
    waves = []
    for w in views:
        t = counts.get(w.id, Tally())
        verdict, reason = wave_verdict(w, t)
        waves.append(
            WaveProgress(
                w.position, w.name, w.state, w.starts_at, w.soak_minutes, w.threshold, t,
                verdict, reason,
            )
        )  # fmt: skip
    return RolloutProgress(
        current.name,
        current.title,
        current.state,
        current.halted_reason,
        tuple(waves),
        next_event(current.state, views, now),
        tuple(await failed_updates(rollout.id)),
    )


@dataclass(frozen=True, slots=True)
class RolloutEvent:
    at: datetime
    kind: RolloutEventKind
    actor: str  # who: an operator's token, "cli", or "system:rollouts" (the wave engine)
    wave: str | None
    machine: str | None
    reason: str | None
    details: dict[str, Any]


async def events(rollout: Rollout) -> list[RolloutEvent]:
    """The rollout's timeline in the order it happened: its audit events of the timeline's kinds."""
    rows = await AuditEvent.filter(
        subject_type="rollout", subject_id=rollout.id, action__in=list(_KINDS)
    ).order_by("id")  # the order they were written (a bulk write may carry its own time)
    out = []
    for e in rows:
        d = e.details or {}
        reason = d.get("reason")
        out.append(
            RolloutEvent(
                e.at,
                _KINDS[e.action],
                e.actor,
                d.get("wave") if isinstance(d.get("wave"), str) else None,
                d.get("machine") if isinstance(d.get("machine"), str) else None,
                reason if isinstance(reason, str) else None,
                d,
            )
        )
    return out
