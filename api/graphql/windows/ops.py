"""The window operations, as the scheduler's services provide them (adapter, to be filled)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from api.graphql.context import Context
from api.models import Machine, Window

__all__ = ["cancel", "cancel_activity", "force_host_reboot", "postpone", "schedule_at"]


async def schedule_at(
    ctx: Context, machine: Machine, starts_at: datetime, *, force: bool
) -> Window:
    raise NotImplementedError


async def postpone(ctx: Context, window: Window) -> Window:
    raise NotImplementedError


async def cancel(ctx: Context, window: Window, reason: str) -> Window:
    raise NotImplementedError


async def force_host_reboot(
    ctx: Context, host: Machine, starts_at: datetime, reason: str
) -> list[Any]:
    raise NotImplementedError


async def cancel_activity(ctx: Context, activity: Any) -> Any:
    raise NotImplementedError
