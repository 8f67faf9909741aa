"""AuditEvent: who changed what, when."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import strawberry
from strawberry.scalars import JSON

from api.graphql import permissions
from api.graphql.context import Info
from api.graphql.relay import Node, encode_id
from api.models import AuditEvent

__all__ = ["AuditEventType"]


@strawberry.type(
    name="AuditEvent",
    description="Who changed what, when. node(id) finds the events the caller's auditEvents "
    "and machines' auditTrail show; customers read them without VM hosts and operators' tokens.",
)
class AuditEventType(Node):
    at: datetime
    action: str
    subject_type: str
    subject_name: str
    stored_actor: strawberry.Private[str]
    stored_details: strawberry.Private[Any]

    @strawberry.field
    def actor(self, info: Info) -> str:
        return permissions.shown_actor(info.context, self.stored_actor)

    @strawberry.field
    def details(self, info: Info) -> JSON:
        return JSON(permissions.shown_details(info.context, self.stored_details))

    @classmethod
    def from_model(cls, e: AuditEvent) -> AuditEventType:
        return cls(
            id=encode_id("AuditEvent", e.id),
            at=e.at,
            action=e.action,
            subject_type=e.subject_type,
            subject_name=e.subject_name,
            stored_actor=e.actor,
            stored_details=e.details,
        )
