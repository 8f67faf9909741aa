"""503 instead of queues and tracebacks: load shedding beyond max_inflight (probes stay
answerable), and the database away."""

from __future__ import annotations

import asyncio

import httpx
from graphql import GraphQLError
from starlette.types import Receive, Scope, Send
from tortoise.exceptions import DBConnectionError, OperationalError

from api.app import create_app
from api.graphql.errors import public_error
from api.overload import DatabaseAway, LoadShed
from api.settings import Settings


class Gated:
    """An app whose answers wait for ``open``: requests pile up in progress."""

    def __init__(self) -> None:
        self.open = asyncio.Event()
        self.entered = 0
        self.arrivals: asyncio.Queue[str] = asyncio.Queue()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        self.entered += 1
        self.arrivals.put_nowait(scope["path"])
        await self.open.wait()
        if scope["path"] == "/boom":
            raise RuntimeError("boom")
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})


async def test_requests_over_the_limit_are_refused_at_once() -> None:
    inner = Gated()
    shed = LoadShed(inner, limit=2, retry_after=7)
    transport = httpx.ASGITransport(app=shed, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as c:
        held = [asyncio.create_task(c.get(f"/slow{i}")) for i in range(2)]
        arrived = {await inner.arrivals.get() for _ in range(2)}
        assert arrived == {"/slow0", "/slow1"}
        refused = await asyncio.wait_for(c.get("/more"), timeout=5)  # no waiting in a queue
        assert refused.status_code == 503
        assert refused.headers["retry-after"] == "7"
        assert "Retry-After" in refused.text
        probe = asyncio.create_task(c.get("/healthz"))  # exempt: it gets in
        assert await asyncio.wait_for(inner.arrivals.get(), timeout=5) == "/healthz"
        inner.open.set()
        assert [r.status_code for r in await asyncio.gather(*held, probe)] == [200, 200, 200]
        assert shed.inflight == 0
        failed = await c.get("/boom")  # an app that raises still frees its place
        assert failed.status_code == 500 and shed.inflight == 0
        assert (await c.get("/again")).status_code == 200


async def test_the_app_sheds_with_its_settings(tmp_path: object) -> None:
    settings = Settings(max_inflight=0, shed_retry_after=3)
    app = create_app(settings, manage_db=False)
    stack = app.build_middleware_stack()
    layers = []
    while stack is not None:
        layers.append(stack)
        stack = getattr(stack, "app", None)
    shed = [x for x in layers if isinstance(x, LoadShed)]
    assert len(shed) == 1 and (shed[0].limit, shed[0].retry_after) == (0, 3)
    assert Settings().max_inflight > 0  # on by default


class Failing:
    def __init__(self, exc: Exception, after_start: bool = False) -> None:
        self.exc, self.after_start = exc, after_start

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self.after_start:
            await send({"type": "http.response.start", "status": 200, "headers": []})
        raise self.exc


async def test_the_database_away_is_a_503_not_a_500() -> None:
    async def get(exc: Exception, after_start: bool = False) -> httpx.Response:
        app = DatabaseAway(Failing(exc, after_start), retry_after=4)
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as c:
            return await c.get("/graphql")

    for away in (
        ConnectionRefusedError(111, "Connect call failed"),
        OperationalError(ConnectionResetError(104, "reset")),
        DBConnectionError("cannot connect"),
    ):
        r = await get(away)
        assert (r.status_code, r.headers["retry-after"]) == (503, "4"), away
        assert "database is unavailable" in r.text
    assert (await get(ValueError("a bug"))).status_code == 500  # a bug stays a bug
    assert (await get(OperationalError("syntax error at or near"))).status_code == 500


def test_an_outage_inside_a_resolver_is_unavailable_not_internal() -> None:
    error = GraphQLError("x", original_error=ConnectionRefusedError(111, "refused"))
    public = public_error(error)
    assert public is not None and public.extensions == {"code": "UNAVAILABLE"}
    assert "try again" in public.message
    assert public_error(GraphQLError("x", original_error=KeyError("k"))) is None  # masked
