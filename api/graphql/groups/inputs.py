"""Inputs of the group mutations."""

from __future__ import annotations

from datetime import datetime

import strawberry

__all__ = ["CreateGroupInput", "FreezeInput", "RotateFeedTokenInput", "UpdatePolicyInput"]


@strawberry.input
class FreezeInput:
    starts_at: datetime
    ends_at: datetime
    reason: str = ""


@strawberry.input
class CreateGroupInput:
    name: str = strawberry.field(description="A DNS label: a-z, 0-9 and '-'.")
    contacts: list[str]
    timezone: str = strawberry.field(description="IANA name, e.g. Europe/Berlin.")
    window_start: str = strawberry.field(default="02:00", description="Local HH:MM.")
    window_minutes: int = 120
    weekdays: list[int] = strawberry.field(default_factory=lambda: [0, 1, 2, 3, 4, 5, 6])
    notice_minutes: int = 7 * 24 * 60
    title: str = ""


@strawberry.input(description="Only the fields given change.")
class UpdatePolicyInput:
    group: str
    title: str | None = strawberry.UNSET
    contacts: list[str] | None = strawberry.UNSET
    timezone: str | None = strawberry.UNSET
    window_start: str | None = strawberry.UNSET
    window_minutes: int | None = strawberry.UNSET
    weekdays: list[int] | None = strawberry.UNSET
    notice_minutes: int | None = strawberry.UNSET
    reminder_minutes: int | None = strawberry.UNSET
    max_postpones: int | None = strawberry.UNSET
    freezes: list[FreezeInput] | None = strawberry.field(
        default=strawberry.UNSET, description="Replaces the group's own freeze periods."
    )


@strawberry.input
class RotateFeedTokenInput:
    group: str
