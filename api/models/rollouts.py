"""Staged rollouts of system updates: waves and wave membership.

Status updates are announcements linked to the rollout (``Announcement.rollout``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from tortoise import fields
from tortoise.models import Model

from api.models.base import StatefulMixin, TimestampedModel
from api.states import ROLLOUT, WAVE

if TYPE_CHECKING:
    from api.models.machines import Machine
    from api.models.packages import PackageRelease

__all__ = ["WAVE_SELECTORS", "Rollout", "RolloutMember", "Wave"]


def _selectors() -> tuple[str, ...]:
    from api.scheduling.waves import WaveSelector

    return tuple(s.value for s in WaveSelector)


# Which machines a wave takes (api.scheduling.waves.WaveSelector is the one home).
WAVE_SELECTORS = _selectors()


class Rollout(StatefulMixin, TimestampedModel):
    STATES = ROLLOUT

    id = fields.IntField(primary_key=True)
    name = fields.CharField(max_length=63, unique=True)
    title = fields.CharField(max_length=200)
    description = fields.TextField(default="")  # the announcement body, Markdown
    target = fields.CharField(max_length=200, default="")  # a label: "Linux 2.6.38"
    kernel = fields.CharField(max_length=64, default="", db_default="")  # VMs boot it after
    state = fields.CharField(max_length=16, default="draft")
    halted_reason = fields.TextField(null=True)
    announced_at = fields.DatetimeField(null=True)
    releases: fields.ManyToManyRelation[PackageRelease] = fields.ManyToManyField(
        "fenster.PackageRelease", related_name="rollouts", through="rollout_release"
    )

    class Meta:
        table = "rollout"
        ordering = ["-created_at"]


class Wave(StatefulMixin, Model):
    STATES = WAVE

    id = fields.IntField(primary_key=True)
    rollout: fields.ForeignKeyRelation[Rollout] = fields.ForeignKeyField(
        "fenster.Rollout", db_index=True, related_name="waves", on_delete=fields.CASCADE
    )
    rollout_id: int
    position = fields.IntField()
    name = fields.CharField(max_length=100)
    selector = fields.CharField(max_length=16)
    percent = fields.IntField(null=True)
    starts_at = fields.DatetimeField()
    failure_threshold = fields.FloatField(default=0.05)  # a fraction: 0.05 is 5 %
    soak_minutes = fields.IntField(default=0, db_default=0)
    state = fields.CharField(max_length=16, default="pending")

    class Meta:
        table = "rollout_wave"
        unique_together = (("rollout", "position"),)
        ordering = ["position"]


class RolloutMember(Model):
    """Which wave of a rollout a machine goes in (one wave per machine and rollout)."""

    id = fields.IntField(primary_key=True)
    rollout: fields.ForeignKeyRelation[Rollout] = fields.ForeignKeyField(
        "fenster.Rollout", db_index=True, related_name="members", on_delete=fields.CASCADE
    )
    rollout_id: int
    wave: fields.ForeignKeyRelation[Wave] = fields.ForeignKeyField(
        "fenster.Wave", db_index=True, related_name="members", on_delete=fields.CASCADE
    )
    wave_id: int
    machine: fields.ForeignKeyRelation[Machine] = fields.ForeignKeyField(
        "fenster.Machine", db_index=True, related_name="rollout_members", on_delete=fields.CASCADE
    )
    machine_id: int

    class Meta:
        table = "rollout_member"
        unique_together = (("rollout", "machine"),)
