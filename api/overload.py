"""503 answers instead of queues and tracebacks: load shedding, and the database away.

Load shedding: a process answers at most ``max_inflight`` requests at a time; the next is
refused at once with 503 and ``Retry-After`` instead of waiting in an unbounded queue, so a
burst (10,000 agents after a network outage, say) slows nobody already being served.

Host agents wait as long as ``Retry-After`` says, jittered (agents/client.py). Liveness and
metrics stay answerable under load: an overloaded process is busy, not dead.
"""

from __future__ import annotations

import logging

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.db_errors import is_outage

__all__ = ["EXEMPT", "DatabaseAway", "LoadShed"]

log = logging.getLogger(__name__)

EXEMPT = frozenset({"/healthz", "/metrics"})


class LoadShed:
    def __init__(self, app: ASGIApp, limit: int, retry_after: int) -> None:
        self.app = app
        self.limit = limit  # 0: no limit
        self.retry_after = retry_after
        self.inflight = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not self.limit or scope.get("path") in EXEMPT:
            await self.app(scope, receive, send)
            return
        if self.inflight >= self.limit:
            await self._refuse(send)
            return
        self.inflight += 1
        try:
            await self.app(scope, receive, send)
        finally:
            self.inflight -= 1

    async def _refuse(self, send: Send) -> None:
        await unavailable(send, "fenster is busy", self.retry_after)


class DatabaseAway:
    """A request that fails because the database is away (restarting, unreachable) is
    answered 503 with Retry-After and logged as one warning line, not as a 500 with a
    traceback: nothing is wrong with the request or with fenster, and it will work again."""

    def __init__(self, app: ASGIApp, retry_after: int) -> None:
        self.app = app
        self.retry_after = retry_after

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def sending(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, sending)
        except Exception as exc:
            if started or not is_outage(exc):
                raise
            log.warning(
                "database unavailable: %s %s answered 503 (%s: %s)",
                scope.get("method"),
                scope.get("path"),
                type(exc).__name__,
                exc,
            )
            await unavailable(send, "the database is unavailable", self.retry_after)


async def unavailable(send: Send, why: str, retry_after: int) -> None:
    body = f"{why}; retry after the time in Retry-After\n".encode()
    await send(
        {
            "type": "http.response.start",
            "status": 503,
            "headers": [
                (b"content-type", b"text/plain; charset=utf-8"),
                (b"retry-after", str(retry_after).encode()),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
