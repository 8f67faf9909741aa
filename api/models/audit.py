"""The audit trail: who changed what, when."""

from __future__ import annotations

from typing import Any

from tortoise import fields
from tortoise.models import Model

from api.models.tokens import ACTOR_MAX_LENGTH

__all__ = ["AuditEvent"]


class AuditEvent(Model):
    id = fields.IntField(primary_key=True)
    at = fields.DatetimeField(auto_now_add=True, db_index=True)
    actor = fields.CharField(max_length=ACTOR_MAX_LENGTH)
    action = fields.CharField(max_length=64)
    subject_type = fields.CharField(max_length=32)
    subject_id = fields.IntField()
    subject_name = fields.CharField(max_length=200, default="")
    details = fields.JSONField[dict[str, Any]](default=dict)

    class Meta:
        table = "audit_event"
        ordering = ["id"]
        indexes = (("subject_type", "subject_id"),)
