"""guestWork: a guest agent asks what to do now."""

from __future__ import annotations

import strawberry
from strawberry.types.info import Info

from api.graphql.activities.types import ActivityType
from api.graphql.permissions import allow
from api.services import guests

__all__ = ["GuestQueries"]


@strawberry.type
class GuestQueries:
    @strawberry.field(
        extensions=allow("guest"),
        description="Guest agents: their machine's guest work (system updates) that is due: "
        "running, or scheduled and its time has come.",
    )
    async def guest_work(self, info: Info) -> list[ActivityType]:
        machine_id = info.context.machine_id
        if machine_id is None:
            return []
        return [ActivityType.from_model(a) for a in await guests.due_updates(machine_id)]
