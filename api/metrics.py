"""Prometheus metrics: what an operator watches, served at ``/metrics``.

Two kinds of figures:

- counters and histograms this process keeps as it works (HTTP requests by route, GraphQL
  operations by root field, mail attempts, scheduling passes, background-loop failures);
- gauges read from the directory at each scrape (outbox depth and age, windows and activities
  by state, rollout waves, the age of each host agent's last report), so that every replica
  answers the same and a restarted process loses nothing.

Labels are bounded by the schema and the code, never by customer data: routes are templates
(``/feeds/{group}.ics``), GraphQL operations are named by their root fields (schema names, not
the client's operation name), and hosts are the provider's own machines.

Who may read it: clients from ``metrics_from`` (default loopback), or any client with an admin
token. Put the TLS proxy in front so that it does not forward ``/metrics`` (docs/production.md).
"""

from __future__ import annotations

import ipaddress
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from graphql.language import FieldNode, OperationDefinitionNode
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from prometheus_client.registry import Collector
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import BaseRoute, Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from strawberry.extensions import SchemaExtension
from strawberry.types.execution import PreExecutionError
from tortoise.functions import Count, Min

from api import policy
from api.graphql.context import bearer
from api.models import Activity, Machine, Notification, Rollout, Wave, Window
from api.services import tokens
from api.services.watchdog import STUCK_AFTER

__all__ = [
    "GRAPHQL_LATENCY",
    "GRAPHQL_OPERATIONS",
    "HTTP_LATENCY",
    "HTTP_REQUESTS",
    "LEADER",
    "LOOP_FAILURES",
    "MAIL_ATTEMPTS",
    "MAIL_OUTCOMES",
    "REGISTRY",
    "SCHEDULING_PASS",
    "GraphQLMetrics",
    "RequestMetrics",
    "metrics_endpoint",
]

REGISTRY = CollectorRegistry(auto_describe=True)

# Latency buckets: requests are expected in milliseconds; a pass may take minutes.
_REQUEST_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
_PASS_BUCKETS = (0.1, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0)

HTTP_REQUESTS = Counter(
    "fenster_http_requests",
    "HTTP requests answered, by route template, method and status code.",
    ["route", "method", "status"],
    registry=REGISTRY,
)
HTTP_LATENCY = Histogram(
    "fenster_http_request_duration_seconds",
    "Time to answer an HTTP request, by route template.",
    ["route"],
    buckets=_REQUEST_BUCKETS,
    registry=REGISTRY,
)
GRAPHQL_OPERATIONS = Counter(
    "fenster_graphql_operations",
    "GraphQL operations by type and root field (an operation with several root fields counts "
    "once for each); outcome is ok, error (a field raised or was refused) or invalid (refused "
    "before execution).",
    ["type", "field", "outcome"],
    registry=REGISTRY,
)
GRAPHQL_LATENCY = Histogram(
    "fenster_graphql_operation_duration_seconds",
    "Time to execute a GraphQL operation, by root field.",
    ["field"],
    buckets=_REQUEST_BUCKETS,
    registry=REGISTRY,
)
MAIL_ATTEMPTS = Counter(
    "fenster_mail_attempts",
    "Outbox rows tried by this process's mailer: sent, retried (will try again), failed (for "
    "good) or skipped (nothing left to say).",
    ["outcome"],
    registry=REGISTRY,
)
MAIL_OUTCOMES = ("sent", "retried", "failed", "skipped")
for _outcome in MAIL_OUTCOMES:  # present from the start, so that rate() and increase() work
    MAIL_ATTEMPTS.labels(_outcome)
SCHEDULING_PASS = Histogram(
    "fenster_scheduling_pass_duration_seconds",
    "Duration of the scheduling passes this process ran (skipped passes not counted).",
    buckets=_PASS_BUCKETS,
    registry=REGISTRY,
)
LOOP_FAILURES = Counter(
    "fenster_background_loop_failures",
    "Background passes that raised (logged with their traceback), by loop.",
    ["loop"],
    registry=REGISTRY,
)

LEADER = Gauge(
    "fenster_leader",
    "1 while this process holds the leader lease and runs the led duties (scheduling pass, "
    "reminders), else 0. Across processes, exactly one should be 1.",
    registry=REGISTRY,
)


