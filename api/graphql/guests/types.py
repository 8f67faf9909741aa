"""What the enter and leave hooks' calls answer."""

from __future__ import annotations

from datetime import datetime

import strawberry

from api.graphql.enums import HookPhase, HookVerdict
from api.models import GuestHook

__all__ = ["GuestHookType", "NoGuestAgentType"]


@strawberry.type(name="GuestHook", description="A hook request to a VM's guest agent.")
class GuestHookType:
    window: str = strawberry.field(description="The window's uid.")
    phase: HookPhase
    asks: int = strawberry.field(description="How often the host agent asked (not yet: again).")
    verdict: HookVerdict
    reason: str = strawberry.field(description="The hooks' words, and what came of a postpone.")
    kernel: str | None = strawberry.field(description="`uname -r` when the guest answered.")
    asked_at: datetime
    answered_at: datetime | None

    @classmethod
    def from_model(cls, h: GuestHook) -> GuestHookType:
        return cls(
            window=h.window.uid,
            phase=HookPhase(h.phase),
            asks=h.asks,
            verdict=HookVerdict(h.verdict),
            reason=h.reason,
            kernel=h.kernel,
            asked_at=h.asked_at,
            answered_at=h.answered_at,
        )


@strawberry.type(name="NoGuestAgent")
class NoGuestAgentType:
    window: str
    message: str = strawberry.field(
        description="No guest agent runs on the VM (none reported recently): the window runs "
        "without hooks."
    )
