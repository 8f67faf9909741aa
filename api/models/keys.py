"""Filter by a client-given key without asking a column to hold what it cannot.

Tortoise checks a filter value against its column's maximum length and raises when it is
longer; PostgreSQL refuses NUL in text. Neither value can be stored, so no row holds it: a
lookup by it finds nothing, which is what :func:`where` answers (a NotFound, an empty list or a
404 for the caller), instead of an internal error.
"""

from __future__ import annotations

from typing import Any, TypeVar

from tortoise.fields.relational import RelationalField
from tortoise.models import Model
from tortoise.queryset import QuerySet

__all__ = ["nothing", "storable", "where"]

M = TypeVar("M", bound=Model)

# filter suffixes whose value is compared whole or as a part (a part longer than the column
# cannot occur in it either)
_OPERATORS = frozenset({"exact", "iexact", "contains", "icontains", "startswith", "endswith"})


def _column(model: type[Model], key: str) -> Any:
    parts = key.split("__")
    if parts[-1] in _OPERATORS:
        parts = parts[:-1]
    for part in parts[:-1]:
        relation = model._meta.fields_map[part]
        if not isinstance(relation, RelationalField):
            raise KeyError(f"{part} in {key} is not a relation")
        model = relation.related_model
    return model._meta.fields_map[parts[-1]]


def storable(model: type[Model], key: str, value: object) -> bool:
    """Could the column that ``key`` filters on (``name``, ``group__name``) hold ``value``?"""
    if not isinstance(value, str):
        return True
    if "\x00" in value:
        return False
    limit = getattr(_column(model, key), "max_length", None)
    return limit is None or len(value) <= limit


def where(qs: QuerySet[M], **filters: object) -> QuerySet[M]:
    """``qs.filter(**filters)``; no rows when a value is one no column could hold. A ``__in``
    filter keeps the values its column could hold (none left: no rows)."""
    kept: dict[str, object] = {}
    for key, value in filters.items():
        if key.endswith("__in") and isinstance(value, list | tuple | set | frozenset):
            column = key.removesuffix("__in")
            value = [v for v in value if storable(qs.model, column, v)]
            if not value:
                return nothing(qs)
        elif not storable(qs.model, key, value):
            return nothing(qs)
        kept[key] = value
    return qs.filter(**kept)


def nothing(qs: QuerySet[M]) -> QuerySet[M]:
    """No rows (primary keys are positive)."""
    return qs.filter(id__lt=0)
