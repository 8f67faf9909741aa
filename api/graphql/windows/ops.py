"""The window operations as the request's token may use them (the scheduler's services do
the work: api.services.window_ops)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime

from api import policy
from api.errors import FieldError, PermissionDenied, ValidationError
from api.graphql.context import Context
from api.models import Activity, Machine, Window
from api.scheduling import reach
from api.services import postponing, window_ops

__all__ = [
    "cancel",
    "cancel_activity",
    "check_reach",
    "force_host_reboot",
    "postpone",
    "schedule_at",
]


def check_reach(
    ctx: Context, instants: Mapping[str, datetime | None], *, customer_horizon: bool = True
) -> None:
    """Refuse instants later than this token may set (api.scheduling.reach), naming each.

    Without ``customer_horizon`` customers reach as far as operators (freezes: a customer
    announces the holidays before the scheduler plans that far)."""
    by_customer = customer_horizon and policy.limited_as_customer(ctx.principal)
    bound = reach(
        datetime.now(UTC), by_customer=by_customer, horizon_days=ctx.settings.horizon_days
    )
    found = []
    for field, instant in instants.items():
        if instant is not None and instant.tzinfo is not None and instant > bound.latest:
            found.append(FieldError(field, bound.problem(instant) or ""))
    if found:
        raise ValidationError(found)


async def schedule_at(
    ctx: Context, machine: Machine, starts_at: datetime, *, force: bool
) -> Window:
    if force and not policy.may_force(ctx.principal):
        raise PermissionDenied("only an operator may force a window outside the policy")
    return await window_ops.schedule_at(
        ctx.principal, machine, starts_at, force=force, settings=ctx.settings
    )


async def postpone(ctx: Context, window: Window) -> Window:
    return await postponing.postpone(ctx.principal, window, settings=ctx.settings)


async def cancel(ctx: Context, window: Window, reason: str) -> Window:
    """Cancel every open activity of the window; a window left without work is cancelled."""
    if window.state not in ("planned", "cancelled"):
        raise ValidationError.single("window", f"a {window.state} window cannot be cancelled")
    work = await Activity.filter(window_id=window.id, state__in=("queued", "scheduled"))
    if work:
        await window_ops.cancel_activities(ctx.actor, work, reason=reason)
    return await Window.get(id=window.id)


async def cancel_activity(ctx: Context, activity: Activity) -> Activity:
    await window_ops.cancel_activities(ctx.actor, [activity])
    return await Activity.get(id=activity.id)


async def force_host_reboot(ctx: Context, host: Machine, starts_at: datetime) -> list[Window]:
    return await window_ops.force_host_reboot(ctx.actor, host, starts_at, settings=ctx.settings)
