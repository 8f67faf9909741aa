"""AuditEvent: who changed what, when."""

from __future__ import annotations

from datetime import datetime

import strawberry
from strawberry.scalars import JSON

from api.graphql.relay import Node, encode_id
from api.models import AuditEvent

__all__ = ["AuditEventType"]


@strawberry.type(name="AuditEvent")
class AuditEventType(Node):
    at: datetime
    actor: str
    action: str
    subject_type: str
    subject_name: str
    details: JSON

    @classmethod
    def from_model(cls, e: AuditEvent) -> AuditEventType:
        return cls(
            id=encode_id("AuditEvent", e.id),
            at=e.at,
            actor=e.actor,
            action=e.action,
            subject_type=e.subject_type,
            subject_name=e.subject_name,
            details=JSON(e.details),
        )
