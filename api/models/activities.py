"""Activities: one piece of maintenance work queued for a machine."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from tortoise import fields
from tortoise.models import Model

from api.errors import IllegalTransition, ValidationError
from api.kinds import label, needs_reboot, require
from api.models.base import StatefulMixin
from api.models.tokens import ACTOR_MAX_LENGTH
from api.states import ACTIVITY

if TYPE_CHECKING:
    from api.models.machines import Machine
    from api.models.rollouts import Rollout
    from api.models.windows import Window

__all__ = ["Activity"]


class Activity(StatefulMixin, Model):
    STATES = ACTIVITY
    MAX_ATTEMPTS = 3

    id = fields.IntField(primary_key=True)
    machine: fields.ForeignKeyRelation[Machine] = fields.ForeignKeyField(
        "fenster.Machine", db_index=True, related_name="activities", on_delete=fields.CASCADE
    )
    machine_id: int
    kind = fields.CharField(max_length=32)
    state = fields.CharField(max_length=16, default="queued", db_index=True)
    estimate_minutes = fields.IntField(default=10)
    params = fields.JSONField[dict[str, Any]](default=dict)
    not_before = fields.DatetimeField(null=True)
    window: fields.ForeignKeyNullableRelation[Window] = fields.ForeignKeyField(
        "fenster.Window",
        db_index=True,
        related_name="activities",
        null=True,
        on_delete=fields.SET_NULL,
    )
    window_id: int | None
    rollout: fields.ForeignKeyNullableRelation[Rollout] = fields.ForeignKeyField(
        "fenster.Rollout",
        db_index=True,
        related_name="activities",
        null=True,
        on_delete=fields.SET_NULL,
    )
    rollout_id: int | None
    # a VM's reboot that belongs to its host's reboot: that host (None for any other work);
    # cancelling, postponing and missing the host's reboot reach its VMs' through this key
    for_host_reboot: fields.ForeignKeyNullableRelation[Machine] = fields.ForeignKeyField(
        "fenster.Machine",
        db_index=True,
        related_name=False,
        null=True,
        on_delete=fields.SET_NULL,
    )
    for_host_reboot_id: int | None
    blocked_reason = fields.TextField(null=True)
    attempts = fields.IntField(default=0)
    log = fields.TextField(null=True)
    # a guest agent's report: its command's exit code (None: unknown) and the packages it
    # said it changed
    exit_code = fields.IntField(null=True)
    changed_packages = fields.JSONField[list[str]](null=True)
    requested_at = fields.DatetimeField(auto_now_add=True)
    requested_by = fields.CharField(max_length=ACTOR_MAX_LENGTH, default="system")
    finished_at = fields.DatetimeField(null=True)

    class Meta:
        table = "activity"
        ordering = ["id"]

    def __str__(self) -> str:
        return f"{self.kind} #{self.id}"

    @property
    def needs_reboot(self) -> bool:
        return needs_reboot(self.kind, self.params)

    @property
    def label(self) -> str:
        return label(self.kind)

    def transition(self, wanted: str) -> None:
        if self.state == "failed" and wanted == "queued" and self.attempts >= self.MAX_ATTEMPTS:
            raise IllegalTransition(
                f"activity (retried {self.attempts} of {self.MAX_ATTEMPTS} times)",
                self.state,
                wanted,
                frozenset(),
            )
        super().transition(wanted)

    async def save(self, *args: Any, **kwargs: Any) -> None:
        require(self.kind)
        if not isinstance(self.estimate_minutes, int) or not 1 <= self.estimate_minutes <= 1440:
            raise ValidationError.single(
                "estimate_minutes", "an estimate is between 1 minute and 24 hours"
            )
        await super().save(*args, **kwargs)
