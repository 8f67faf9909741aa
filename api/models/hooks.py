"""Enter and leave hooks: the host agent asks a VM's guest agent before it stops the guest for
a window (enter), and tells it once the guest is back (leave). One row per window and phase."""

from __future__ import annotations

from enum import StrEnum
from typing import TYPE_CHECKING

from tortoise import fields

from api.models.base import TimestampedModel

if TYPE_CHECKING:
    from api.models.windows import Window

__all__ = ["GuestHook", "HookPhase", "HookVerdict"]


class HookPhase(StrEnum):
    ENTER = "enter"  # before the guest is stopped
    LEAVE = "leave"  # after the guest is back


class HookVerdict(StrEnum):
    """Where a hook request stands. ``asked``: the guest agent has not answered yet."""

    ASKED = "asked"
    GO = "go"
    NOT_YET = "not_yet"  # the host agent asks again, for a bounded time
    POSTPONED = "postponed"  # the window moved to a later slot (enter only)


class GuestHook(TimestampedModel):
    id = fields.IntField(primary_key=True)
    window: fields.ForeignKeyRelation[Window] = fields.ForeignKeyField(
        "fenster.Window", db_index=True, related_name="guest_hooks", on_delete=fields.CASCADE
    )
    window_id: int
    phase = fields.CharField(max_length=8)
    # the window's revision when asked: a postponed window's next run asks afresh
    sequence = fields.IntField(default=0)
    asks = fields.IntField(default=1)  # the host agent asked this often ("not yet" -> again)
    verdict = fields.CharField(max_length=16, default=HookVerdict.ASKED.value)
    reason = fields.TextField(default="")  # the hooks' words (the failing hook's output tail)
    kernel = fields.CharField(max_length=64, null=True)  # `uname -r` when it answered
    asked_at = fields.DatetimeField()
    answered_at = fields.DatetimeField(null=True)

    class Meta:
        table = "guest_hook"
        unique_together = (("window", "phase"),)
        table_description = "Enter and leave hook requests to guest agents, and their answers."
