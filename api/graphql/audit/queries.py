"""auditEvents(subject)."""

from __future__ import annotations

import strawberry

from api.graphql.audit.types import AuditEventType
from api.graphql.context import Info
from api.graphql.permissions import allow
from api.graphql.relay import Connection, paginate
from api.models import AuditEvent
from api.models.keys import where
from api.scoping import scoped

__all__ = ["AuditQueries", "AuditSubjectInput"]


@strawberry.input
class AuditSubjectInput:
    type: str = strawberry.field(description="machine, resourcegroup, activity, window, apitoken")
    name: str


@strawberry.type
class AuditQueries:
    @strawberry.field(extensions=allow("audit.read"), description="The audit trail, oldest first.")
    async def audit_events(
        self,
        info: Info,
        subject: AuditSubjectInput | None = None,
        first: int | None = None,
        after: str | None = None,
    ) -> Connection[AuditEventType]:
        qs = scoped(AuditEvent, info.context.principal)
        if subject is not None:
            qs = where(qs, subject_type=subject.type, subject_name=subject.name)
        return await paginate(qs.order_by("id"), first, after, AuditEventType.from_model)
