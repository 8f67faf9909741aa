"""groups, group(name)."""

from __future__ import annotations

import strawberry

from api.graphql.context import Info
from api.graphql.groups.types import GroupType
from api.graphql.permissions import allow
from api.graphql.relay import Connection, paginate
from api.models import ResourceGroup
from api.models.keys import where
from api.scoping import scoped

__all__ = ["GroupQueries"]


@strawberry.type
class GroupQueries:
    @strawberry.field(extensions=allow("read"), description="Groups this token may see.")
    async def groups(
        self, info: Info, first: int | None = None, after: str | None = None
    ) -> Connection[GroupType]:
        qs = scoped(ResourceGroup, info.context.principal).order_by("name")
        return await paginate(qs, first, after, GroupType.from_model)

    @strawberry.field(extensions=allow("read"), description="Null when unknown or not yours.")
    async def group(self, info: Info, name: str) -> GroupType | None:
        g = await where(scoped(ResourceGroup, info.context.principal), name=name).first()
        return GroupType.from_model(g) if g is not None else None
