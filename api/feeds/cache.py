"""Rendered feed bytes by ETag: render once per change, serve many times.

Calendar clients poll, and many (Google Calendar, Outlook) never send If-None-Match. The ETag
already names everything a feed's bytes depend on, so the bytes rendered for one ETag are the
bytes for every later request with the same ETag. The cache is in-process and bounded (least
recently used out first, by entries and by total bytes); requests that miss on the same ETag
at once share one rendering.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from collections.abc import Awaitable, Callable

__all__ = ["RenderCache"]


class RenderCache:
    def __init__(self, *, max_entries: int = 256, max_bytes: int = 64 * 1024 * 1024) -> None:
        self.max_entries = max_entries
        self.max_bytes = max_bytes
        self._items: OrderedDict[str, bytes] = OrderedDict()
        self._size = 0
        self._pending: dict[str, asyncio.Future[bytes]] = {}
        self.renders = 0  # how many times a body was rendered (for tests and figures)

    def __len__(self) -> int:
        return len(self._items)

    @property
    def size(self) -> int:
        return self._size

    def get(self, key: str) -> bytes | None:
        body = self._items.get(key)
        if body is not None:
            self._items.move_to_end(key)
        return body

    def _put(self, key: str, body: bytes) -> None:
        if len(body) > self.max_bytes:
            return
        self._items[key] = body
        self._size += len(body)
        while len(self._items) > self.max_entries or self._size > self.max_bytes:
            _, old = self._items.popitem(last=False)
            self._size -= len(old)

    async def get_or_render(self, key: str, render: Callable[[], Awaitable[bytes]]) -> bytes:
        """The bytes cached under ``key``, else ``render()``'s, stored under ``key``."""
        body = self.get(key)
        if body is not None:
            return body
        pending = self._pending.get(key)
        if pending is not None:
            return await asyncio.shield(pending)
        future: asyncio.Future[bytes] = asyncio.get_running_loop().create_future()
        self._pending[key] = future
        try:
            self.renders += 1
            body = await render()
        except asyncio.CancelledError:
            future.cancel()
            raise
        except Exception as exc:
            future.set_exception(exc)
            future.exception()  # retrieved: no "never retrieved" warning without waiters
            raise
        finally:
            del self._pending[key]
        self._put(key, body)
        future.set_result(body)
        return body
