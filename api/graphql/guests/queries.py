"""guestWork and guestHooks: a guest agent asks what to do now."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TypeVar

import strawberry

from api.graphql.activities.types import ActivityType
from api.graphql.context import Info
from api.graphql.guests.types import GuestHookType
from api.graphql.permissions import allow
from api.policy import guest_machine
from api.services import guest_hooks, guests

__all__ = ["GuestQueries"]

Row = TypeVar("Row")


async def _of_own_machine(info: Info, read: Callable[[int], Awaitable[list[Row]]]) -> list[Row]:
    """What ``read`` finds for the caller's own machine (``api.policy.guest_machine``); nothing
    for a caller without one."""
    machine_id = guest_machine(info.context.principal)
    return [] if machine_id is None else await read(machine_id)


@strawberry.type
class GuestQueries:
    @strawberry.field(
        extensions=allow("guest"),
        description="Guest agents: their machine's guest work (system updates) that is due: "
        "running, or scheduled and its time has come.",
    )
    async def guest_work(self, info: Info) -> list[ActivityType]:
        return [ActivityType.from_model(a) for a in await _of_own_machine(info, guests.due_updates)]

    @strawberry.field(
        extensions=allow("guest"),
        description="Guest agents: their machine's enter and leave hook requests not answered "
        "yet, oldest first.",
    )
    async def guest_hooks(self, info: Info) -> list[GuestHookType]:
        hooks = await _of_own_machine(info, guest_hooks.waiting)
        return [GuestHookType.from_model(h) for h in hooks]
