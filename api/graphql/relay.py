"""Relay plumbing: global IDs, the Node interface and offset-cursor connections."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Generic, TypeVar

import strawberry
from tortoise.queryset import QuerySet

from api.errors import NotFound, ValidationError

__all__ = [
    "MAX_PAGE_SIZE",
    "Connection",
    "Edge",
    "Node",
    "PageInfo",
    "decode_id",
    "encode_id",
    "paginate",
    "paginate_list",
]

T = TypeVar("T")
MAX_PAGE_SIZE = 100
DEFAULT_PAGE_SIZE = 50
MAX_PK = 2**31  # primary keys are 32-bit integer columns
MAX_OFFSET = 2**31  # no list is this long; larger offsets overflow the databases' integers


def encode_id(type_name: str, pk: int) -> strawberry.ID:
    return strawberry.ID(base64.urlsafe_b64encode(f"{type_name}:{pk}".encode()).decode())


def decode_id(value: str, expected: str | None = None) -> tuple[str, int]:
    """(type name, primary key) of a global ID; NotFound when it is not one (of ``expected``)."""
    try:
        raw = base64.urlsafe_b64decode(value.encode("ascii")).decode()
        type_name, pk = raw.split(":", 1)
        number = int(pk)
    except (ValueError, UnicodeError, binascii.Error):
        raise NotFound(expected or "node", value) from None
    if expected is not None and type_name != expected:
        raise NotFound(expected, value)
    if not 0 < number < MAX_PK:  # no row has it; larger ones overflow the databases' integers
        raise NotFound(expected or "node", value)
    return type_name, number


@strawberry.interface(description="An object with a global ID (Relay).")
class Node:
    id: strawberry.ID


@strawberry.type
class PageInfo:
    has_next_page: bool
    has_previous_page: bool
    start_cursor: str | None
    end_cursor: str | None


@strawberry.type
class Edge(Generic[T]):
    cursor: str
    node: T


@strawberry.type
class Connection(Generic[T]):
    edges: list[Edge[T]]
    page_info: PageInfo
    _count: strawberry.Private[Callable[[], Awaitable[int]]]

    @strawberry.field(description="Number of items in the whole list, not just this page.")
    async def total_count(self) -> int:
        return await self._count()

    @strawberry.field(description="The nodes of this page (shortcut for edges { node }).")
    def nodes(self) -> list[T]:
        return [e.node for e in self.edges]


def _cursor(offset: int) -> str:
    return base64.urlsafe_b64encode(f"o:{offset}".encode()).decode()


def _offset(after: str | None) -> int:
    if after is None:
        return 0
    try:
        kind, number = base64.urlsafe_b64decode(after.encode("ascii")).decode().split(":", 1)
        value = int(number)
    except (ValueError, UnicodeError, binascii.Error):
        raise ValidationError.single("after", "is not a cursor from this list") from None
    if kind != "o" or not 0 <= value < MAX_OFFSET:
        raise ValidationError.single("after", "is not a cursor from this list")
    return value + 1


def _first(first: int | None, max_size: int) -> int:
    if first is None:
        return min(DEFAULT_PAGE_SIZE, max_size)
    if not 1 <= first <= max_size:
        raise ValidationError.single("first", f"a page holds 1 to {max_size} items (got {first})")
    return first


def _connection(
    items: Sequence[Any],
    start: int,
    size: int,
    count: Callable[[], Awaitable[int]],
    wrap: Callable[[Any], Any],
) -> Connection[Any]:
    page = list(items[:size])
    edges = [Edge(cursor=_cursor(start + i), node=wrap(x)) for i, x in enumerate(page)]
    return Connection(
        edges=edges,
        page_info=PageInfo(
            has_next_page=len(items) > size,
            has_previous_page=start > 0,
            start_cursor=edges[0].cursor if edges else None,
            end_cursor=edges[-1].cursor if edges else None,
        ),
        _count=count,
    )


async def paginate(
    qs: QuerySet[Any],
    first: int | None,
    after: str | None,
    wrap: Callable[[Any], Any],
    *,
    max_size: int = MAX_PAGE_SIZE,
    fetch: Callable[[QuerySet[Any]], Awaitable[list[Any]]] | None = None,
) -> Connection[Any]:
    """One page of ``qs`` (one query; ``totalCount`` costs a second only when asked for).

    ``fetch`` reads the sliced queryset another way (e.g. ``values()`` rows, and priming
    loaders with what came along)."""
    size = _first(first, max_size)
    start = _offset(after)
    page = qs.offset(start).limit(size + 1)
    rows = await (fetch(page) if fetch is not None else page)
    return _connection(rows, start, size, qs.count, wrap)


def paginate_list(
    items: Sequence[Any],
    first: int | None,
    after: str | None,
    wrap: Callable[[Any], Any],
    *,
    max_size: int = MAX_PAGE_SIZE,
) -> Connection[Any]:
    size = _first(first, max_size)
    start = _offset(after)

    async def count() -> int:
        return len(items)

    return _connection(items[start : start + size + 1], start, size, count, wrap)
