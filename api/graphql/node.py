"""Relay ``node(id)``: any object by its global ID, among those the token may see."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import strawberry
from tortoise.models import Model

from api.errors import NotFound
from api.graphql import permissions
from api.graphql.activities.types import ActivityType
from api.graphql.audit.types import AuditEventType
from api.graphql.catalog.types import AnnouncementType, PackageReleaseType
from api.graphql.context import Info
from api.graphql.groups.types import GroupType
from api.graphql.machines.types import MachineType
from api.graphql.relay import Node, decode_id
from api.graphql.rollouts.types import RolloutType
from api.graphql.windows.types import WindowType
from api.models import (
    Activity,
    Announcement,
    AuditEvent,
    Machine,
    PackageRelease,
    ResourceGroup,
    Rollout,
    Window,
)
from api.scoping import scoped

__all__ = ["NodeQueries"]

# node type -> its model (rows read through api.scoping.scoped) and how it is shown. Not here:
# Token, whose rows no field reads (createToken and revokeToken answer with one; its id is what
# revokeToken takes), so node(id) does not open a way to list the operators' credentials.
NODES: dict[str, tuple[type[Model], Callable[[Any], Node]]] = {
    "Group": (ResourceGroup, GroupType.from_model),
    "Machine": (Machine, MachineType.from_model),
    "Window": (Window, WindowType.from_model),
    "Activity": (Activity, ActivityType.from_model),
    "Rollout": (Rollout, RolloutType.from_model),
    "Announcement": (Announcement, AnnouncementType.from_model),
    "PackageRelease": (PackageRelease, PackageReleaseType.from_model),
    "AuditEvent": (AuditEvent, AuditEventType.from_model),
}


@strawberry.type
class NodeQueries:
    @strawberry.field(extensions=permissions.allow("read"), description="Relay: by global ID.")
    async def node(self, info: Info, id: strawberry.ID) -> Node | None:
        try:
            type_name, pk = decode_id(id)
        except NotFound:
            return None
        entry = NODES.get(type_name)
        if entry is None:
            return None
        model, wrap = entry
        row = await scoped(model, info.context.principal).filter(id=pk).first()
        return wrap(row) if row is not None else None
