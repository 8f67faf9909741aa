"""machines(filter), machine(name)."""

from __future__ import annotations

from typing import Any

import strawberry
from tortoise.expressions import Subquery
from tortoise.queryset import QuerySet

from api.graphql.context import Info
from api.graphql.loaders import Loaders
from api.graphql.machines.inputs import MachineFilter
from api.graphql.machines.types import MachineType
from api.graphql.permissions import allow
from api.graphql.relay import Connection, paginate
from api.models import Machine
from api.models.keys import where
from api.scoping import scoped

__all__ = ["MACHINES_MAX_PAGE", "MachineQueries"]

# A fleet view fetches the machine list whole: this one list allows pages of 1,000.
MACHINES_MAX_PAGE = 1000
MACHINE_COLUMNS = (*sorted(Machine._meta.db_fields - {"updated_at"}), "group_id", "host_id")


def _filtered(
    qs: QuerySet[Machine], f: MachineFilter | None, hosts: QuerySet[Machine]
) -> QuerySet[Machine]:
    """``hosts``: the machines the token may see; a host it may not see matches nothing, so
    the filter cannot tell a customer which host names exist."""
    if f is None:
        return qs
    if f.group is not None:
        qs = where(qs, group__name=f.group)
    if f.kind is not None:
        qs = qs.filter(kind=f.kind.value)
    if f.host is not None:
        qs = qs.filter(host_id__in=Subquery(where(hosts, name=f.host).values("id")))
    if f.name_contains:
        qs = where(qs, name__icontains=f.name_contains)
    if f.auto_schedule is not None:
        qs = qs.filter(auto_schedule=f.auto_schedule)
    return qs


def selects(fields: list[Any], name: str) -> bool:
    """Does the query select a field called ``name`` anywhere below ``fields``?"""
    for f in fields:
        if getattr(f, "name", None) == name or selects(getattr(f, "selections", []), name):
            return True
    return False


async def fetch_page(
    loaders: Loaders, page: QuerySet[Machine], *, hosts: bool
) -> list[dict[str, Any]]:
    """A page of machines as plain rows; their groups through the group loader (one query)
    and, when asked for, their hosts through the machine loader (one more).

    Plain rows instead of model instances: building 1,000 Tortoise objects costs ~50 ms, and
    joining the group's columns into every row ~20 ms more than loading the few groups apart."""
    rows = await page.values(*MACHINE_COLUMNS)
    await loaders.group_by_id.load_many(sorted({r["group_id"] for r in rows}))
    if hosts:
        host_ids = sorted({r["host_id"] for r in rows if r["host_id"] is not None})
        await loaders.machine_by_id.load_many(host_ids)
    return rows


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
        visible = scoped(Machine, info.context.principal)
        qs = _filtered(visible, filter, visible).order_by("name")
        want_host = selects(info.selected_fields, "host")

        async def fetch(page: QuerySet[Machine]) -> list[dict[str, Any]]:
            return await fetch_page(info.context.loaders, page, hosts=want_host)

        return await paginate(
            qs, first, after, MachineType.from_values, max_size=MACHINES_MAX_PAGE, fetch=fetch
        )

    @strawberry.field(extensions=allow("read"), description="Null when unknown or not yours.")
    async def machine(self, info: Info, name: str) -> MachineType | None:
        m = await where(scoped(Machine, info.context.principal), name=name).first()
        return MachineType.from_model(m) if m is not None else None
