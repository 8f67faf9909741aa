"""Activity: one piece of work queued for a machine."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Annotated

import strawberry
from strawberry.scalars import JSON

from api.graphql import permissions
from api.graphql.context import Info
from api.graphql.enums import ActivityKind, ActivityState
from api.graphql.relay import Node, encode_id
from api.kinds import FOR_HOST_REBOOT
from api.models import Activity

if TYPE_CHECKING:
    from api.graphql.machines.types import MachineType
    from api.graphql.windows.types import WindowType

__all__ = ["ActivityType"]

MachineRef = Annotated["MachineType", strawberry.lazy("api.graphql.machines.types")]
WindowRef = Annotated["WindowType", strawberry.lazy("api.graphql.windows.types")]


@strawberry.type(name="Activity", description="Maintenance work for one machine.")
class ActivityType(Node):
    kind: ActivityKind
    state: ActivityState
    estimate_minutes: int
    needs_reboot: bool
    not_before: datetime | None
    blocked_reason: str | None = strawberry.field(description="Why it has no window yet.")
    attempts: int
    requested_at: datetime
    finished_at: datetime | None
    exit_code: int | None = strawberry.field(
        description="A guest agent's update: its command's exit code (null: unknown)."
    )
    changed_packages: list[str] | None = strawberry.field(
        description="A guest agent's update: the packages its command said it changed."
    )
    a: strawberry.Private[Activity]

    @classmethod
    def from_model(cls, a: Activity) -> ActivityType:
        return cls(
            id=encode_id("Activity", a.id),
            kind=ActivityKind(a.kind),
            state=ActivityState(a.state),
            estimate_minutes=a.estimate_minutes,
            needs_reboot=a.needs_reboot,
            not_before=a.not_before,
            blocked_reason=a.blocked_reason,
            attempts=a.attempts,
            requested_at=a.requested_at,
            finished_at=a.finished_at,
            exit_code=a.exit_code,
            changed_packages=a.changed_packages,
            a=a,
        )

    @strawberry.field
    async def params(self, info: Info) -> JSON:
        params = self.a.params
        host_id = self.a.for_host_reboot_id
        if host_id is not None and not permissions.for_customers(info.context):
            # the host agent reads the host whose reboot this is under FOR_HOST_REBOOT
            host = await info.context.loaders.any_machine_by_id.load(host_id)
            if host is not None:
                params = {**params, FOR_HOST_REBOOT: host.name}
        return permissions.shown_details(info.context, params)

    @strawberry.field(description="What the host agent did and saw.")
    async def log(self, info: Info) -> str | None:
        if not self.a.log or not permissions.for_customers(info.context):
            return self.a.log
        loaders = info.context.loaders
        machine = await loaders.any_machine_by_id.load(self.a.machine_id)
        host = (  # only its name, to leave it out
            await loaders.any_machine_by_id.load(machine.host_id)
            if machine and machine.host_id
            else None
        )
        return permissions.shown_log(info.context, self.a.log, host.name if host else None)

    @strawberry.field
    def requested_by(self, info: Info) -> str:
        return permissions.shown_actor(info.context, self.a.requested_by)

    @strawberry.field
    async def machine(self, info: Info) -> MachineRef | None:
        from api.graphql.machines.types import MachineType

        m = await info.context.loaders.machine_by_id.load(self.a.machine_id)
        return MachineType.from_model(m) if m is not None else None

    @strawberry.field
    async def window(self, info: Info) -> WindowRef | None:
        from api.graphql.windows.types import WindowType

        window_id = self.a.window_id
        if window_id is None:
            return None
        w = await info.context.loaders.window_by_id.load(window_id)
        return WindowType.from_model(w) if w is not None else None
