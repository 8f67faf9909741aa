"""Maintenance windows: one appointment for one machine."""

from __future__ import annotations

from typing import TYPE_CHECKING

from tortoise import fields

from api.effects import new_uid, window_minute, window_name
from api.models.base import StatefulMixin, TimestampedModel
from api.states import WINDOW

if TYPE_CHECKING:
    from api.models.machines import Machine

__all__ = ["Window", "new_uid"]  # new_uid (api.effects): the migrations name it here


class Window(StatefulMixin, TimestampedModel):
    STATES = WINDOW

    id = fields.IntField(primary_key=True)
    uid = fields.CharField(max_length=80, unique=True, default=new_uid)
    machine: fields.ForeignKeyRelation[Machine] = fields.ForeignKeyField(
        "fenster.Machine", db_index=True, related_name="windows", on_delete=fields.CASCADE
    )
    machine_id: int
    starts_at = fields.DatetimeField(db_index=True)
    ends_at = fields.DatetimeField()
    state = fields.CharField(max_length=16, default="planned", db_index=True)
    reason = fields.TextField(default="")
    sequence = fields.IntField(default=0)
    forced = fields.BooleanField(default=False)
    postpones = fields.IntField(default=0)
    postpone_deadline = fields.DatetimeField(null=True)
    started_at = fields.DatetimeField(null=True)
    finished_at = fields.DatetimeField(null=True)
    claimed_by = fields.CharField(max_length=100, null=True)  # the agent that started it
    # set by the watchdog when the window ran on well past its end (api.services.watchdog)
    stuck_at = fields.DatetimeField(null=True)
    # set when the host agent could not start again a guest that ran before the window
    # (api.services.agents.finish_window): "machine: reason" lines, and when it was told
    guest_down_at = fields.DatetimeField(null=True)
    guest_down = fields.TextField(null=True)

    class Meta:
        table = "maintenance_window"
        ordering = ["starts_at", "id"]

    def __str__(self) -> str:
        return window_name(self.uid, window_minute(self.starts_at))

    def check_rules(self) -> None:
        from api.errors import ValidationError

        if self.ends_at <= self.starts_at:
            raise ValidationError.single("ends_at", "a window must end after it starts")

    def touch(self) -> None:
        """Record a change customers must hear about: bump the iCalendar SEQUENCE."""
        self.sequence += 1
