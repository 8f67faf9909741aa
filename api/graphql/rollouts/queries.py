"""rollouts."""

from __future__ import annotations

import strawberry

from api.graphql.context import Info
from api.graphql.permissions import allow
from api.graphql.relay import Connection, paginate
from api.graphql.rollouts.progress import RolloutEventType
from api.graphql.rollouts.types import RolloutType
from api.models import Rollout
from api.scoping import scoped
from api.services.rollout_progress import events
from api.services.rollouts import get_rollout

__all__ = ["RolloutQueries"]


@strawberry.type
class RolloutQueries:
    @strawberry.field(
        extensions=allow("read"),
        description="Staged updates, newest first (customers: those touching their machines).",
    )
    async def rollouts(
        self, info: Info, first: int | None = None, after: str | None = None
    ) -> Connection[RolloutType]:
        qs = scoped(Rollout, info.context.principal).order_by("-created_at", "-id")
        return await paginate(qs, first, after, RolloutType.from_model)

    @strawberry.field(
        extensions=allow("rollouts.watch"),
        description="Operators: a rollout's timeline, oldest first: created, announced, wave "
        "started, gate passed or failed, halted, resumed, delayed, cancelled, completed, "
        "machine retried or skipped.",
    )
    async def rollout_events(self, info: Info, name: str) -> list[RolloutEventType]:
        return [RolloutEventType.from_value(e) for e in await events(await get_rollout(name))]
