"""Enumerations shared by several areas of the schema."""

from __future__ import annotations

from enum import Enum

import strawberry

from api.kinds import ActivityKind
from api.models.hooks import HookPhase, HookVerdict
from api.rules import GuestFlag
from api.services.guest_hooks import HookReply

__all__ = [
    "ActivityKind",
    "ActivityState",
    "Arch",
    "GuestFlag",
    "HookPhase",
    "HookReply",
    "HookVerdict",
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
strawberry.enum(HookPhase, description="enter: before the guest is stopped; leave: it is back.")
strawberry.enum(HookVerdict, description="Where a hook request stands.")
strawberry.enum(HookReply, description="What the guest's hooks said (exit 0, 75, 69).")


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
