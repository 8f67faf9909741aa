"""What operators watch of a rollout: wave progress, the gate's verdict, the next event and the
timeline (read by ``api.services.rollout_progress``, which the CLI's status reads too)."""

from __future__ import annotations

from datetime import datetime

import strawberry
from strawberry.scalars import JSON

from api.scheduling.engine import GateState, NextKind, RolloutEventKind
from api.services.rollout_progress import RolloutEvent, RolloutProgress, WaveProgress

__all__ = ["RolloutEventType", "RolloutProgressType"]

strawberry.enum(GateState, name="GateVerdict")  # the domain's enums, in the schema
strawberry.enum(NextKind, name="RolloutNextKind")
strawberry.enum(RolloutEventKind, name="RolloutEventKind")


@strawberry.type(name="WaveProgress", description="A wave's system updates and its gate.")
class WaveProgressType:
    position: int
    name: str
    state: str
    starts_at: datetime = strawberry.field(
        description="its date; a wave resumed after a halt: the time it was resumed"
    )
    total: int
    done: int
    running: int = strawberry.field(description="started by the guest agent, not yet reported")
    failed: int = strawberry.field(description="failures the gate counts")
    pending: int = strawberry.field(description="not started yet")
    skipped: int = strawberry.field(description="failed, then skipped by an operator")
    verdict: GateState
    reason: str = strawberry.field(
        description="why the gate fails (a running wave: would fail if judged now)"
    )

    @classmethod
    def from_value(cls, w: WaveProgress) -> WaveProgressType:
        t = w.tally
        return cls(
            position=w.position,
            name=w.name,
            state=w.state,
            starts_at=w.starts_at,
            total=t.total,
            done=t.done,
            running=t.running,
            failed=t.failed,
            pending=t.pending,
            skipped=t.skipped,
            verdict=w.verdict,
            reason=w.reason,
        )


@strawberry.type(name="RolloutProgress")
class RolloutProgressType:
    waves: list[WaveProgressType]
    next_kind: NextKind | None = strawberry.field(
        description="what happens next; null: nothing without an operator (halted, done)"
    )
    next_at: datetime | None = strawberry.field(description="when (past: the engine's next pass)")
    next_wave: str | None

    @classmethod
    def from_value(cls, p: RolloutProgress) -> RolloutProgressType:
        nxt = p.next
        return cls(
            waves=[WaveProgressType.from_value(w) for w in p.waves],
            next_kind=nxt.kind if nxt else None,
            next_at=nxt.at if nxt else None,
            next_wave=nxt.wave.name if nxt and nxt.wave else None,
        )


@strawberry.type(name="RolloutEvent", description="One entry of a rollout's timeline.")
class RolloutEventType:
    at: datetime
    kind: RolloutEventKind
    actor: str = strawberry.field(
        description="who: an operator's token, cli, or system:rollouts (the wave engine)"
    )
    wave: str | None
    machine: str | None
    reason: str | None
    details: JSON

    @classmethod
    def from_value(cls, e: RolloutEvent) -> RolloutEventType:
        return cls(
            at=e.at,
            kind=e.kind,
            actor=e.actor,
            wave=e.wave,
            machine=e.machine,
            reason=e.reason,
            details=JSON(e.details),
        )
