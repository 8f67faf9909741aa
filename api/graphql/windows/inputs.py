"""Inputs of the window mutations."""

from __future__ import annotations

from datetime import datetime

import strawberry

__all__ = ["CancelWindowInput", "ForceHostRebootInput", "PostponeWindowInput", "ScheduleAtInput"]


@strawberry.input(description="Put a machine's queued work into a window starting at startsAt.")
class ScheduleAtInput:
    machine: str
    starts_at: datetime
    force: bool = strawberry.field(
        default=False, description="Operators: outside the regular window or notice."
    )


@strawberry.input(description="Move a planned window to the next regular window that fits.")
class PostponeWindowInput:
    window: str = strawberry.field(description="The window's uid.")


@strawberry.input
class CancelWindowInput:
    window: str
    reason: str = ""


@strawberry.input(description="Operators: reboot a VM host (and so its VMs) at a set time.")
class ForceHostRebootInput:
    host: str
    starts_at: datetime
