"""Custom fields."""

from __future__ import annotations

from datetime import time
from typing import Any

from tortoise import fields

__all__ = ["LocalTimeField"]


class LocalTimeField(fields.CharField):
    """A wall-clock time of day without a zone, stored as 'HH:MM'.

    Tortoise's TimeField attaches UTC when ``use_tz`` is on; a group's daily window start is a
    local time in the group's own zone, so it must stay naive.
    """

    def __init__(self, **kwargs: Any) -> None:
        kwargs["max_length"] = 5
        super().__init__(**kwargs)

    def to_db_value(self, value: Any, instance: Any) -> str | None:
        if isinstance(value, time):
            return f"{value.hour:02d}:{value.minute:02d}"
        return value

    def to_python_value(self, value: Any) -> Any:
        if isinstance(value, str) and len(value) == 5 and value[2] == ":":
            try:
                return time(int(value[:2]), int(value[3:]))
            except ValueError:
                return value
        return value
