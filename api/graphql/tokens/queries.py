"""me."""

from __future__ import annotations

import strawberry
from strawberry.types.info import Info

from api.graphql.enums import Role
from api.graphql.permissions import allow
from api.graphql.tokens.types import MeType
from api.models import Machine, ResourceGroup

__all__ = ["TokenQueries"]


@strawberry.type
class TokenQueries:
    @strawberry.field(extensions=allow("me"), description="The token of this request.")
    async def me(self, info: Info) -> MeType:
        ctx = info.context
        token = ctx.token
        groups: list[str] = (
            [
                n
                for (n,) in await ResourceGroup.filter(id__in=list(ctx.group_ids)).values_list(
                    "name"
                )
            ]
            if ctx.group_ids
            else []
        )
        host, machine = None, None
        if ctx.host_id is not None:
            row = await Machine.filter(id=ctx.host_id).first().values_list("name")
            host = row[0] if row else None
        if ctx.machine_id is not None:
            row = await Machine.filter(id=ctx.machine_id).first().values_list("name")
            machine = row[0] if row else None
        return MeType(
            name=token.name,
            role=Role(token.role),
            groups=sorted(groups),
            host=host,
            machine=machine,
        )
