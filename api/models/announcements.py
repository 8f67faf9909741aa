"""Announcements published to customers (email and the generated site)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from tortoise import fields

from api.models.base import TimestampedModel

if TYPE_CHECKING:
    from api.models.rollouts import Rollout

__all__ = ["Announcement"]


class Announcement(TimestampedModel):
    id = fields.IntField(primary_key=True)
    slug = fields.CharField(max_length=100, unique=True)
    title = fields.CharField(max_length=200)
    body = fields.TextField(default="")  # Markdown
    published_at = fields.DatetimeField(null=True)
    rollout: fields.ForeignKeyNullableRelation[Rollout] = fields.ForeignKeyField(
        "fenster.Rollout",
        db_index=True,
        related_name="announcements",
        null=True,
        on_delete=fields.SET_NULL,
    )
    rollout_id: int | None

    class Meta:
        table = "announcement"
        ordering = ["-published_at", "-id"]
