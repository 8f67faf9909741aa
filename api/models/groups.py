"""Resource groups (a customer's unit and its maintenance policy) and freeze periods."""

from __future__ import annotations

import secrets
from datetime import time
from typing import Any

from tortoise import fields
from tortoise.models import Model

from api import rules
from api.models.base import TimestampedModel
from api.models.fields import LocalTimeField

__all__ = ["DEFAULT_NOTICE_MINUTES", "Freeze", "ResourceGroup", "new_feed_token"]

DEFAULT_NOTICE_MINUTES = 7 * 24 * 60
ALL_WEEKDAYS = [0, 1, 2, 3, 4, 5, 6]


def all_weekdays() -> list[int]:
    return list(ALL_WEEKDAYS)


def new_feed_token() -> str:
    """256 random bits, URL-safe: the capability in a group's feed URL."""
    return secrets.token_urlsafe(32)


class ResourceGroup(TimestampedModel):
    id = fields.IntField(primary_key=True)
    name = fields.CharField(max_length=63, unique=True)
    title = fields.CharField(max_length=200, default="")
    contacts = fields.JSONField[list[str]](default=list)
    timezone = fields.CharField(max_length=64, default="UTC")
    window_start = LocalTimeField(default=time(2, 0))
    window_minutes = fields.IntField(default=120)
    weekdays = fields.JSONField[list[int]](default=all_weekdays)
    notice_minutes = fields.IntField(default=DEFAULT_NOTICE_MINUTES)
    reminder_minutes = fields.IntField(default=24 * 60)
    max_postpones = fields.IntField(default=2)
    feed_token = fields.CharField(max_length=64, unique=True, default=new_feed_token)

    class Meta:
        table = "resource_group"
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def check_rules(self) -> None:
        rules.check_group(
            name=self.name,
            contacts=self.contacts,
            timezone=self.timezone,
            window_start=self.window_start,
            window_minutes=self.window_minutes,
            weekdays=self.weekdays,
            notice_minutes=self.notice_minutes,
            reminder_minutes=self.reminder_minutes,
            max_postpones=self.max_postpones,
        )

    @property
    def window_label(self) -> str:
        """'02:00-04:00 Europe/Berlin' (local wall-clock start and end)."""
        start = self.window_start.hour * 60 + self.window_start.minute
        end = (start + self.window_minutes) % (24 * 60)
        return f"{start // 60:02d}:{start % 60:02d}-{end // 60:02d}:{end % 60:02d} {self.timezone}"


class Freeze(Model):
    """A period without maintenance: for one group, or for every group when ``group`` is null."""

    id = fields.IntField(primary_key=True)
    group: fields.ForeignKeyNullableRelation[ResourceGroup] = fields.ForeignKeyField(
        "fenster.ResourceGroup",
        db_index=True,
        related_name="freezes",
        null=True,
        on_delete=fields.CASCADE,
    )
    group_id: int | None
    starts_at = fields.DatetimeField()
    ends_at = fields.DatetimeField()
    reason = fields.CharField(max_length=200, default="")

    class Meta:
        table = "freeze"
        ordering = ["starts_at"]

    async def save(self, *args: Any, **kwargs: Any) -> None:
        from api.errors import ValidationError

        if self.ends_at <= self.starts_at:
            raise ValidationError.single("ends_at", "a freeze must end after it starts")
        await super().save(*args, **kwargs)
