"""What every fenster model shares: timestamps and a state-machine helper."""

from __future__ import annotations

from typing import Any

from tortoise import fields
from tortoise.models import Model

from api.states import StateMachine

__all__ = ["StatefulMixin", "TimestampedModel"]


class TimestampedModel(Model):
    created_at = fields.DatetimeField(auto_now_add=True)
    updated_at = fields.DatetimeField(auto_now=True)

    class Meta:
        abstract = True

    def check_rules(self) -> None:
        """Raise api.errors.ValidationError when the row breaks a rule (override)."""

    async def save(self, *args: Any, **kwargs: Any) -> None:
        self.check_rules()
        await super().save(*args, **kwargs)


class StatefulMixin:
    """Moves ``state`` through the model's one transition table; refused moves change nothing."""

    STATES: StateMachine
    state: str

    def transition(self, wanted: str) -> None:
        self.STATES.check(self.state, wanted)
        self.state = wanted
