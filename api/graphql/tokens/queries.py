"""me."""

from __future__ import annotations

import strawberry

from api.errors import PermissionDenied
from api.graphql.context import Info
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
        token, who = ctx.token, ctx.principal
        if token is None:  # allow("me") has refused it already; said again for the types
            raise PermissionDenied("send a token as Authorization: Bearer <token>")
        groups: list[str] = (
            [n for (n,) in await ResourceGroup.filter(id__in=list(who.groups)).values_list("name")]
            if who.groups
            else []
        )
        host, machine = None, None
        if who.host is not None:
            row = await Machine.filter(id=who.host).first().values_list("name")
            host = row[0] if row else None
        if who.machine is not None:
            row = await Machine.filter(id=who.machine).first().values_list("name")
            machine = row[0] if row else None
        return MeType(
            name=token.name,
            role=Role(token.role),
            groups=sorted(groups),
            host=host,
            machine=machine,
        )
