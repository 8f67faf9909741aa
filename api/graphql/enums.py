"""Enumerations shared by several areas of the schema."""

from __future__ import annotations

from enum import Enum

import strawberry

from api.kinds import ActivityKind
from api.rules import GuestFlag

__all__ = [
    "ActivityKind",
    "ActivityState",
    "Arch",
    "GuestFlag",
    "MachineKind",
    "Outcome",
    "Role",
    "WindowState",
]


@strawberry.enum
class MachineKind(Enum):
    INFRASTRUCTURE = "infrastructure"
    HOST = "host"
    VM = "vm"


@strawberry.enum
class Arch(Enum):
    X86_64 = "x86_64"
    I686 = "i686"


# the registry's enum itself (api.kinds): a kind added there is in the schema
strawberry.enum(ActivityKind)
strawberry.enum(GuestFlag, description="What operators are shown about a VM's guest.")


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
    GUEST = "guest"


@strawberry.enum
class Outcome(Enum):
    DONE = "done"
    FAILED = "failed"
