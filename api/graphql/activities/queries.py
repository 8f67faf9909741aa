"""activities(filter)."""

from __future__ import annotations

import strawberry

from api.graphql.activities.inputs import ActivityFilter
from api.graphql.activities.types import ActivityType
from api.graphql.context import Info
from api.graphql.permissions import allow
from api.graphql.relay import Connection, paginate
from api.models import Activity
from api.models.keys import where
from api.scoping import scoped

__all__ = ["ActivityQueries"]


@strawberry.type
class ActivityQueries:
    @strawberry.field(extensions=allow("read"), description="Activities, oldest first.")
    async def activities(
        self,
        info: Info,
        filter: ActivityFilter | None = None,
        first: int | None = None,
        after: str | None = None,
    ) -> Connection[ActivityType]:
        qs = scoped(Activity, info.context.principal)
        if filter is not None:
            if filter.machine is not None:
                qs = where(qs, machine__name=filter.machine)
            if filter.group is not None:
                qs = where(qs, machine__group__name=filter.group)
            if filter.state is not None:
                qs = qs.filter(state=filter.state.value)
            if filter.kind is not None:
                qs = qs.filter(kind=filter.kind.value)
        return await paginate(qs.order_by("id"), first, after, ActivityType.from_model)
