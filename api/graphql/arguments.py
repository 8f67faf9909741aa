"""Refuse arguments no database column can hold, in any root field, before anything is read or
written: strings with NUL, and instants outside the years 1900 to 9000.

PostgreSQL's text cannot hold NUL, and an instant such as 9999-12-31T23:00Z or
0001-01-01T00:00+14:00 overflows when converted to UTC or moved by a window's length: each
failed in the database or in date arithmetic as an internal error. Here each is a
ValidationError naming the field instead.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import strawberry
from strawberry.extensions import FieldExtension

from api.errors import FieldError, ValidationError
from api.graphql.context import Info

__all__ = ["EARLIEST", "LATEST", "CheckArguments", "refused"]

NUL = "must not contain the NUL character"
EARLIEST = datetime(1900, 1, 1, tzinfo=UTC)
LATEST = datetime(9000, 1, 1, tzinfo=UTC)
OUT_OF_RANGE = "must lie between the years 1900 and 9000"


def _join(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name


def _in_range(value: datetime) -> bool:
    if value.tzinfo is None:  # refused elsewhere for want of an offset; only the year here
        return EARLIEST.year <= value.year < LATEST.year
    try:
        return EARLIEST <= value.astimezone(UTC) < LATEST
    except OverflowError:
        return False


def refused(value: Any, path: str = "") -> Iterator[FieldError]:
    """The refused values below ``value``, named by path ('title', 'freezes[0].starts_at')."""
    if isinstance(value, str):
        if "\x00" in value:
            yield FieldError(path, NUL)
    elif isinstance(value, datetime):
        if not _in_range(value):
            yield FieldError(path, OUT_OF_RANGE)
    elif isinstance(value, dict):
        for key, item in value.items():
            if isinstance(key, str) and "\x00" in key:
                yield FieldError(path, NUL)
            yield from refused(item, _join(path, str(key)))
    elif isinstance(value, list | tuple):
        for i, item in enumerate(value):
            yield from refused(item, f"{path}[{i}]")
    elif dataclasses.is_dataclass(value) and not isinstance(value, type):
        for f in dataclasses.fields(value):
            item = getattr(value, f.name, None)
            if item is not strawberry.UNSET:
                yield from refused(item, _join(path, f.name))


def _check(kwargs: dict[str, Any]) -> None:
    found: list[FieldError] = []
    for name, value in kwargs.items():
        # a mutation's fields are named without the 'input.' prefix, as elsewhere; 'from_'
        # is the argument 'from'
        found.extend(refused(value, "" if name == "input" else name.rstrip("_")))
    if found:
        raise ValidationError([FieldError(e.field or "input", e.message) for e in found])


class CheckArguments(FieldExtension):
    def resolve(self, next_: Any, source: Any, info: Info, **kwargs: Any) -> Any:
        _check(kwargs)
        return next_(source, info, **kwargs)

    async def resolve_async(self, next_: Any, source: Any, info: Info, **kwargs: Any) -> Any:
        _check(kwargs)
        return await next_(source, info, **kwargs)
