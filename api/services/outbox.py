"""The outbox: rows written in the same transaction as the change they report."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from tortoise.backends.base.client import BaseDBAsyncClient

from api.models import NOTIFICATION_KINDS, Notification, ResourceGroup, Window

__all__ = ["enqueue"]


async def enqueue(
    kind: str,
    *,
    group: ResourceGroup,
    window: Window | None = None,
    payload: dict[str, Any] | None = None,
    dedupe_key: str | None = None,
    connection: BaseDBAsyncClient | None = None,
) -> Notification | None:
    """Queue one message to ``group``'s contacts; a repeated ``dedupe_key`` queues nothing.

    Returns the new row, or None when the same event was already queued.
    """
    if kind not in NOTIFICATION_KINDS:
        raise ValueError(f"unknown notification kind {kind!r}")
    if dedupe_key is None:
        if window is not None:
            dedupe_key = f"{kind}:{window.uid}:{window.sequence}"
        else:
            dedupe_key = f"{kind}:{group.pk}:{group.updated_at.isoformat()}"
    exists = await Notification.filter(dedupe_key=dedupe_key).using_db(connection).exists()
    if exists:
        return None
    return await Notification.create(
        kind=kind,
        group=group,
        window=window,
        recipients=list(group.contacts),
        payload=payload or {},
        dedupe_key=dedupe_key,
        thread_key=window.uid if window is not None else f"group:{group.pk}",
        next_attempt_at=datetime.now(UTC),
        using_db=connection,
    )
