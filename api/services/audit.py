"""The audit trail: one call per change, inside the change's transaction."""

from __future__ import annotations

from typing import Any

from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.models import Model

from api.models import AuditEvent

__all__ = ["record"]


async def record(
    actor: str,
    action: str,
    subject: Model,
    details: dict[str, Any] | None = None,
    connection: BaseDBAsyncClient | None = None,
) -> AuditEvent:
    """Write one audit event: ``actor`` did ``action`` to ``subject``."""
    return await AuditEvent.create(
        actor=actor,
        action=action,
        subject_type=type(subject).__name__.lower(),
        subject_id=subject.pk,
        subject_name=str(getattr(subject, "name", "") or subject),
        details=_jsonable(details or {}),
        using_db=connection,
    )


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [_jsonable(v) for v in value]
    if isinstance(value, str | int | float | bool) or value is None:
        return value
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return str(value)
