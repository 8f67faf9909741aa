"""registerMachine, changeDesired, setAutoSchedule, setRepresentative, setRedundancy."""

from __future__ import annotations

import re
from typing import Annotated, Any

import strawberry

from api.errors import NotFound, ValidationError
from api.graphql import lookup
from api.graphql.activities.types import ActivityType
from api.graphql.context import Info
from api.graphql.errors import NotFoundError, PermissionDeniedError, ValidationErrorType
from api.graphql.machines.inputs import (
    ChangeDesiredInput,
    RegisterMachineInput,
    SetAutoScheduleInput,
    SetRedundancyInput,
    SetRepresentativeInput,
)
from api.graphql.machines.types import MachineType
from api.graphql.permissions import allow
from api.models import Machine, ResourceGroup
from api.models.keys import where
from api.services import machines as machine_service

__all__ = ["KERNEL", "ChangeDesiredResultType", "MachineMutations"]


@strawberry.type(name="ChangeDesiredResult")
class ChangeDesiredResultType:
    machine: MachineType
    activities: list[ActivityType] = strawberry.field(
        description="Activities queued or updated because desired differs from observed."
    )


MachinePayload = Annotated[
    MachineType | ValidationErrorType | NotFoundError | PermissionDeniedError,
    strawberry.union("MachinePayload"),
]
ChangeDesiredPayload = Annotated[
    ChangeDesiredResultType | ValidationErrorType | NotFoundError | PermissionDeniedError,
    strawberry.union("ChangeDesiredPayload"),
]


# The host agent boots /boot/vmlinuz-<kernel>: a version, never a path (the column holds 64)
KERNEL = re.compile(r"[0-9A-Za-z][0-9A-Za-z.+~_-]{0,63}")


def _check_kernel(value: str | None) -> None:
    if value is not None and not KERNEL.fullmatch(value):
        raise ValidationError.single(
            "kernel", "a kernel version such as 2.6.38: letters, digits and . + ~ _ -, at most 64"
        )


async def _flags(info: Info, name: str, **flags: Any) -> MachineType:
    machine = await lookup.machine(info.context, name)
    machine = await machine_service.set_flags(info.context.actor, machine, **flags)
    return MachineType.from_model(machine)


@strawberry.type
class MachineMutations:
    @strawberry.mutation(extensions=allow("machines.register"), description="Operators.")
    async def register_machine(self, info: Info, input: RegisterMachineInput) -> MachinePayload:
        _check_kernel(input.kernel)
        group = await where(ResourceGroup.all(), name=input.group).first()
        if group is None:
            raise NotFound("resource group", input.group)
        host = None
        if input.host is not None:
            host = await where(Machine.all(), name=input.host).first()
            if host is None:
                raise NotFound("machine", input.host)
        machine = await machine_service.register_machine(
            info.context.actor,
            name=input.name,
            group=group,
            kind=input.kind.value,
            host=host,
            arch=input.arch.value,
            desired_cores=input.cores,
            desired_memory_mib=input.memory_mib,
            desired_swap_mib=input.swap_mib,
            desired_kernel=input.kernel,
            auto_schedule=input.auto_schedule,
            capacity=input.capacity,
        )
        return MachineType.from_model(machine)

    @strawberry.mutation(
        extensions=allow("machines.change_desired"),
        description="A difference from the observed value queues the matching activity.",
    )
    async def change_desired(self, info: Info, input: ChangeDesiredInput) -> ChangeDesiredPayload:
        machine = await lookup.machine(info.context, input.machine)
        _check_kernel(input.kernel)
        touched = await machine_service.change_desired(
            info.context.actor,
            machine,
            desired_cores=input.cores,
            desired_memory_mib=input.memory_mib,
            desired_kernel=input.kernel,
        )
        return ChangeDesiredResultType(
            machine=MachineType.from_model(machine),
            activities=[ActivityType.from_model(a) for a in touched],
        )

    @strawberry.mutation(extensions=allow("machines.set_auto_schedule"))
    async def set_auto_schedule(self, info: Info, input: SetAutoScheduleInput) -> MachinePayload:
        return await _flags(info, input.machine, auto_schedule=input.auto_schedule)

    @strawberry.mutation(extensions=allow("machines.set_representative"), description="Operators.")
    async def set_representative(self, info: Info, input: SetRepresentativeInput) -> MachinePayload:
        return await _flags(info, input.machine, representative=input.representative)

    @strawberry.mutation(extensions=allow("machines.set_redundancy"))
    async def set_redundancy(self, info: Info, input: SetRedundancyInput) -> MachinePayload:
        return await _flags(info, input.machine, redundancy=input.redundancy)
