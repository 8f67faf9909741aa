"""guestWork: a guest agent asks what to do now."""

from __future__ import annotations

import strawberry

from api.graphql.activities.types import ActivityType
from api.graphql.context import Info
from api.graphql.guests.types import GuestHookType
from api.graphql.permissions import allow
from api.services import guest_hooks, guests

__all__ = ["GuestQueries"]


@strawberry.type
class GuestQueries:
    @strawberry.field(
        extensions=allow("guest"),
        description="Guest agents: their machine's guest work (system updates) that is due: "
        "running, or scheduled and its time has come.",
    )
    async def guest_work(self, info: Info) -> list[ActivityType]:
        machine_id = info.context.principal.machine
        if machine_id is None:
            return []
        return [ActivityType.from_model(a) for a in await guests.due_updates(machine_id)]

    @strawberry.field(
        extensions=allow("guest"),
        description="Guest agents: their machine's enter and leave hook requests not answered "
        "yet, oldest first.",
    )
    async def guest_hooks(self, info: Info) -> list[GuestHookType]:
        machine_id = info.context.principal.machine
        if machine_id is None:
            return []
        return [GuestHookType.from_model(h) for h in await guest_hooks.waiting(machine_id)]
