"""Queueing maintenance work for a machine."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.transactions import in_transaction

from api.errors import ValidationError
from api.kinds import KINDS, check_params, require
from api.models import Activity, Machine
from api.services import audit

__all__ = ["OPEN_STATES", "queue_activity"]

OPEN_STATES = ("queued", "scheduled")


async def queue_activity(
    actor: str,
    machine: Machine,
    kind: str,
    *,
    estimate_minutes: int | None = None,
    params: dict[str, Any] | None = None,
    not_before: datetime | None = None,
    connection: BaseDBAsyncClient | None = None,
) -> Activity:
    """Queue one activity; the scheduler gives it a window on its next pass."""
    spec = KINDS[require(kind)]
    if spec.host_only and machine.kind != "host":
        raise ValidationError.single("kind", f"only a VM host can have a {spec.label}")
    if not_before is not None and not_before.tzinfo is None:
        raise ValidationError.single("not_before", "must include a timezone")
    activity = Activity(
        machine=machine,
        kind=kind,
        estimate_minutes=spec.default_estimate if estimate_minutes is None else estimate_minutes,
        params=check_params(spec.kind, params),
        not_before=not_before,
        requested_by=actor,
    )
    if connection is None:
        async with in_transaction() as conn:
            return await _save(actor, activity, conn)
    return await _save(actor, activity, connection)


async def _save(actor: str, activity: Activity, conn: BaseDBAsyncClient) -> Activity:
    await activity.save(using_db=conn)
    await audit.record(
        actor,
        "activity.queue",
        activity.machine,
        {"activity": activity.pk, "kind": activity.kind, "params": activity.params},
        connection=conn,
    )
    return activity
