"""Benchmark of a 1,000-window group feed through the route (run on demand, not collected).

    .venv/bin/python tests/benchmarks/bench_feeds.py [--windows 1000] [--runs 10]
        [--database-url postgres://postgres@127.0.0.1:5432/fenster_bench]

One group with ``--windows`` windows (two activities each) in a fresh database (not timed), on
SQLite (a file in a temporary folder) and then on PostgreSQL (``--database-url``, else a
database of its own on 127.0.0.1:5432 when a server answers there). Timed, in the same run,
medians of several runs, through the ASGI app with httpx:

1. the feed after a change (one window changed between runs, not timed): the whole path,
   ETag query, loading, building (the unchanged events' bytes are reused), response; against
   the floor, icalendar's own build plus ``to_ical()`` of the same events. Goal (issue 9):
   <= 1.3x the floor. Printed beside it, not a goal: the same with every event rendered
   afresh (as if all had changed).
2. the unchanged feed fetched without If-None-Match (served from the rendered-bytes cache),
   against the 304 path. Goal: <= 1.5x.
3. the 304 path (If-None-Match), against a plain Starlette handler that runs the same ETag
   query (group lookup, ``feed_stamp``) and answers 304. Goal: <= 1.5x.

Misses are printed and the run goes on; the exit status is 0 (a benchmark is not a test).
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import os
import socket
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import httpx
import icalendar
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from tortoise.backends.base.executor import EXECUTOR_CACHE

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from api import db
from api.app import create_app
from api.calendar.query import feed_stamp, window_views
from api.calendar.values import CalendarView, WindowView, impact, maintnote_status
from api.feeds import ics
from api.feeds.ics import PRODID, build_calendar, event_description
from api.feeds.routes import HISTORY
from api.models import Activity, Machine, ResourceGroup, Window
from api.settings import Settings

KINDS = [("kernel_update", {"kernel": "2.6.38"}), ("memory_resize", {"memory_mib": 4096})]


async def populate(windows: int) -> ResourceGroup:
    group = await ResourceGroup.create(
        name="acme", title="ACME Webshop", contacts=["ops@acme.example"], timezone="Europe/Berlin"
    )
    host = await Machine.create(name="kvm01", kind="host", group=group, capacity=windows)
    await Machine.bulk_create(
        [Machine(name=f"vm{i:04d}", kind="vm", group=group, host=host) for i in range(windows)]
    )
    vms = await Machine.filter(kind="vm").order_by("name")
    start = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) - timedelta(days=25)
    await Window.bulk_create(
        [
            Window(
                machine=vm,
                starts_at=start + timedelta(hours=7 * i),
                ends_at=start + timedelta(hours=7 * i, minutes=120),
                reason="first free day of the group's window after the notice period",
                state="cancelled" if i % 10 == 9 else "planned",
                sequence=i % 3,
            )
            for i, vm in enumerate(vms)
        ]
    )
    made = await Window.all().order_by("id").values_list("id", "machine_id")
    await Activity.bulk_create(
        [
            Activity(
                machine_id=machine_id,
                window_id=window_id,
                kind=kind,
                params=params,
                estimate_minutes=10,
                state="scheduled",
            )
            for window_id, machine_id in made
            for kind, params in KINDS
        ]
    )
    return group


def icalendar_calendar(cal: CalendarView, windows: list[WindowView]) -> icalendar.Calendar:
    """The same events built the way icalendar's documentation shows (the floor): every
    property the feed has, ``add()`` with plain values, ``Timezone.from_tzinfo``."""
    out = icalendar.Calendar()
    refresh = timedelta(minutes=cal.refresh_minutes)
    for key, value in (
        ("prodid", PRODID),
        ("version", "2.0"),
        ("calscale", "GREGORIAN"),
        ("name", cal.name),
        ("x-wr-calname", cal.name),
        ("x-wr-timezone", cal.timezone),
        ("x-wr-caldesc", cal.description),
        ("description", cal.description),
    ):
        out.add(key, value)
    out.add("refresh-interval", refresh, parameters={"VALUE": "DURATION"})
    out.add("x-published-ttl", icalendar.vDuration(refresh))
    zone = ZoneInfo(cal.timezone)
    first = min(w.starts_at for w in windows).date()
    last = max(w.ends_at for w in windows).date()
    out.add_component(
        icalendar.Timezone.from_tzinfo(
            zone, first_date=date(first.year, 1, 1), last_date=date(last.year, 12, 31)
        )
    )
    for w in windows:
        level = impact(w)
        e = icalendar.Event()
        e.add("uid", w.uid)
        e.add("dtstamp", w.updated_at)
        e.add("dtstart", w.starts_at.astimezone(zone))
        e.add("dtend", w.ends_at.astimezone(zone))
        e.add("sequence", w.sequence)
        e.add("status", "CANCELLED" if w.state == "cancelled" else "CONFIRMED")
        e.add("summary", w.summary)
        e.add("description", event_description(w))
        e.add("transp", "OPAQUE")
        e.add("created", w.created_at)
        e.add("last-modified", w.updated_at)
        e.add("url", w.url, parameters={"VALUE": "URI"})
        e.add("organizer", f"mailto:{cal.organizer}", parameters={"CN": cal.provider})
        e.add("x-maintnote-provider", cal.provider)
        e.add("x-maintnote-account", w.group)
        e.add("x-maintnote-maintenance-id", w.uid)
        e.add("x-maintnote-object-id", w.machine, parameters={"X-MAINTNOTE-OBJECT-IMPACT": level})
        e.add("x-maintnote-impact", level)
        e.add("x-maintnote-status", maintnote_status(w.state))
        out.add_component(e)
    return out


async def drop_postgres(url: str) -> None:
    import asyncpg

    base, name = url.rsplit("/", 1)
    conn = await asyncpg.connect(f"{base}/postgres".replace("postgres://", "postgresql://", 1))
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


async def median_ms(
    fn: Callable[[], Awaitable[object]],
    runs: int,
    before: Callable[[], Awaitable[object]] | None = None,
) -> tuple[float, float]:
    """Median and minimum of ``runs`` timed calls (after 3 untimed); ``before`` runs untimed
    ahead of each call."""
    for _ in range(3):
        if before:
            await before()
        await fn()
    samples = []
    for _ in range(runs):
        if before:
            await before()
        t = time.perf_counter()
        await fn()
        samples.append((time.perf_counter() - t) * 1000)
    return statistics.median(samples), min(samples)


def plain_app() -> Starlette:
    """The floor of the 304 path: the same ETag query, nothing else."""

    async def plain(request: Request) -> Response:
        group = await ResourceGroup.get(name=request.path_params["group"])
        stamp = await feed_stamp(since=datetime.now(UTC) - HISTORY, group_id=group.id)
        tag = '"' + hashlib.sha256(stamp.key().encode()).hexdigest()[:32] + '"'
        if request.headers.get("if-none-match") == tag:
            return Response(status_code=304, headers={"ETag": tag})
        return Response(b"", headers={"ETag": tag})

    return Starlette(routes=[Route("/plain/{group}", plain, methods=["GET"])])


def postgres_url() -> str | None:
    """A database of our own on 127.0.0.1:5432 when a server answers there."""
    try:
        socket.create_connection(("127.0.0.1", 5432), timeout=1).close()
    except OSError:
        return None
    return f"postgres://postgres@127.0.0.1:5432/fenster_bench_feeds_{uuid.uuid4().hex[:8]}"


Goal = tuple[str, bool]


async def measure(
    client: httpx.AsyncClient,
    plain: httpx.AsyncClient,
    group: ResourceGroup,
    settings: Settings,
    runs: int,
) -> tuple[list[str], list[Goal]]:
    path = f"/feeds/{group.name}.ics?token={group.feed_token}"
    first = await client.get(path)
    events = first.content.count(b"BEGIN:VEVENT")
    moved = await Window.filter(machine__group=group).order_by("-starts_at").first()
    assert moved is not None

    async def change() -> None:  # one window changes: a new ETag, a new rendering
        moved.touch()
        await moved.save()

    async def fetch() -> None:
        r = await client.get(path)
        assert r.status_code == 200

    after_change, change_min = await median_ms(fetch, runs, before=change)

    async def change_all() -> None:  # as if every window had changed: nothing is reused
        await change()
        ics._feed_event.cache_clear()

    cold, cold_min = await median_ms(fetch, runs, before=change_all)
    etag = (await client.get(path)).headers["etag"]

    async def not_modified() -> None:
        r = await client.get(path, headers={"If-None-Match": etag})
        assert r.status_code == 304

    plain_tag = (await plain.get(f"/plain/{group.name}")).headers["etag"]

    async def plain_304() -> None:
        r = await plain.get(f"/plain/{group.name}", headers={"If-None-Match": plain_tag})
        assert r.status_code == 304

    light = runs * 20
    unchanged, unchanged_min = await median_ms(fetch, light)
    nm, nm_min = await median_ms(not_modified, light)
    floor_304, floor_304_min = await median_ms(plain_304, light)

    since = datetime.now(UTC) - HISTORY
    views = await window_views(settings.public_url, group_id=group.id, since=since)
    cal = CalendarView(
        name=f"Maintenance: {group.title}",
        timezone=group.timezone,
        provider=settings.mail_domain,
        description=f"Maintenance windows of resource group {group.name}",
        organizer="maintenance@" + settings.mail_domain,
    )

    async def floor_build() -> None:
        icalendar_calendar(cal, views).to_ical()

    async def load() -> None:
        await window_views(settings.public_url, group_id=group.id, since=since)

    async def build() -> None:
        ics._feed_event.cache_clear()
        build_calendar(cal, views)

    floor, floor_min = await median_ms(floor_build, runs)
    loading, _ = await median_ms(load, runs)
    building, _ = await median_ms(build, runs)
    lines = [
        f"  {events} events in the feed ({len(first.content) / 1024:.0f} KiB); medians of {runs}"
        f" runs ({light} for the light paths), minimum after /",
        f"  feed after a change (200, rendered)         {after_change:9.2f} ms / {change_min:.2f}",
        f"  feed with every event re-rendered (cold)    {cold:9.2f} ms / {cold_min:.2f}"
        f"  = {cold / floor:.2f}x the floor (not a goal)",
        f"    of which: loading the windows (2 queries) {loading:9.2f} ms",
        f"    of which: building the calendar           {building:9.2f} ms",
        f"  floor: icalendar build + to_ical()          {floor:9.2f} ms / {floor_min:.2f}",
        f"  unchanged feed, no If-None-Match (cached)   {unchanged:9.2f} ms / {unchanged_min:.2f}",
        f"  304 path (If-None-Match)                    {nm:9.2f} ms / {nm_min:.2f}",
        f"  floor: plain Starlette 304, same ETag query {floor_304:9.2f} ms / {floor_304_min:.2f}",
    ]
    goals = [
        (
            f"after a change <= 1.3x icalendar build + to_ical: {after_change / floor:.2f}x",
            after_change <= 1.3 * floor,
        ),
        (
            f"unchanged without If-None-Match <= 1.5x the 304 path: {unchanged / nm:.2f}x",
            unchanged <= 1.5 * nm,
        ),
        (f"304 path <= 1.5x plain Starlette 304: {nm / floor_304:.2f}x", nm <= 1.5 * floor_304),
    ]
    return lines, goals


async def run(windows: int, runs: int, database_url: str | None) -> list[Goal]:
    with tempfile.TemporaryDirectory() as tmp:
        url = database_url or f"sqlite://{Path(tmp) / 'bench.sqlite3'}"
        settings = Settings(database_url=url, mail_interval=0, schedule_interval=0, site_interval=0)
        # Tortoise caches each model's SQL per connection name, not per dialect: a PostgreSQL
        # run after the SQLite one in this process would reuse SQLite's statements
        EXECUTOR_CACHE.clear()
        await db.init(settings, create_db=database_url is not None)
        try:
            await db.migrate()
            group = await populate(windows)
            app = create_app(settings, manage_db=False)
            async with (
                httpx.AsyncClient(
                    transport=httpx.ASGITransport(app=app), base_url="http://bench"
                ) as client,
                httpx.AsyncClient(
                    transport=httpx.ASGITransport(app=plain_app()), base_url="http://bench"
                ) as plain,
            ):
                lines, goals = await measure(client, plain, group, settings, runs)
        finally:
            await db.close()
            if database_url:
                await drop_postgres(database_url)
    print(f"database: {url.split('://', 1)[0]}; {windows} windows in the database")
    for line in lines:
        print(line)
    for label, ok in goals:
        print(f"  {'met ' if ok else 'MISS'}  {label}")
    return goals


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--windows", type=int, default=1000)
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--database-url", help="PostgreSQL; default: one on 127.0.0.1:5432")
    parser.add_argument("--sqlite-only", action="store_true")
    args = parser.parse_args()
    print(f"feed benchmark (issue 9 goals), {os.cpu_count()} CPUs")
    goals = asyncio.run(run(args.windows, args.runs, None))
    pg = None if args.sqlite_only else args.database_url or postgres_url()
    if pg:
        goals += asyncio.run(run(args.windows, args.runs, pg))
    else:
        print("database: postgres skipped (no server on 127.0.0.1:5432 and no --database-url)")
    missed = [label for label, ok in goals if not ok]
    print(
        f"{len(goals) - len(missed)} of {len(goals)} goals met"
        + ("; missed: " + "; ".join(missed) if missed else "")
    )
    return 0  # a benchmark reports its misses; it does not fail


if __name__ == "__main__":
    sys.exit(main())
