"""Inputs of the rollout mutations."""

from __future__ import annotations

from datetime import date, datetime

import strawberry

from api.graphql.rollouts.types import WaveSelectorEnum

__all__ = [
    "AnnounceRolloutInput",
    "CancelRolloutInput",
    "CreateRolloutInput",
    "DelayRolloutInput",
    "PostRolloutUpdateInput",
    "PreviewRolloutInput",
    "ReleaseInput",
    "ResumeRolloutInput",
    "RolloutMachineInput",
    "UpdateRolloutInput",
    "WaveInput",
]


@strawberry.input
class WaveInput:
    name: str
    selector: WaveSelectorEnum
    starts_at: datetime
    percent: int | None = strawberry.field(default=None, description="percentage waves only")
    failure_threshold: float = strawberry.field(
        default=0.05, description="a fraction of the wave's machines: 0.05 is 5 %"
    )
    soak_minutes: int = 0


@strawberry.input
class ReleaseInput:
    name: str
    version: str


@strawberry.input
class CreateRolloutInput:
    name: str = strawberry.field(description="a DNS label")
    title: str
    body: str = strawberry.field(default="", description="the announcement, Markdown")
    target: str = ""
    kernel: str = strawberry.field(default="", description="the kernel VMs boot afterwards")
    releases: list[ReleaseInput] = strawberry.field(default_factory=list)
    waves: list[WaveInput] | None = strawberry.field(
        default=None, description="explicit waves; omitted: the seed's template in `week`"
    )
    week: date | None = strawberry.field(
        default=None, description="any day of the template's week (default: next week)"
    )


@strawberry.input
class PreviewRolloutInput:
    name: str


@strawberry.input
class AnnounceRolloutInput:
    name: str
    force: bool = strawberry.field(
        default=False,
        description="announce even when a group's notice period cannot be met (audited)",
    )


@strawberry.input
class UpdateRolloutInput:
    name: str
    title: str | None = None
    body: str | None = None
    target: str | None = None
    kernel: str | None = None
    waves: list[WaveInput] | None = strawberry.field(
        default=None, description="replaces every wave (drafts only)"
    )


@strawberry.input
class DelayRolloutInput:
    name: str
    reason: str = strawberry.field(description="Markdown: mailed and published on the site")


@strawberry.input
class ResumeRolloutInput:
    name: str
    starts_at: list[datetime] = strawberry.field(
        default_factory=list,
        description="a delayed rollout: new start times of the waves not yet done, in order; "
        "a halted rollout: none (it keeps its remaining dates)",
    )
    force: bool = False


@strawberry.input
class HaltRolloutInput:
    name: str
    reason: str = strawberry.field(description="why: recorded, and mailed to the operators")


@strawberry.input
class RolloutMachineInput:
    name: str = strawberry.field(description="the rollout")
    machine: str = strawberry.field(description="a machine of it whose system update failed")


@strawberry.input
class CancelRolloutInput:
    name: str
    reason: str = ""


@strawberry.input
class PostRolloutUpdateInput:
    name: str
    body: str = strawberry.field(description="Markdown")
    title: str = ""
    mail: bool = strawberry.field(default=False, description="mail it to the rollout's groups")
