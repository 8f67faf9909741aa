"""Rollout and its waves."""

from __future__ import annotations

from datetime import datetime

import strawberry
from strawberry.types.info import Info

from api.graphql.relay import Node, encode_id
from api.models import Rollout, Wave

__all__ = ["RolloutType", "WaveType"]


@strawberry.type(name="Wave")
class WaveType:
    position: int
    name: str
    selector: str
    percent: int | None
    starts_at: datetime
    failure_threshold: float
    state: str

    @classmethod
    def from_model(cls, w: Wave) -> WaveType:
        return cls(
            position=w.position,
            name=w.name,
            selector=w.selector,
            percent=w.percent,
            starts_at=w.starts_at,
            failure_threshold=w.failure_threshold,
            state=w.state,
        )


@strawberry.type(name="Rollout", description="A staged system update.")
class RolloutType(Node):
    name: str
    title: str
    description: str
    target: str
    state: str
    halted_reason: str | None
    created_at: datetime
    r: strawberry.Private[Rollout]

    @classmethod
    def from_model(cls, r: Rollout) -> RolloutType:
        return cls(
            id=encode_id("Rollout", r.id),
            name=r.name,
            title=r.title,
            description=r.description,
            target=r.target,
            state=r.state,
            halted_reason=r.halted_reason,
            created_at=r.created_at,
            r=r,
        )

    @strawberry.field
    async def waves(self, info: Info) -> list[WaveType]:
        rows = await info.context.loaders.waves_by_rollout.load(self.r.id)
        return [WaveType.from_model(w) for w in sorted(rows, key=lambda w: w.position)]
