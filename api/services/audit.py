"""The audit trail: one call per change, inside the change's transaction."""

from __future__ import annotations

from typing import Any

from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.models import Model

from api.effects import AuditRow
from api.models import AuditEvent
from api.payloads import to_json
from api.services.sinks import save

__all__ = ["record", "row_of"]


def row_of(
    actor: str, action: str, subject: Model, details: dict[str, Any] | None = None
) -> AuditRow:
    """The audit row of ``actor`` doing ``action`` to ``subject``."""
    return AuditRow(
        actor,
        action,
        type(subject).__name__.lower(),
        subject.pk,
        str(getattr(subject, "name", "") or subject),
        to_json(details or {}),
    )


async def record(
    actor: str,
    action: str,
    subject: Model,
    details: dict[str, Any] | None = None,
    connection: BaseDBAsyncClient | None = None,
) -> AuditEvent:
    """Write one audit event: ``actor`` did ``action`` to ``subject``."""
    event: AuditEvent = await save(row_of(actor, action, subject, details), connection)
    return event
