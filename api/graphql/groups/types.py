"""Group, its policy, freezes, feed address and window preview."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Annotated

import strawberry

from api.errors import ValidationError
from api.feeds.urls import feed_url
from api.graphql import permissions
from api.graphql.context import Info
from api.graphql.relay import Connection, Node, encode_id, paginate_list
from api.models import Freeze, ResourceGroup
from api.scheduling import Policy, occurrences

if TYPE_CHECKING:
    from api.graphql.machines.types import MachineType

__all__ = [
    "FeedUrlType",
    "FreezeType",
    "GroupPolicyType",
    "GroupType",
    "OccurrenceType",
    "policy_of",
]

MAX_PREVIEW = 60

MachineRef = Annotated["MachineType", strawberry.lazy("api.graphql.machines.types")]


@strawberry.type(name="Freeze", description="A period without maintenance.")
class FreezeType:
    starts_at: datetime
    ends_at: datetime
    reason: str
    applies_to_all_groups: bool

    @classmethod
    def from_model(cls, f: Freeze) -> FreezeType:
        return cls(
            starts_at=f.starts_at,
            ends_at=f.ends_at,
            reason=f.reason,
            applies_to_all_groups=f.group_id is None,
        )


@strawberry.type(name="GroupPolicy", description="When and how a group's machines are maintained.")
class GroupPolicyType:
    contacts: list[str]
    timezone: str
    window_start: str = strawberry.field(description="Local start of the daily window, HH:MM.")
    window_minutes: int
    weekdays: list[int] = strawberry.field(description="0 = Monday ... 6 = Sunday.")
    notice_minutes: int
    reminder_minutes: int
    max_postpones: int
    label: str = strawberry.field(description="For example '02:00-04:00 Europe/Berlin'.")
    group_id: strawberry.Private[int]

    @strawberry.field
    async def freezes(self, info: Info) -> list[FreezeType]:
        rows = await info.context.loaders.freezes_by_group.load(self.group_id)
        return [FreezeType.from_model(f) for f in rows]


@strawberry.type(name="WindowOccurrence", description="One regular window of a group's policy.")
class OccurrenceType:
    local_date: date
    starts_at: datetime
    ends_at: datetime
    local_start: datetime
    local_end: datetime
    start_moved: bool = strawberry.field(description="The local start fell into a DST gap.")
    frozen: bool = strawberry.field(description="A freeze period overlaps this occurrence.")


@strawberry.type(name="FeedUrl", description="The group's iCalendar feed (keep it secret).")
class FeedUrlType:
    https: str
    webcal: str


def policy_of(g: ResourceGroup) -> Policy:
    return Policy(g.timezone, g.window_start, g.window_minutes, tuple(sorted(g.weekdays)))


@strawberry.type(name="Group", description="A resource group: a customer's unit and its policy.")
class GroupType(Node):
    name: str
    title: str
    created_at: datetime
    updated_at: datetime
    m: strawberry.Private[ResourceGroup]

    @classmethod
    def from_model(cls, g: ResourceGroup) -> GroupType:
        return cls(
            id=encode_id("Group", g.id),
            name=g.name,
            title=g.title,
            created_at=g.created_at,
            updated_at=g.updated_at,
            m=g,
        )

    @strawberry.field
    def policy(self) -> GroupPolicyType:
        g = self.m
        return GroupPolicyType(
            contacts=list(g.contacts),
            timezone=g.timezone,
            window_start=g.window_start.strftime("%H:%M"),
            window_minutes=g.window_minutes,
            weekdays=sorted(g.weekdays),
            notice_minutes=g.notice_minutes,
            reminder_minutes=g.reminder_minutes,
            max_postpones=g.max_postpones,
            label=g.window_label,
            group_id=g.id,
        )

    @strawberry.field(description="The next regular windows (at most 60), from now.")
    async def window_preview(self, info: Info, count: int = 5) -> list[OccurrenceType]:
        if not 1 <= count <= MAX_PREVIEW:
            raise ValidationError.single("count", f"preview 1 to {MAX_PREVIEW} windows")
        freezes = await info.context.loaders.freezes_by_group.load(self.m.id)
        now = datetime.now(UTC)
        out: list[OccurrenceType] = []
        for occ in occurrences(policy_of(self.m), now, now + timedelta(days=400)):
            frozen = any(f.starts_at < occ.ends_at and occ.starts_at < f.ends_at for f in freezes)
            out.append(
                OccurrenceType(
                    local_date=occ.local_date,
                    starts_at=occ.starts_at,
                    ends_at=occ.ends_at,
                    local_start=occ.local_start,
                    local_end=occ.local_end,
                    start_moved=occ.start_moved,
                    frozen=frozen,
                )
            )
            if len(out) == count:
                break
        return out

    @strawberry.field(description="Feed address: only for the group's customers and operators.")
    def feed(self, info: Info) -> FeedUrlType | None:
        if not permissions.can_see_feed(info.context, self.m.id):
            return None
        urls = feed_url(info.context.settings, self.m)
        return FeedUrlType(https=urls.https, webcal=urls.webcal)

    @strawberry.field
    async def machines(
        self, info: Info, first: int | None = None, after: str | None = None
    ) -> Connection[MachineRef]:
        from api.graphql.machines.types import MachineType

        rows = await info.context.loaders.machines_by_group.load(self.m.id)
        return paginate_list(rows, first, after, MachineType.from_model)

    @strawberry.field(description="EUR a month for the group's VMs (25 per core beyond the first).")
    async def monthly_cost(self, info: Info) -> int:
        rows = await info.context.loaders.machines_by_group.load(self.m.id)
        return sum(m.monthly_price_eur for m in rows)
