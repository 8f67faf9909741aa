"""Announcements published to customers (email and the generated site)."""

from __future__ import annotations

from tortoise import fields

from api.models.base import TimestampedModel

__all__ = ["Announcement"]


class Announcement(TimestampedModel):
    id = fields.IntField(primary_key=True)
    slug = fields.CharField(max_length=100, unique=True)
    title = fields.CharField(max_length=200)
    body = fields.TextField(default="")  # Markdown
    published_at = fields.DatetimeField(null=True)
    rollout = fields.ForeignKeyField(
        "fenster.Rollout", related_name="announcements", null=True, on_delete=fields.SET_NULL
    )

    class Meta:
        table = "announcement"
        ordering = ["-published_at", "-id"]
