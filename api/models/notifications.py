"""The outbox: every change that customers hear about writes a row here, in its transaction."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from tortoise import fields
from tortoise.models import Model

from api.notices import NOTICE_KINDS

if TYPE_CHECKING:
    from api.models.groups import ResourceGroup
    from api.models.windows import Window

__all__ = ["NOTIFICATION_KINDS", "NOTIFICATION_STATES", "Notification"]

NOTIFICATION_KINDS = NOTICE_KINDS  # the registry in api.notices is the kind list's one home
NOTIFICATION_STATES = ("pending", "sent", "failed")


class Notification(Model):
    id = fields.IntField(primary_key=True)
    kind = fields.CharField(max_length=32)
    group: fields.ForeignKeyNullableRelation[ResourceGroup] = fields.ForeignKeyField(
        "fenster.ResourceGroup",
        db_index=True,
        related_name="notifications",
        null=True,
        on_delete=fields.SET_NULL,
    )
    group_id: int | None
    window: fields.ForeignKeyNullableRelation[Window] = fields.ForeignKeyField(
        "fenster.Window",
        db_index=True,
        related_name="notifications",
        null=True,
        on_delete=fields.SET_NULL,
    )
    window_id: int | None
    recipients = fields.JSONField[list[str]](default=list)
    payload = fields.JSONField[dict[str, Any]](default=dict)
    dedupe_key = fields.CharField(max_length=200, unique=True)
    thread_key = fields.CharField(max_length=200, null=True)
    state = fields.CharField(max_length=16, default="pending", db_index=True)
    attempts = fields.IntField(default=0)
    next_attempt_at = fields.DatetimeField(db_index=True)
    last_error = fields.TextField(null=True)
    message_id = fields.CharField(max_length=200, null=True)
    created_at = fields.DatetimeField(auto_now_add=True)
    sent_at = fields.DatetimeField(null=True)

    class Meta:
        table = "notification"
        ordering = ["id"]
