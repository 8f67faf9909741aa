"""The Starlette application: routes, middleware and the lifespan that runs background loops."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
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
from api.metrics import LEADER, LOOP_FAILURES, RequestMetrics, metrics_endpoint
from api.notify import mailer as notify_mailer
from api.overload import DatabaseAway, LoadShed
from api.pages.routes import page_routes
from api.publish.routes import site_routes
from api.services import rollout_engine, scheduling, site, watchdog
from api.services.leadership import Leadership, process_name
from api.settings import Settings, get_settings

__all__ = ["create_app"]

log = logging.getLogger("fenster.app")

LoopRun = Callable[[Settings], Awaitable[Any]]


@dataclass(frozen=True)
class Duty:
    """Periodic work run by `fenster serve` every ``every`` seconds (0 disables it). A ``led``
    duty runs only in the process holding the leader lease (api.services.leadership)."""

    name: str
    every: int
    run: LoopRun
    led: bool


def area_routes(settings: Settings) -> list[BaseRoute]:
    """The routes each area mounts on the app (one line per area)."""
    routes: list[BaseRoute] = []
    routes += feed_routes(settings)
    routes += graphql_routes(settings)
    routes += page_routes(settings)
    return routes


def background_loops(settings: Settings) -> list[Duty]:
    """The periodic work of `fenster serve`. Led: what must happen in one place (booking
    windows, queueing reminders). Everywhere: draining the outbox (rows are claimed one
    process at a time) and building the site this process serves."""
    return [
        Duty("scheduler", settings.schedule_interval, scheduling.run_periodic, led=True),
        Duty("reminders", settings.mail_interval, notify_mailer.run_reminders, led=True),
        Duty("watchdog", settings.watchdog_interval, watchdog.run_periodic, led=True),
        Duty("rollouts", settings.rollout_interval, rollout_engine.run_periodic, led=True),
        Duty("mailer", settings.mail_interval, notify_mailer.run_drain, led=False),
        Duty("site", settings.site_interval, site.run_periodic, led=False),
    ]


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


async def _loop(duty: Duty, settings: Settings, leader: Leadership) -> None:
    while True:
        if duty.led and not leader.held():  # a follower: look again soon, to take over fast
            await asyncio.sleep(min(duty.every, leader.beat_every))
            continue
        try:
            await duty.run(settings)
        except asyncio.CancelledError:
            raise
        except Exception:  # a failed pass is logged and retried next interval
            LOOP_FAILURES.labels(duty.name).inc()
            log.exception("background loop %s failed", duty.name)
        await asyncio.sleep(duty.every)


async def _beat(leader: Leadership) -> None:
    try:
        await leader.beat()
    except asyncio.CancelledError:
        raise
    except Exception as exc:  # the database is away: lead no more until it is back
        leader.lost()
        log.warning("leader lease: %s: %s", type(exc).__name__, exc)
    LEADER.set(1 if leader.held() else 0)


async def _lead(leader: Leadership) -> None:
    """Beat for the leader lease for as long as the process serves (the first beat was
    taken before the duties started)."""
    while True:
        await asyncio.sleep(leader.beat_every)
        await _beat(leader)


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
        duties = [d for d in background_loops(settings) if d.every > 0]
        leader = Leadership(process_name(), timedelta(seconds=settings.leader_lease_seconds))
        tasks = []
        if any(d.led for d in duties):
            await _beat(leader)  # before the duties look, so that a lone process leads at once
            tasks.append(asyncio.create_task(_lead(leader), name="leader"))
        for duty in duties:
            tasks.append(asyncio.create_task(_loop(duty, settings, leader), name=duty.name))
        try:
            yield
        finally:
            for task in tasks:
                task.cancel()
            for task in tasks:
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            with contextlib.suppress(Exception):  # the database may be gone already
                await leader.release()
            LEADER.set(0)
            if manage_db:
                await db.close()

    app = Starlette(routes=routes, lifespan=lifespan)
    app.state.settings = settings
    app.add_middleware(DatabaseAway, retry_after=settings.shed_retry_after)
    app.add_middleware(LoadShed, limit=settings.max_inflight, retry_after=settings.shed_retry_after)
    app.add_middleware(RequestMetrics, routes=routes)  # outside: shed requests count as 503
    app.add_middleware(RequestId)  # outermost: every line logged for a request carries its id
    return app
