"""The outbox: rows written in the same transaction as the change they report."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

from tortoise.backends.base.client import BaseDBAsyncClient

from api.effects import outbox_row
from api.models import Notification, ResourceGroup, Window
from api.notices import Notice
from api.services.sinks import save

__all__ = ["enqueue"]


async def enqueue(
    notice: Notice,
    *,
    group: ResourceGroup | None,
    window: Window | None = None,
    dedupe_key: str | None = None,
    connection: BaseDBAsyncClient | None = None,
    recipients: Sequence[str] | None = None,
) -> Notification | None:
    """Queue one message to ``group``'s contacts (or to ``recipients``: the operators, for a
    notice about the group meant for them, or about no group at all: ``group`` None, which
    needs ``recipients`` and a ``dedupe_key``); a repeated ``dedupe_key`` queues nothing.

    The row (``api.effects.outbox_row``, which holds the key formats) stores
    ``notice.to_payload()``; the mailer reads it back with ``api.notices.notice_of``. Returns
    the new row, or None when the same event was already queued.
    """
    if recipients is not None:
        to = list(recipients)
    elif group is not None:
        to = list(group.contacts)
    else:
        raise ValueError("a notice about no group needs its recipients")
    if group is None and (dedupe_key is None or not notice.operators):
        raise ValueError("a notice about no group goes to the operators, with a dedupe key")
    row = outbox_row(
        notice,
        group_id=group.pk if group is not None else None,
        recipients=to,
        due=datetime.now(UTC),
        window=(window.pk, window.uid, window.sequence) if window is not None else None,
        dedupe_key=dedupe_key,
        group_stamp=group.updated_at if group is not None else None,
    )
    created: Notification | None = await save(row, connection)
    return created
