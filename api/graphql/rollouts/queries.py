"""rollouts."""

from __future__ import annotations

import strawberry
from strawberry.types.info import Info

from api.graphql.permissions import allow, visible_rollouts
from api.graphql.relay import Connection, paginate
from api.graphql.rollouts.types import RolloutType

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
        qs = visible_rollouts(info.context).order_by("-created_at", "-id")
        return await paginate(qs, first, after, RolloutType.from_model)
