"""scheduleAt, postponeWindow, cancelWindow, forceHostReboot (through the scheduler's services)."""

from __future__ import annotations

from typing import Annotated

import strawberry

from api.graphql import lookup
from api.graphql.context import Info
from api.graphql.errors import NotFoundError, PermissionDeniedError, ValidationErrorType
from api.graphql.permissions import allow
from api.graphql.windows import ops
from api.graphql.windows.inputs import (
    CancelWindowInput,
    ForceHostRebootInput,
    PostponeWindowInput,
    ScheduleAtInput,
)
from api.graphql.windows.types import WindowType

__all__ = ["WindowMutations"]

WindowPayload = Annotated[
    WindowType | ValidationErrorType | NotFoundError | PermissionDeniedError,
    strawberry.union("WindowPayload"),
]


@strawberry.type(name="HostRebootResult")
class HostRebootResultType:
    windows: list[WindowType] = strawberry.field(description="The host's window first.")


HostRebootPayload = Annotated[
    HostRebootResultType | ValidationErrorType | NotFoundError | PermissionDeniedError,
    strawberry.union("HostRebootPayload"),
]


@strawberry.type
class WindowMutations:
    @strawberry.mutation(extensions=allow("windows.schedule_at"))
    async def schedule_at(self, info: Info, input: ScheduleAtInput) -> WindowPayload:
        ctx = info.context
        machine = await lookup.machine(ctx, input.machine)
        window = await ops.schedule_at(ctx, machine, input.starts_at, force=input.force)
        return WindowType.from_model(window)

    @strawberry.mutation(extensions=allow("windows.postpone"))
    async def postpone_window(self, info: Info, input: PostponeWindowInput) -> WindowPayload:
        ctx = info.context
        window = await ops.postpone(ctx, await lookup.window(ctx, input.window))
        return WindowType.from_model(window)

    @strawberry.mutation(extensions=allow("windows.cancel"), description="Operators.")
    async def cancel_window(self, info: Info, input: CancelWindowInput) -> WindowPayload:
        ctx = info.context
        window = await ops.cancel(ctx, await lookup.window(ctx, input.window), input.reason)
        return WindowType.from_model(window)

    @strawberry.mutation(extensions=allow("windows.force_host_reboot"), description="Operators.")
    async def force_host_reboot(self, info: Info, input: ForceHostRebootInput) -> HostRebootPayload:
        ctx = info.context
        host = await lookup.machine(ctx, input.host)
        windows = await ops.force_host_reboot(ctx, host, input.starts_at)
        return HostRebootResultType(windows=[WindowType.from_model(w) for w in windows])
