"""Find one object by its public key among those the request's token may see (else NotFound)."""

from __future__ import annotations

from api.errors import NotFound
from api.graphql.context import Context
from api.graphql.relay import decode_id
from api.models import Activity, Machine, ResourceGroup, Window
from api.models.keys import where
from api.scoping import scoped

__all__ = ["activity", "group", "machine", "window"]


async def group(ctx: Context, name: str) -> ResourceGroup:
    found = await where(scoped(ResourceGroup, ctx.principal), name=name).first()
    if found is None:
        raise NotFound("resource group", name)
    return found


async def machine(ctx: Context, name: str) -> Machine:
    found = await where(scoped(Machine, ctx.principal), name=name).first()
    if found is None:
        raise NotFound("machine", name)
    return found


async def window(ctx: Context, uid: str) -> Window:
    found = await where(scoped(Window, ctx.principal), uid=uid).first()
    if found is None:
        raise NotFound("window", uid)
    return found


async def activity(ctx: Context, global_id: str) -> Activity:
    _, pk = decode_id(global_id, "Activity")
    found = await scoped(Activity, ctx.principal).filter(id=pk).first()
    if found is None:
        raise NotFound("activity", global_id)
    return found
