"""Render once per change, serve many times: the feed bytes cached by ETag."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from tortoise.context import TortoiseContext

from api.feeds import routes
from api.feeds.cache import RenderCache
from api.feeds.ics import build_calendar
from tests.notify.world import make_group, make_window


@pytest.fixture
def builds(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Counts the calendar builds the routes make."""
    made: list[int] = []

    def counting(*args: object, **kw: object) -> bytes:
        made.append(1)
        return build_calendar(*args, **kw)  # type: ignore[arg-type]

    monkeypatch.setattr(routes, "build_calendar", counting)
    return made


async def test_polling_without_if_none_match_renders_once_per_change(
    db: TortoiseContext, client: httpx.AsyncClient, builds: list[int]
) -> None:
    group = await make_group()
    start = (datetime.now(UTC) + timedelta(days=8)).replace(second=0, microsecond=0)
    window = await make_window(group, "vm01", start, notify=None)
    path = f"/feeds/{group.name}.ics?token={group.feed_token}"
    polls = [await client.get(path) for _ in range(5)]
    assert {p.status_code for p in polls} == {200}
    assert len({p.content for p in polls}) == 1 and len({p.headers["etag"] for p in polls}) == 1
    assert len(builds) == 1
    # a change: a new tag, rendered once more, and the new bytes show it
    window.touch()
    window.starts_at += timedelta(days=1)
    window.ends_at += timedelta(days=1)
    await window.save()
    after = [await client.get(path) for _ in range(3)]
    assert len(builds) == 2
    assert after[0].headers["etag"] != polls[0].headers["etag"]
    assert after[0].content != polls[0].content and len({a.content for a in after}) == 1
    assert b"SEQUENCE:1\r\n" in after[0].content
    # a rotated token is a new tag: the old bytes are never served for it
    await routes.ResourceGroup.filter(id=group.id).update(feed_token="x" * 32)
    assert (await client.get(f"/feeds/{group.name}.ics?token={'x' * 32}")).status_code == 200
    assert len(builds) == 3


async def test_concurrent_misses_share_one_rendering() -> None:
    cache = RenderCache()
    calls: list[int] = []
    gate = asyncio.Event()

    async def render() -> bytes:
        calls.append(1)
        await gate.wait()
        return b"body"

    waiting = [asyncio.create_task(cache.get_or_render('"a"', render)) for _ in range(4)]
    await asyncio.sleep(0)
    gate.set()
    assert await asyncio.gather(*waiting) == [b"body"] * 4
    assert calls == [1] and cache.renders == 1


async def test_a_failed_rendering_is_not_cached() -> None:
    cache = RenderCache()

    async def broken() -> bytes:
        raise RuntimeError("database went away")

    async def fine() -> bytes:
        return b"ok"

    with pytest.raises(RuntimeError):
        await cache.get_or_render("k", broken)
    assert len(cache) == 0
    assert await cache.get_or_render("k", fine) == b"ok"


async def test_the_cache_is_bounded_by_entries_and_bytes() -> None:
    cache = RenderCache(max_entries=3, max_bytes=100)

    def const(body: bytes):  # type: ignore[no-untyped-def]
        async def render() -> bytes:
            return body

        return render

    for key in "abcd":
        await cache.get_or_render(key, const(b"x" * 10))
    assert len(cache) == 3 and cache.get("a") is None  # the least recently used went first
    assert cache.get("b") is not None  # b is now the most recently used
    await cache.get_or_render("e", const(b"y" * 75))  # 105 bytes: c, the oldest, goes
    assert cache.size == 95 and cache.get("c") is None
    assert all(cache.get(k) is not None for k in "bde")
    await cache.get_or_render("huge", const(b"z" * 101))  # larger than the whole cache
    assert cache.get("huge") is None and cache.size <= 100
