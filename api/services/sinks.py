"""The two sinks of ``api.effects``' rows: one through the ORM, one in bulk.

- ``save`` writes one row through the ORM (the hand-made operations, the outbox, the audit
  trail); an outbox row whose dedupe key is already queued is skipped.
- ``save_many`` writes many rows of one type with plain parameterised SQL
  (``api.services.bulk.insert_many``: the scheduling pass, a rollout's announcement). Its
  column list is the row's fields mapped through the model's ``_meta``, plus the model's
  automatic timestamps, which get the write's ``stamp``; JSON and time values are converted
  the way the backend stores them.
- ``update_many`` applies many changes of one type (``api.effects.Update``) the same way:
  ``UPDATE ... SET`` the row's fields ``WHERE id = ?`` (and its ``ONLY_IF`` columns), the
  column names from the model's ``_meta``, the values converted as ``save_many``'s.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import operator
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any, TypeVar

from tortoise import fields
from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.models import Model

from api.effects import (
    ActivityAdopted,
    ActivityBlocked,
    ActivityHeld,
    ActivityMoved,
    ActivityRow,
    AuditRow,
    DesiredKernel,
    MemberRow,
    OutboxRow,
    Update,
    WindowExtended,
    WindowRow,
)
from api.models import Activity, AuditEvent, Machine, Notification, RolloutMember, Window
from api.services.bulk import execute_many, insert_many, to_db_time

__all__ = [
    "MODELS",
    "UPDATED",
    "Row",
    "columns_of",
    "save",
    "save_all",
    "save_many",
    "update_many",
    "updates_of",
]

Row = AuditRow | OutboxRow | WindowRow | ActivityRow | MemberRow
R = TypeVar("R", AuditRow, OutboxRow, WindowRow, ActivityRow, MemberRow)

THREAD_ABOVE = 1_000

MODELS: dict[type[Any], type[Model]] = {
    AuditRow: AuditEvent,
    OutboxRow: Notification,
    WindowRow: Window,
    ActivityRow: Activity,
    MemberRow: RolloutMember,
}
UPDATED: dict[type[Update], type[Model]] = {
    ActivityMoved: Activity,
    ActivityBlocked: Activity,
    ActivityAdopted: Activity,
    ActivityHeld: Activity,
    WindowExtended: Window,
    DesiredKernel: Machine,
}


def _dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), sort_keys=True)


async def save(row: R, connection: BaseDBAsyncClient | None = None) -> Any:
    """Write ``row`` through its model; returns the model instance, or None for an outbox row
    whose event was already queued (its dedupe key exists)."""
    model = MODELS[type(row)]
    if isinstance(row, OutboxRow):
        queued = Notification.filter(dedupe_key=row.dedupe_key).using_db(connection)
        if await queued.exists():
            return None
    return await model.create(using_db=connection, **_values(row))


async def save_all(rows: Sequence[Row], connection: BaseDBAsyncClient | None = None) -> None:
    """Write ``rows`` through the ORM, one ``bulk_create`` per row type (in the order the
    types first appear); an outbox row whose dedupe key is queued (or repeated) is skipped.
    Like ``save_many``, no model's ``save`` runs: meant for audit and outbox rows."""
    by_type: dict[type[Any], list[Row]] = {}
    for row in rows:
        by_type.setdefault(type(row), []).append(row)
    for row_type, some in by_type.items():
        if row_type is OutboxRow:
            some = await _unqueued([r for r in some if isinstance(r, OutboxRow)], connection)
        model = MODELS[row_type]
        await model.bulk_create([model(**_values(r)) for r in some], using_db=connection)


async def _unqueued(rows: list[OutboxRow], connection: BaseDBAsyncClient | None) -> list[Row]:
    keys = [r.dedupe_key for r in rows]
    queued = Notification.filter(dedupe_key__in=keys).using_db(connection)
    taken: set[str] = {r[0] for r in await queued.values_list("dedupe_key")}
    fresh: list[Row] = []
    for r in rows:
        if r.dedupe_key not in taken:
            taken.add(r.dedupe_key)
            fresh.append(r)
    return fresh


def _values(row: Row) -> dict[str, Any]:
    values = {f.name: getattr(row, f.name) for f in dataclasses.fields(row)}
    if isinstance(row, OutboxRow):
        values["recipients"] = list(row.recipients)
    return values


def _automatic(model: type[Model], *, created: bool = True) -> list[str]:
    """The model's timestamps its save fills in (auto_now, and unless not ``created``
    auto_now_add)."""
    return [
        name
        for name, f in model._meta.fields_map.items()
        if isinstance(f, fields.DatetimeField) and (f.auto_now or (created and f.auto_now_add))
    ]


def columns_of(row_type: type[Any]) -> list[str]:
    """The table columns ``save_many`` writes for ``row_type``: its fields, then the model's
    automatic timestamps."""
    model = MODELS[row_type]
    projection = model._meta.fields_db_projection
    names = [f.name for f in dataclasses.fields(row_type)] + _automatic(model)
    return [projection[n] for n in names]


