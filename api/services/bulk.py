"""Raw bulk reads and writes for the scheduler's large passes.

Building a Tortoise model per row costs more than the row's SQL; the scheduler's pass reads
and writes tens of thousands of rows, so it speaks plain parameterised SQL through the open
Tortoise connection (same transaction) and converts values here, in one place.
"""

from __future__ import annotations

import gc
import json
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

from tortoise.backends.base.client import BaseDBAsyncClient

__all__ = [
    "as_utc",
    "dialect",
    "execute_many",
    "fetch",
    "insert_many",
    "json_value",
    "no_cyclic_gc",
    "placeholders",
    "to_db_time",
]

CHUNK = 5_000


def dialect(conn: BaseDBAsyncClient) -> str:
    return str(conn.capabilities.dialect)


def placeholders(conn: BaseDBAsyncClient, count: int, start: int = 1) -> list[str]:
    if dialect(conn) == "postgres":
        return [f"${i}" for i in range(start, start + count)]
    return ["?"] * count


def sql(conn: BaseDBAsyncClient, template: str) -> str:
    """Turn '?' placeholders into the connection's own ($1, $2, ... on PostgreSQL)."""
    if dialect(conn) != "postgres":
        return template
    parts = template.split("?")
    out = [parts[0]]
    for i, part in enumerate(parts[1:], start=1):
        out.append(f"${i}{part}")
    return "".join(out)


@contextmanager
def no_cyclic_gc() -> Iterator[None]:
    """Without the cyclic garbage collector for a while: a large pass builds hundreds of
    thousands of short-lived, acyclic objects, which it would walk again and again (the cost
    grows faster than the data). Reference counting still frees them."""
    collecting = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if collecting:
            gc.enable()


def to_db_time(conn: BaseDBAsyncClient, value: datetime | None) -> Any:
    """A UTC datetime as the backend stores it (Tortoise's own SQLite text form)."""
    if value is None:
        return None
    if dialect(conn) == "postgres":
        return value
    return value.astimezone(UTC).isoformat(" ")


def as_utc(value: Any) -> datetime | None:
    """A datetime read back from either backend, timezone-aware UTC."""
    if value is None:
        return None
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def json_value(value: Any) -> Any:
    """A JSON column value read from either backend, decoded."""
    if isinstance(value, str):
        return json.loads(value)
    return value


async def fetch(conn: BaseDBAsyncClient, template: str, values: Sequence[Any] = ()) -> list[Any]:
    _, rows = await conn.execute_query(sql(conn, template), list(values))
    return list(rows)


async def execute_many(
    conn: BaseDBAsyncClient, template: str, rows: Sequence[Sequence[Any]], progress: Any = None
) -> None:
    query = sql(conn, template)
    for i in range(0, len(rows), CHUNK):
        await conn.execute_many(query, list(rows[i : i + CHUNK]))  # type: ignore[arg-type]
        if progress is not None and len(rows) > CHUNK:
            progress(min(i + CHUNK, len(rows)), len(rows))


async def insert_many(
    conn: BaseDBAsyncClient,
    table: str,
    columns: Sequence[str],
    rows: Sequence[Sequence[Any]],
    progress: Any = None,
) -> None:
    cols = ", ".join(columns)
    marks = ", ".join("?" for _ in columns)
    await execute_many(conn, f"INSERT INTO {table} ({cols}) VALUES ({marks})", rows, progress)
