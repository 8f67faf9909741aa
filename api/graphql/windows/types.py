"""Window: one appointment for one machine, in UTC and in its group's local time."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Annotated

import strawberry

from api.graphql.context import Info
from api.graphql.enums import WindowState
from api.graphql.relay import Node, encode_id
from api.models import ResourceGroup, Window
from api.scheduling import zone

if TYPE_CHECKING:
    from api.graphql.activities.types import ActivityType
    from api.graphql.machines.types import MachineType

__all__ = ["LocalTimesType", "WindowType"]

ActivityRef = Annotated["ActivityType", strawberry.lazy("api.graphql.activities.types")]
MachineRef = Annotated["MachineType", strawberry.lazy("api.graphql.machines.types")]


@strawberry.type(name="LocalTimes", description="A window's start and end on the group's clock.")
class LocalTimesType:
    timezone: str
    starts_at: datetime
    ends_at: datetime


@strawberry.type(name="Window", description="A maintenance window for one machine.")
class WindowType(Node):
    uid: str = strawberry.field(description="Stable iCalendar UID.")
    starts_at: datetime = strawberry.field(description="UTC.")
    ends_at: datetime = strawberry.field(description="UTC.")
    state: WindowState
    reason: str = strawberry.field(description="Why this slot was chosen.")
    sequence: int = strawberry.field(description="Grows on every change (iCalendar SEQUENCE).")
    forced: bool
    postpones: int
    postpone_deadline: datetime | None
    started_at: datetime | None
    finished_at: datetime | None
    stuck_since: datetime | None = strawberry.field(
        description="When the watchdog found this window still running 30 minutes past its "
        "end (the operators were told); null otherwise."
    )
    guest_down_since: datetime | None = strawberry.field(
        description="When the host agent reported that a guest which ran before this window "
        "could not be started again (the operators were told at once); null otherwise."
    )
    w: strawberry.Private[Window]

    @classmethod
    def from_model(cls, w: Window) -> WindowType:
        return cls(
            id=encode_id("Window", w.id),
            uid=w.uid,
            starts_at=w.starts_at,
            ends_at=w.ends_at,
            state=WindowState(w.state),
            reason=w.reason,
            sequence=w.sequence,
            forced=w.forced,
            postpones=w.postpones,
            postpone_deadline=w.postpone_deadline,
            started_at=w.started_at,
            finished_at=w.finished_at,
            stuck_since=w.stuck_at,
            guest_down_since=w.guest_down_at,
            w=w,
        )

    async def _group(self, info: Info) -> ResourceGroup | None:
        loaders = info.context.loaders
        machine = await loaders.any_machine_by_id.load(self.w.machine_id)
        if machine is None:
            return None
        return await loaders.any_group_by_id.load(machine.group_id)  # only its zone

    @strawberry.field(description="Start and end in the machine's group's timezone.")
    async def local(self, info: Info) -> LocalTimesType:
        group = await self._group(info)
        tz_name = group.timezone if group is not None else "UTC"
        tz = zone(tz_name)
        return LocalTimesType(
            timezone=tz_name,
            starts_at=self.starts_at.astimezone(tz),
            ends_at=self.ends_at.astimezone(tz),
        )

    @strawberry.field
    async def machine(self, info: Info) -> MachineRef | None:
        from api.graphql.machines.types import MachineType

        m = await info.context.loaders.machine_by_id.load(self.w.machine_id)
        return MachineType.from_model(m) if m is not None else None

    @strawberry.field(description="The work carried out in this window.")
    async def activities(self, info: Info) -> list[ActivityRef]:
        from api.graphql.activities.types import ActivityType

        rows = await info.context.loaders.activities_by_window.load(self.w.id)
        return [ActivityType.from_model(a) for a in rows]
