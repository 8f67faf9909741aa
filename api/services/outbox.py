"""The outbox: rows written in the same transaction as the change they report."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

from tortoise.backends.base.client import BaseDBAsyncClient

from api.models import Notification, ResourceGroup, Window
from api.notices import Notice

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

    The row stores ``notice.to_payload()``; the mailer reads it back with
    ``api.notices.notice_of``. Returns the new row, or None when the same event was already
    queued.
    """
    kind = notice.kind
    if recipients is not None:
        to = list(recipients)
    elif group is not None:
        to = list(group.contacts)
    else:
        raise ValueError("a notice about no group needs its recipients")
    if group is None and (dedupe_key is None or not notice.operators):
        raise ValueError("a notice about no group goes to the operators, with a dedupe key")
    if dedupe_key is None:
        assert group is not None
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
        recipients=to,
        payload=notice.to_payload(),
        dedupe_key=dedupe_key,
        thread_key=(
            window.uid
            if window is not None
            else f"group:{group.pk}"
            if group is not None
            else f"operators:{kind}"
        ),
        next_attempt_at=datetime.now(UTC),
        using_db=connection,
    )