# -- gauges read from the directory ----------------------------------------------------------


@dataclass
class Snapshot:
    """The directory's figures at one scrape."""

    taken_at: datetime
    outbox: dict[str, int] = field(default_factory=dict)  # state -> rows
    outbox_oldest_pending: datetime | None = None
    windows: dict[str, int] = field(default_factory=dict)  # state -> windows
    windows_stuck: int = 0
    activities: dict[tuple[str, str], int] = field(default_factory=dict)  # (kind, state)
    rollouts: dict[str, int] = field(default_factory=dict)
    waves: dict[str, int] = field(default_factory=dict)
    host_reports: dict[str, datetime | None] = field(default_factory=dict)  # host -> last


async def _by(model: Any, *keys: str) -> dict[Any, int]:
    rows = await model.annotate(n=Count("id")).group_by(*keys).values_list(*keys, "n")
    return {(r[0] if len(keys) == 1 else tuple(r[:-1])): r[-1] for r in rows}


async def take_snapshot(now: datetime | None = None) -> Snapshot:
    now = now or datetime.now(UTC)
    snap = Snapshot(taken_at=now)
    snap.outbox = await _by(Notification, "state")
    oldest = (
        await Notification.filter(state="pending")
        .annotate(oldest=Min("created_at"))
        .first()
        .values_list("oldest", flat=True)
    )
    snap.outbox_oldest_pending = oldest  # type: ignore[assignment]
    snap.windows = await _by(Window, "state")
    snap.windows_stuck = await Window.filter(state="running", stuck_at__isnull=False).count()
    snap.activities = await _by(Activity, "kind", "state")
    snap.rollouts = await _by(Rollout, "state")
    snap.waves = await _by(Wave, "state")
    snap.host_reports = dict(await Machine.filter(kind="host").values_list("name", "observed_at"))
    return snap


def _gauge(name: str, doc: str, labels: list[str], values: Iterable[tuple[Any, float]]) -> Metric:
    g = GaugeMetricFamily(name, doc, labels=labels)
    for key, value in values:
        g.add_metric(list(key) if isinstance(key, tuple) else [key] if labels else [], value)
    return g


def directory_metrics(snap: Snapshot) -> Iterator[Metric]:
    """The gauges of one snapshot, in the exposition's families."""
    yield _gauge(
        "fenster_outbox_rows", "Outbox rows by state.", ["state"], sorted(snap.outbox.items())
    )
    age = (
        (snap.taken_at - snap.outbox_oldest_pending).total_seconds()
        if snap.outbox_oldest_pending is not None
        else 0.0
    )
    yield _gauge(
        "fenster_outbox_oldest_pending_age_seconds",
        "Age of the oldest pending outbox row (0 when the outbox is empty).",
        [],
        [((), max(age, 0.0))],
    )
    yield _gauge("fenster_windows", "Windows by state.", ["state"], sorted(snap.windows.items()))
    yield _gauge(
        "fenster_windows_stuck",
        f"Running windows flagged stuck: more than {int(STUCK_AFTER.total_seconds() // 60)} "
        "minutes past their end (api.services.watchdog).",
        [],
        [((), snap.windows_stuck)],
    )
    yield _gauge(
        "fenster_activities",
        "Activities by kind and state.",
        ["kind", "state"],
        sorted(snap.activities.items()),
    )
    yield _gauge("fenster_rollouts", "Rollouts by state.", ["state"], sorted(snap.rollouts.items()))
    yield _gauge(
        "fenster_rollout_waves", "Rollout waves by state.", ["state"], sorted(snap.waves.items())
    )
    reported = sorted((h, t) for h, t in snap.host_reports.items() if t is not None)
    yield _gauge(
        "fenster_agent_last_report_age_seconds",
        "Seconds since each VM host's agent last reported its inventory.",
        ["host"],
        [(h, max((snap.taken_at - t).total_seconds(), 0.0)) for h, t in reported],
    )
    yield _gauge(
        "fenster_agent_never_reported",
        "VM hosts whose agent has never reported.",
        [],
        [((), sum(1 for t in snap.host_reports.values() if t is None))],
    )


