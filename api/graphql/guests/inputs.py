"""Inputs of the guest agents' calls."""

from __future__ import annotations

import strawberry

from api.graphql.enums import HookPhase, HookReply, Outcome

__all__ = [
    "AnswerGuestHookInput",
    "AskGuestHookInput",
    "GuestFactsInput",
    "ReportGuestUpdateInput",
    "StartGuestUpdateInput",
]


@strawberry.input(description="What the guest sees of itself.")
class GuestFactsInput:
    kernel: str | None = strawberry.field(default=None, description="`uname -r`.")
    swap_mib: int | None = strawberry.field(default=None, description="SwapTotal, in MiB.")
    cpu_model: str | None = strawberry.field(
        default=None, description="The CPU model the guest sees (/proc/cpuinfo 'model name')."
    )


@strawberry.input
class StartGuestUpdateInput:
    activity: strawberry.ID = strawberry.field(description="The activity's id (from guestWork).")


@strawberry.input
class ReportGuestUpdateInput:
    activity: strawberry.ID
    outcome: Outcome
    exit_code: int | None = strawberry.field(
        default=None,
        description="The update command's exit code; null when its end is unknown (timed "
        "out, or the agent was interrupted while it ran).",
    )
    log: str = strawberry.field(
        default="", description="The log's tail (at most 16,384 characters)."
    )
    packages: list[str] = strawberry.field(
        default_factory=list, description="The packages the command said it changed."
    )
    facts: GuestFactsInput = strawberry.field(default_factory=GuestFactsInput)


@strawberry.input
class AskGuestHookInput:
    window: str = strawberry.field(description="The window's uid (from dueWork).")
    phase: HookPhase


@strawberry.input
class AnswerGuestHookInput:
    window: str = strawberry.field(description="The window's uid (from guestHooks).")
    phase: HookPhase
    asks: int = strawberry.field(description="The ask answered (from guestHooks).")
    reply: HookReply
    reason: str = strawberry.field(
        default="", description="The failing hook's name and output tail (at most 16,384)."
    )
    facts: GuestFactsInput = strawberry.field(default_factory=GuestFactsInput)
