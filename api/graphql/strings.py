"""Refuse the NUL character in any argument of a root field, before anything is read or written.

PostgreSQL's text cannot hold NUL: such a string would fail in the database as an internal
error (and on SQLite be stored). Here it is a ValidationError naming the field instead.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from typing import Any

import strawberry
from strawberry.extensions import FieldExtension
from strawberry.types.info import Info

from api.errors import FieldError, ValidationError

__all__ = ["RejectNul", "nul_fields"]

MESSAGE = "must not contain the NUL character"


def _join(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name


def nul_fields(value: Any, path: str = "") -> Iterator[str]:
    """Paths ('title', 'domains[0].name', 'params.note') of the strings holding NUL."""
    if isinstance(value, str):
        if "\x00" in value:
            yield path
    elif isinstance(value, dict):
        for key, item in value.items():
            if isinstance(key, str) and "\x00" in key:
                yield path
            yield from nul_fields(item, _join(path, str(key)))
    elif isinstance(value, list | tuple):
        for i, item in enumerate(value):
            yield from nul_fields(item, f"{path}[{i}]")
    elif dataclasses.is_dataclass(value) and not isinstance(value, type):
        for f in dataclasses.fields(value):
            item = getattr(value, f.name, None)
            if item is not strawberry.UNSET:
                yield from nul_fields(item, _join(path, f.name))


def _check(kwargs: dict[str, Any]) -> None:
    found: list[str] = []
    for name, value in kwargs.items():
        # a mutation's fields are named without the 'input.' prefix, as elsewhere
        found.extend(nul_fields(value, "" if name == "input" else name))
    if found:
        raise ValidationError([FieldError(p or "input", MESSAGE) for p in dict.fromkeys(found)])


class RejectNul(FieldExtension):
    def resolve(self, next_: Any, source: Any, info: Info, **kwargs: Any) -> Any:
        _check(kwargs)
        return next_(source, info, **kwargs)

    async def resolve_async(self, next_: Any, source: Any, info: Info, **kwargs: Any) -> Any:
        _check(kwargs)
        return await next_(source, info, **kwargs)
