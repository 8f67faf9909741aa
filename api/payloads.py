"""Frozen dataclasses to JSON values and back, by their type hints (outbox payloads).

The one home of that conversion: notice payloads (read back by type with ``from_json``) and
audit details (``to_json`` only). Handles text, numbers, booleans, None, datetimes (ISO 8601,
UTC when naive), tuples, optional values and nested dataclasses. Pure.
"""

from __future__ import annotations

import types
import typing
from dataclasses import fields, is_dataclass
from datetime import UTC, datetime
from typing import Any

__all__ = ["field_names", "from_json", "hints_of", "to_json"]


# per payload type, computed once (a dict rather than functools.cache: mypy does not see a
# dataclass type as Hashable)
_HINTS: dict[type, dict[str, Any]] = {}
_NAMES: dict[type, tuple[str, ...]] = {}


def hints_of(cls: type) -> dict[str, Any]:
    if cls not in _HINTS:
        _HINTS[cls] = typing.get_type_hints(cls)
    return _HINTS[cls]


def field_names(cls: type) -> tuple[str, ...]:
    if cls not in _NAMES:
        _NAMES[cls] = tuple(f.name for f in fields(cls))
    return _NAMES[cls]


def to_json(value: Any) -> Any:
    """``value`` as JSON can hold it: dataclasses as objects, dict keys as strings, tuples and
    sets as lists, times as ISO text, anything else unknown as its text."""
    if isinstance(value, str | int | float | bool) or value is None:
        return value
    if isinstance(value, dict):
        return {str(k): to_json(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [to_json(v) for v in value]
    if is_dataclass(value) and not isinstance(value, type):
        return {name: to_json(getattr(value, name)) for name in field_names(type(value))}
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return str(value)


def from_json(hint: Any, raw: Any) -> Any:
    """``raw`` (from JSON) as a value of type ``hint``."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (types.UnionType, typing.Union):
        if raw is None and type(None) in args:
            return None
        [inner] = [a for a in args if a is not type(None)]
        return from_json(inner, raw)
    if origin is tuple:
        return tuple(from_json(args[0], item) for item in raw)
    if hint is datetime:
        at = raw if isinstance(raw, datetime) else datetime.fromisoformat(str(raw))
        return at if at.tzinfo else at.replace(tzinfo=UTC)
    if is_dataclass(hint) and isinstance(hint, type):
        inner = hints_of(hint)
        return hint(**{k: from_json(inner[k], v) for k, v in raw.items() if k in inner})
    if hint in (int, str, bool):
        return hint(raw)
    return raw
