"""Inputs of the machine queries and mutations."""

from __future__ import annotations

import strawberry

from api.graphql.enums import Arch, MachineKind

__all__ = [
    "ChangeDesiredInput",
    "MachineFilter",
    "RegisterMachineInput",
    "SetAutoScheduleInput",
    "SetRedundancyInput",
    "SetRepresentativeInput",
]


@strawberry.input
class MachineFilter:
    group: str | None = None
    kind: MachineKind | None = None
    host: str | None = strawberry.field(default=None, description="VMs on this host.")
    name_contains: str | None = None
    auto_schedule: bool | None = None


@strawberry.input
class RegisterMachineInput:
    name: str
    group: str
    kind: MachineKind = MachineKind.VM
    host: str | None = None
    arch: Arch = Arch.X86_64
    cores: int = 1
    memory_mib: int = 2048
    swap_mib: int = 1024
    kernel: str | None = None
    auto_schedule: bool = True
    capacity: int = strawberry.field(default=2, description="Hosts: VMs in maintenance at once.")


@strawberry.input(description="Omitted fields stay as they are.")
class ChangeDesiredInput:
    machine: str
    cores: int | None = None
    memory_mib: int | None = None
    kernel: str | None = None


@strawberry.input
class SetAutoScheduleInput:
    machine: str
    auto_schedule: bool


@strawberry.input
class SetRepresentativeInput:
    machine: str
    representative: bool


@strawberry.input
class SetRedundancyInput:
    machine: str
    redundancy: str | None = strawberry.field(description="A tag shared by redundant machines.")
