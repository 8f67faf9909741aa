"""The Starlette application: routes, middleware and the lifespan that runs background loops."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from api import __version__, db
from api.db_errors import explain
from api.feeds.routes import feed_routes
from api.graphql.routes import graphql_routes
from api.logs import RequestId
from api.metrics import LOOP_FAILURES, RequestMetrics, metrics_endpoint
from api.notify import mailer as notify_mailer
from api.overload import LoadShed
from api.pages.routes import page_routes
from api.publish.routes import site_routes
from api.services import scheduling, site
from api.settings import Settings, get_settings

__all__ = ["create_app"]

log = logging.getLogger("fenster.app")

LoopRun = Callable[[Settings], Awaitable[Any]]


def area_routes(settings: Settings) -> list[BaseRoute]:
    """The routes each area mounts on the app (one line per area)."""
    routes: list[BaseRoute] = []
    routes += feed_routes(settings)
    routes += graphql_routes(settings)
    routes += page_routes(settings)
    return routes


def background_loops(settings: Settings) -> list[tuple[str, int, LoopRun]]:
    """Periodic work run by `fenster serve`: (name, interval in seconds, run). 0 disables."""
    loops: list[tuple[str, int, LoopRun]] = []
    loops.append(("mailer", settings.mail_interval, notify_mailer.run_once))
    loops.append(("scheduler", settings.schedule_interval, scheduling.run_periodic))
    loops.append(("site", settings.site_interval, site.run_periodic))
    return loops


async def healthz(request: Request) -> Response:
    return JSONResponse({"status": "ok", "version": __version__})


async def readyz(request: Request) -> Response:
    try:
        await db.ping()
        pending = await db.pending_migrations()
    except Exception as exc:  # the database is down or unreachable: say so, do not crash
        # the operator's sentence goes to the log; probes only learn the kind of failure
        problem = explain(exc, request.app.state.settings.database_url, connecting=True)
        log.warning("readiness check failed: %s", problem or exc)
        return JSONResponse(
            {"status": "unavailable", "reason": f"database unreachable: {type(exc).__name__}"},
            status_code=503,
        )
    if pending:
        return JSONResponse(
            {
                "status": "unavailable",
                "reason": f"database not fully migrated; pending: {', '.join(pending)}",
                "hint": "run `fenster migrate`",
            },
            status_code=503,
        )
    return JSONResponse({"status": "ready"})


async def _loop(name: str, every: int, run: LoopRun, settings: Settings) -> None:
    while True:
        try:
            await run(settings)
        except asyncio.CancelledError:
            raise
        except Exception:  # a failed pass is logged and retried next interval
            LOOP_FAILURES.labels(name).inc()
            log.exception("background loop %s failed", name)
        await asyncio.sleep(every)


def create_app(settings: Settings | None = None, *, manage_db: bool = True) -> Starlette:
    """Build the app. ``manage_db=False`` leaves opening the database to the caller (tests)."""
    settings = settings or get_settings()
    routes: list[BaseRoute] = [
        Route("/healthz", healthz),
        Route("/readyz", readyz),
        Route("/metrics", metrics_endpoint),
    ]
    routes.extend(area_routes(settings))
    routes.extend(site_routes(settings))  # last: the site answers what nothing else does

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        if manage_db:  # `fenster serve` checked the database before; /readyz reports it since
            await db.init(settings, connect=False)
        tasks = []
        for name, every, run in background_loops(settings):
            if every > 0:
                tasks.append(asyncio.create_task(_loop(name, every, run, settings), name=name))
        try:
            yield
        finally:
            for task in tasks:
                task.cancel()
            for task in tasks:
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            if manage_db:
                await db.close()

    app = Starlette(routes=routes, lifespan=lifespan)
    app.state.settings = settings
    app.add_middleware(LoadShed, limit=settings.max_inflight, retry_after=settings.shed_retry_after)
    app.add_middleware(RequestMetrics, routes=routes)  # outside: shed requests count as 503
    app.add_middleware(RequestId)  # outermost: every line logged for a request carries its id
    return app