class _Directory(Collector):
    """Yields the snapshot the endpoint took just before generating the exposition."""

    def __init__(self) -> None:
        self.snapshot: Snapshot | None = None

    def collect(self) -> Iterator[Metric]:
        if self.snapshot is not None:
            yield from directory_metrics(self.snapshot)

    def describe(self) -> Iterator[Metric]:
        return iter(())  # read at scrape time only: no names to check at registration


_DIRECTORY = _Directory()
REGISTRY.register(_DIRECTORY)


# -- who may read ----------------------------------------------------------------------------


async def _may_read(request: Request) -> bool:
    networks = request.app.state.settings.metrics_networks
    client = request.client.host if request.client else ""
    try:
        address = ipaddress.ip_address(client)
    except ValueError:
        address = None
    if address is not None and any(address in n for n in networks):
        return True
    return policy.may_read_metrics(
        await tokens.principal(bearer(request.headers.get("authorization")))
    )


async def metrics_endpoint(request: Request) -> Response:
    if not await _may_read(request):
        return PlainTextResponse(
            "/metrics: only from the networks in metrics_from, or with an admin token\n",
            status_code=403,
        )
    snap = await take_snapshot()
    _DIRECTORY.snapshot = snap  # no await between setting and reading: scrapes cannot mix
    try:
        body = generate_latest(REGISTRY)
    finally:
        _DIRECTORY.snapshot = None
    return Response(body, media_type=CONTENT_TYPE_LATEST)


# -- recording -------------------------------------------------------------------------------

_LABEL_CACHE = 1024  # distinct request paths remembered by RequestMetrics


def route_label(routes: Iterable[BaseRoute], scope: Scope) -> str:
    """The template of the route a request goes to (bounded), "site" for the notice site."""
    for route in routes:  # matched by path alone: a wrong method still gives a partial match
        match, _ = route.matches(scope)
        if match != Match.NONE:
            path = getattr(route, "path", "")
            return path or "site"
    return "unmatched"


class RequestMetrics:
    """ASGI middleware: counts every HTTP request and times it, by route template."""

    def __init__(self, app: ASGIApp, routes: list[BaseRoute]) -> None:
        self.app = app
        self.routes = routes
        # path -> label: the routes' regexes run once per distinct path, not on every request.
        # Bounded, since paths are the client's to choose.
        self._labels: dict[str, str] = {}

    def label(self, scope: Scope) -> str:
        path = scope.get("path", "")
        label = self._labels.get(path)
        if label is None:
            label = route_label(self.routes, scope)
            if len(self._labels) >= _LABEL_CACHE:
                self._labels.clear()
            self._labels[path] = label
        return label

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        route = self.label(scope)
        status = 500  # what the client sees if the app raises before it answers

        async def sending(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        started = time.perf_counter()
        try:
            await self.app(scope, receive, sending)
        finally:
            HTTP_LATENCY.labels(route).observe(time.perf_counter() - started)
            HTTP_REQUESTS.labels(route, scope.get("method", ""), str(status)).inc()


class GraphQLMetrics(SchemaExtension):
    """Counts each operation under its root fields' schema names, with its outcome."""

    def on_operation(self) -> Iterator[None]:
        started = time.perf_counter()
        yield
        elapsed = time.perf_counter() - started
        ctx = self.execution_context
        result = ctx.result  # refused before execution (syntax, validation, limits): None or
        kind, fields, outcome = "unknown", ["invalid"], "invalid"  # a PreExecutionError
        executed = result is not None and not isinstance(result, PreExecutionError)
        if executed and ctx.graphql_document is not None:
            kind = ctx.operation_type.value
            fields = _root_fields(ctx.graphql_document, ctx.operation_name) or ["none"]
            outcome = "error" if getattr(result, "errors", None) else "ok"
        for name in fields:
            GRAPHQL_OPERATIONS.labels(kind, name, outcome).inc()
            GRAPHQL_LATENCY.labels(name).observe(elapsed)


def _root_fields(document: Any, operation_name: str | None) -> list[str]:
    for definition in document.definitions:
        if not isinstance(definition, OperationDefinitionNode):
            continue
        if operation_name and (definition.name is None or definition.name.value != operation_name):
            continue
        names = {
            s.name.value for s in definition.selection_set.selections if isinstance(s, FieldNode)
        }
        return sorted(names)
    return []