def _converters(
    conn: BaseDBAsyncClient, row_type: type[Any], model: type[Model]
) -> list[Callable[[Any], Any] | None]:
    times: dict[datetime, Any] = {}  # a pass writes the same instants many times

    def time(value: datetime | None) -> Any:
        if value is None:
            return None
        if value not in times:
            times[value] = to_db_time(conn, value)
        return times[value]

    out: list[Callable[[Any], Any] | None] = []
    for f in dataclasses.fields(row_type):
        field = model._meta.fields_map[f.name]
        if isinstance(field, fields.JSONField):
            out.append(lambda v: _dumps(list(v) if isinstance(v, tuple) else v))
        elif isinstance(field, fields.DatetimeField):
            out.append(time)
        else:
            out.append(None)
    return out


def rows_of(conn: BaseDBAsyncClient, rows: Sequence[Row], stamp: datetime) -> list[tuple[Any, ...]]:
    """``rows`` as the value tuples of ``columns_of`` their type."""
    if not rows:
        return []
    row_type = type(rows[0])
    names = [f.name for f in dataclasses.fields(row_type)]
    get: Callable[[Any], tuple[Any, ...]] = operator.attrgetter(*names)
    convert = _converters(conn, row_type, MODELS[row_type])
    stamps: tuple[Any, ...] = (to_db_time(conn, stamp),) * len(_automatic(MODELS[row_type]))
    converted = [(i, c) for i, c in enumerate(convert) if c is not None]
    if not converted:
        return [(*get(row), *stamps) for row in rows]
    out: list[tuple[Any, ...]] = []
    for row in rows:
        values = list(get(row))
        for i, c in converted:
            values[i] = c(values[i])
        out.append((*values, *stamps))
    return out


async def save_many(
    conn: BaseDBAsyncClient,
    rows: Sequence[Row],
    stamp: datetime,
    progress: Any = None,
) -> None:
    """Insert ``rows`` (all of one type) in bulk on ``conn``; automatic timestamps get
    ``stamp``."""
    if not rows:
        return
    row_type = type(rows[0])
    table = MODELS[row_type]._meta.db_table
    if len(rows) > THREAD_ABOVE:  # a pass's rows: converted off the event loop
        values = await asyncio.to_thread(rows_of, conn, rows, stamp)
    else:
        values = rows_of(conn, rows, stamp)
    await insert_many(conn, table, columns_of(row_type), values, progress)


def updates_of(row_type: type[Update]) -> str:
    """The ``UPDATE`` statement of ``row_type`` (with ``?`` marks): SET the row's fields but
    ``id``, then (``TOUCH``) the model's ``updated_at``; WHERE ``id`` and the ``ONLY_IF``
    columns."""
    model = UPDATED[row_type]
    projection = model._meta.fields_db_projection
    names = [f.name for f in dataclasses.fields(row_type) if f.name != "id"]
    names += _automatic(model, created=False) if row_type.TOUCH else []
    where = ["id", *(name for name, _ in row_type.ONLY_IF)]
    sets = ", ".join(f"{projection[n]} = ?" for n in names)
    conditions = " AND ".join(f"{projection[n]} = ?" for n in where)
    return f"UPDATE {model._meta.db_table} SET {sets} WHERE {conditions}"


def _update_values(
    conn: BaseDBAsyncClient, rows: Sequence[Update], stamp: datetime
) -> list[tuple[Any, ...]]:
    row_type = type(rows[0])
    names = [f.name for f in dataclasses.fields(row_type)]
    if names[0] != "id":
        raise TypeError(f"{row_type.__name__}: an update's first field is its row's id")
    get: Callable[[Any], tuple[Any, ...]] = operator.attrgetter(*names)
    convert = _converters(conn, row_type, UPDATED[row_type])
    touched: tuple[Any, ...] = (to_db_time(conn, stamp),) if row_type.TOUCH else ()
    only_if = tuple(value for _, value in row_type.ONLY_IF)
    out: list[tuple[Any, ...]] = []
    for row in rows:
        values = [v if c is None else c(v) for v, c in zip(get(row), convert, strict=True)]
        out.append((*values[1:], *touched, values[0], *only_if))
    return out


async def update_many(
    conn: BaseDBAsyncClient,
    rows: Sequence[Update],
    stamp: datetime,
    progress: Any = None,
) -> None:
    """Apply ``rows`` (all of one type) in bulk on ``conn`` (``updates_of``); a ``TOUCH``
    row's ``updated_at`` gets ``stamp``."""
    if not rows:
        return
    template = updates_of(type(rows[0]))
    if len(rows) > THREAD_ABOVE:
        values = await asyncio.to_thread(_update_values, conn, rows, stamp)
    else:
        values = _update_values(conn, rows, stamp)
    await execute_many(conn, template, values, progress)
