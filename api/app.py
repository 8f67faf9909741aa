"""The Starlette application: routes, middleware and the lifespan that runs background loops."""

from __future__ import annotations

import asyncio
import contextlib
import html
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from api import __version__, db
from api.db_errors import explain
from api.feeds.routes import feed_routes
from api.graphql.routes import graphql_routes
from api.notify import mailer as notify_mailer
from api.pages.routes import page_routes
from api.services import scheduling
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


# What the landing page lists: (path, link or None, what it is).
ENTRY_POINTS = [
    ("/graphql", "/graphql", "the GraphQL API (GraphiQL in a browser when enabled)"),
    ("/feeds/{group}.ics?token=…", None, "a resource group's maintenance calendar (iCalendar)"),
    ("/feeds/all.ics", None, "every group's windows, for operators (admin token)"),
    ("/docs/", "/docs/", "the documentation site (after `make docs`)"),
    ("/healthz", "/healthz", "liveness: the process is up"),
    ("/readyz", "/readyz", "readiness: database reachable and fully migrated"),
]


def _landing(settings: Settings, has_docs: bool) -> Callable[[Request], Awaitable[Response]]:
    rows = []
    for path, link, what in ENTRY_POINTS:
        if path == "/docs/" and not has_docs:
            continue
        if path == "/graphql" and settings.graphiql:
            what = "the GraphQL API; open it in a browser for GraphiQL"
        label = f"<code>{html.escape(path)}</code>"
        if link:
            label = f"<a href='{html.escape(link)}'>{label}</a>"
        rows.append(f"<tr><td>{label}</td><td>{html.escape(what)}</td></tr>")
    body = (
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>"
        "<meta name='viewport' content='width=device-width, initial-scale=1'>"
        "<title>fenster</title><style>body{font-family:system-ui,sans-serif;max-width:48rem;"
        "margin:2rem auto;padding:0 1rem}td{padding:.3rem 1rem .3rem 0;vertical-align:top}"
        "</style></head><body>"
        f"<h1>fenster {html.escape(__version__)}</h1>"
        "<p>The maintenance directory: maintenance windows, notices, rollouts and host "
        "agents.</p>"
        f"<table>{''.join(rows)}</table></body></html>"
    )

    async def landing(request: Request) -> Response:
        return HTMLResponse(body)

    return landing


async def _loop(name: str, every: int, run: LoopRun, settings: Settings) -> None:
    while True:
        try:
            await run(settings)
        except asyncio.CancelledError:
            raise
        except Exception:  # a failed pass is logged and retried next interval
            log.exception("background loop %s failed", name)
        await asyncio.sleep(every)


def create_app(settings: Settings | None = None, *, manage_db: bool = True) -> Starlette:
    """Build the app. ``manage_db=False`` leaves opening the database to the caller (tests)."""
    settings = settings or get_settings()
    routes: list[BaseRoute] = [
        Route("/healthz", healthz),
        Route("/readyz", readyz),
    ]
    routes.extend(area_routes(settings))
    site = Path(settings.site_dir)
    has_docs = (site / "index.html").is_file()
    if has_docs:
        routes.append(Mount("/docs", app=StaticFiles(directory=site, html=True), name="docs"))
    routes.append(Route("/", _landing(settings, has_docs)))

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
    return app
