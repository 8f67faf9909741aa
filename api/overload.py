"""Load shedding: a process answers at most ``max_inflight`` requests at a time; the next is
refused at once with 503 and ``Retry-After`` instead of waiting in an unbounded queue, so a
burst (10,000 agents after a network outage, say) slows nobody already being served.

Host agents wait as long as ``Retry-After`` says, jittered (agents/client.py). Liveness and
metrics stay answerable under load: an overloaded process is busy, not dead.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Receive, Scope, Send

__all__ = ["EXEMPT", "LoadShed"]

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
        body = b"fenster is busy; retry after the time in Retry-After\n"
        await send(
            {
                "type": "http.response.start",
                "status": 503,
                "headers": [
                    (b"content-type", b"text/plain; charset=utf-8"),
                    (b"retry-after", str(self.retry_after).encode()),
                    (b"content-length", str(len(body)).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})
