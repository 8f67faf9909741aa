"""machines(filter), machine(name)."""

from __future__ import annotations

from typing import Any

import strawberry
from strawberry.types.info import Info
from tortoise.queryset import QuerySet

from api.graphql.machines.inputs import MachineFilter
from api.graphql.machines.types import MachineType
from api.graphql.permissions import allow, visible_machines
from api.graphql.relay import Connection, paginate
from api.models import Machine

__all__ = ["MACHINES_MAX_PAGE", "MachineQueries"]

# A fleet view fetches the machine list whole: this one list allows pages of 1,000.
MACHINES_MAX_PAGE = 1000


def _filtered(qs: QuerySet[Machine], f: MachineFilter | None) -> QuerySet[Machine]:
    if f is None:
        return qs
    if f.group is not None:
        qs = qs.filter(group__name=f.group)
    if f.kind is not None:
        qs = qs.filter(kind=f.kind.value)
    if f.host is not None:
        qs = qs.filter(host__name=f.host)
    if f.name_contains:
        qs = qs.filter(name__icontains=f.name_contains)
    if f.auto_schedule is not None:
        qs = qs.filter(auto_schedule=f.auto_schedule)
    return qs


@strawberry.type
class MachineQueries:
    @strawberry.field(extensions=allow("read"), description="Pages of up to 1,000 machines.")
    async def machines(
        self,
        info: Info,
        filter: MachineFilter | None = None,
        first: int | None = None,
        after: str | None = None,
    ) -> Connection[MachineType]:
        loaders = info.context.loaders
        qs = _filtered(visible_machines(info.context), filter).order_by("name")

        def prime(rows: list[Any]) -> None:  # the group came with the same query
            loaders.prime_groups(m.group for m in rows)
            loaders.prime_machines(rows)

        return await paginate(
            qs.select_related("group"),
            first,
            after,
            MachineType.from_model,
            max_size=MACHINES_MAX_PAGE,
            on_rows=prime,
        )

    @strawberry.field(extensions=allow("read"), description="Null when unknown or not yours.")
    async def machine(self, info: Info, name: str) -> MachineType | None:
        m = await visible_machines(info.context).filter(name=name).first()
        return MachineType.from_model(m) if m is not None else None
