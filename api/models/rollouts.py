"""Staged rollouts of system updates and their waves."""

from __future__ import annotations

from tortoise import fields
from tortoise.models import Model

from api.models.base import StatefulMixin, TimestampedModel
from api.states import ROLLOUT, WAVE

__all__ = ["WAVE_SELECTORS", "Rollout", "Wave"]

# Which machines a wave takes: infrastructure machines, the representative (canary) set, a
# percentage of what is left, the rest, or the VM hosts themselves (host reboots).
WAVE_SELECTORS = ("infrastructure", "representative", "percent", "rest", "hosts")


class Rollout(StatefulMixin, TimestampedModel):
    STATES = ROLLOUT

    id = fields.IntField(primary_key=True)
    name = fields.CharField(max_length=63, unique=True)
    title = fields.CharField(max_length=200)
    description = fields.TextField(default="")
    target = fields.CharField(max_length=200, default="")
    state = fields.CharField(max_length=16, default="draft")
    halted_reason = fields.TextField(null=True)

    class Meta:
        table = "rollout"
        ordering = ["-created_at"]


class Wave(StatefulMixin, Model):
    STATES = WAVE

    id = fields.IntField(primary_key=True)
    rollout = fields.ForeignKeyField(
        "fenster.Rollout", related_name="waves", on_delete=fields.CASCADE
    )
    position = fields.IntField()
    name = fields.CharField(max_length=100)
    selector = fields.CharField(max_length=16)
    percent = fields.IntField(null=True)
    starts_at = fields.DatetimeField()
    failure_threshold = fields.FloatField(default=0.05)
    state = fields.CharField(max_length=16, default="pending")

    class Meta:
        table = "rollout_wave"
        unique_together = (("rollout", "position"),)
        ordering = ["position"]
