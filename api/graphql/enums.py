"""Enumerations shared by several areas of the schema."""

from __future__ import annotations

from enum import Enum

import strawberry

__all__ = ["ActivityKind", "ActivityState", "Arch", "MachineKind", "Outcome", "Role", "WindowState"]


@strawberry.enum
class MachineKind(Enum):
    INFRASTRUCTURE = "infrastructure"
    HOST = "host"
    VM = "vm"


@strawberry.enum
class Arch(Enum):
    X86_64 = "x86_64"
    I686 = "i686"


@strawberry.enum
class ActivityKind(Enum):
    MEMORY_RESIZE = "memory_resize"
    CPU_CHANGE = "cpu_change"
    KERNEL_UPDATE = "kernel_update"
    SYSTEM_UPDATE = "system_update"
    REBOOT = "reboot"
    HOST_REBOOT = "host_reboot"


@strawberry.enum
class ActivityState(Enum):
    QUEUED = "queued"
    SCHEDULED = "scheduled"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"
    CANCELLED = "cancelled"


@strawberry.enum
class WindowState(Enum):
    PLANNED = "planned"
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"


@strawberry.enum
class Role(Enum):
    ADMIN = "admin"
    CUSTOMER = "customer"
    AGENT = "agent"


@strawberry.enum
class Outcome(Enum):
    DONE = "done"
    FAILED = "failed"
