"""Relay ``node(id)``: any object by its global ID, among those the token may see."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import strawberry
from strawberry.types.info import Info

from api.errors import NotFound
from api.graphql import permissions
from api.graphql.activities.types import ActivityType
from api.graphql.catalog.types import AnnouncementType, PackageReleaseType
from api.graphql.context import Context
from api.graphql.groups.types import GroupType
from api.graphql.machines.types import MachineType
from api.graphql.relay import Node, decode_id
from api.graphql.rollouts.types import RolloutType
from api.graphql.windows.types import WindowType
from api.models import PackageRelease

__all__ = ["NodeQueries"]

Finder = Callable[[Context, int], Awaitable[Any]]


async def _first(qs: Any) -> Any:
    return await qs.first()


FINDERS: dict[str, tuple[Finder, Callable[[Any], Node]]] = {
    "Group": (
        lambda c, pk: _first(permissions.visible_groups(c).filter(id=pk)),
        GroupType.from_model,
    ),
    "Machine": (
        lambda c, pk: _first(permissions.visible_machines(c).filter(id=pk)),
        MachineType.from_model,
    ),
    "Window": (
        lambda c, pk: _first(permissions.visible_windows(c).filter(id=pk)),
        WindowType.from_model,
    ),
    "Activity": (
        lambda c, pk: _first(permissions.visible_activities(c).filter(id=pk)),
        ActivityType.from_model,
    ),
    "Rollout": (
        lambda c, pk: _first(permissions.visible_rollouts(c).filter(id=pk)),
        RolloutType.from_model,
    ),
    "Announcement": (
        lambda c, pk: _first(permissions.visible_announcements(c).filter(id=pk)),
        AnnouncementType.from_model,
    ),
    "PackageRelease": (
        lambda c, pk: PackageRelease.get_or_none(id=pk),
        PackageReleaseType.from_model,
    ),
}


@strawberry.type
class NodeQueries:
    @strawberry.field(extensions=permissions.allow("read"), description="Relay: by global ID.")
    async def node(self, info: Info, id: strawberry.ID) -> Node | None:
        try:
            type_name, pk = decode_id(id)
        except NotFound:
            return None
        entry = FINDERS.get(type_name)
        if entry is None:
            return None
        find, wrap = entry
        row = await find(info.context, pk)
        return wrap(row) if row is not None else None
