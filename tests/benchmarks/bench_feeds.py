"""Benchmark of a 1,000-window group feed through the route (run on demand, not collected).

    .venv/bin/python tests/benchmarks/bench_feeds.py [--windows 1000] [--runs 30]
        [--database-url postgres://postgres@127.0.0.1:5432/fenster_bench]

One group with ``--windows`` windows (two activities each) in a fresh database (SQLite file by
default; not timed). Then, timed: GET /feeds/{group}.ics through the ASGI app with httpx (the
whole path: token check, aggregate, two queries, building, response); the floor, icalendar
serialising the same events (``Calendar.to_ical()`` of a calendar built beforehand, and built
plus serialised); and GET with If-None-Match (the 304 path). Medians of ``--runs`` runs.
Goals (issue 5): route <= 50 ms and <= 1.3x the floor; 304 <= 3 ms.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import httpx
import icalendar

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from api import db
from api.app import create_app
from api.feeds.ics import build_calendar, event_description
from api.feeds.query import window_views
from api.feeds.routes import HISTORY
from api.feeds.values import CalendarView, WindowView, impact, maintnote_status
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
    """The same calendar built with icalendar objects (the floor's input)."""
    out = icalendar.Calendar()
    for key, value in (
        ("prodid", "-//fenster//maintenance directory//EN"),
        ("version", "2.0"),
        ("calscale", "GREGORIAN"),
        ("x-wr-calname", cal.name),
        ("x-wr-timezone", cal.timezone),
        ("x-published-ttl", "PT1H"),
    ):
        out.add(key, value)
    zone = ZoneInfo(cal.timezone)
    first = min(w.starts_at for w in windows).date()
    last = max(w.ends_at for w in windows).date()
    out.add_component(
        icalendar.Timezone.from_tzinfo(
            zone, first_date=date(first.year, 1, 1), last_date=date(last.year, 12, 31)
        )
    )
    for w in windows:
        e = icalendar.Event()
        e.add("uid", w.uid)
        e.add("dtstamp", w.updated_at)
        e.add("dtstart", w.starts_at.astimezone(zone))
        e.add("dtend", w.ends_at.astimezone(zone))
        e.add("sequence", w.sequence)
        e.add("status", "CANCELLED" if w.state == "cancelled" else "CONFIRMED")
        e.add("summary", w.summary)
        e.add("description", event_description(w))
        e.add("created", w.created_at)
        e.add("last-modified", w.updated_at)
        e.add("url", w.url)
        e.add("x-maintnote-provider", cal.provider)
        e.add("x-maintnote-account", w.group)
        e.add("x-maintnote-maintenance-id", w.uid)
        e.add("x-maintnote-object-id", w.machine)
        e.add("x-maintnote-impact", impact(w))
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


async def median_ms(fn: Callable[[], Awaitable[object]], runs: int) -> tuple[float, float]:
    for _ in range(3):
        await fn()
    samples = []
    for _ in range(runs):
        t = time.perf_counter()
        await fn()
        samples.append((time.perf_counter() - t) * 1000)
    return statistics.median(samples), min(samples)


async def run(windows: int, runs: int, database_url: str | None) -> int:
    with tempfile.TemporaryDirectory() as tmp:
        url = database_url or f"sqlite://{Path(tmp) / 'bench.sqlite3'}"
        settings = Settings(database_url=url, mail_interval=0, schedule_interval=0)
        await db.init(settings, create_db=database_url is not None)
        try:
            await db.migrate()
            group = await populate(windows)
            app = create_app(settings, manage_db=False)
            path = f"/feeds/{group.name}.ics?token={group.feed_token}"
            async with httpx.AsyncClient(
                transport=httpx.ASGITransport(app=app), base_url="http://bench"
            ) as client:
                first = await client.get(path)
                events = first.content.count(b"BEGIN:VEVENT")
                etag = first.headers["etag"]

                async def full() -> None:
                    r = await client.get(path)
                    assert r.status_code == 200

                async def cached() -> None:
                    r = await client.get(path, headers={"If-None-Match": etag})
                    assert r.status_code == 304

                route, route_min = await median_ms(full, runs)
                not_modified, nm_min = await median_ms(cached, runs * 3)

            since = datetime.now(UTC) - HISTORY
            views = await window_views(settings.public_url, group_id=group.id, since=since)

            async def load() -> None:
                await window_views(settings.public_url, group_id=group.id, since=since)

            cal = CalendarView(
                name="Maintenance: ACME Webshop", timezone="Europe/Berlin", provider="bench"
            )

            async def ours() -> None:
                build_calendar(cal, views)

            prebuilt = icalendar_calendar(cal, views)

            async def floor_serialise() -> None:
                prebuilt.to_ical()

            async def floor_build() -> None:
                icalendar_calendar(cal, views).to_ical()

            loading, _ = await median_ms(load, runs)
            building, _ = await median_ms(ours, runs)
            floor, floor_min = await median_ms(floor_serialise, runs)
            floor_full, _ = await median_ms(floor_build, runs)
        finally:
            await db.close()
            if database_url:
                await drop_postgres(database_url)

    backend = url.split("://", 1)[0]
    print(f"feed benchmark: {windows} windows in the database, {events} events in the feed")
    print(f"database: {backend}; medians of {runs} runs (304: {runs * 3} runs), minimum after /")
    print(f"  route GET /feeds/acme.ics (200)        {route:8.2f} ms / {route_min:.2f}")
    print(f"    of which: loading windows (2 queries) {loading:8.2f} ms")
    print(f"    of which: building the iCalendar      {building:8.2f} ms")
    print(f"  floor: icalendar to_ical() only        {floor:8.2f} ms / {floor_min:.2f}")
    print(f"  floor: icalendar build + to_ical()     {floor_full:8.2f} ms")
    print(f"  route GET with If-None-Match (304)     {not_modified:8.2f} ms / {nm_min:.2f}")
    ratio = route / floor
    goals = [
        ("route <= 50 ms", route <= 50),
        (f"route <= 1.3x floor (to_ical only): {ratio:.2f}x", ratio <= 1.3),
        (f"route vs build+to_ical: {route / floor_full:.2f}x", route / floor_full <= 1.3),
        ("304 <= 3 ms", not_modified <= 3),
    ]
    for label, ok in goals:
        print(f"  {'met ' if ok else 'MISS'}  {label}")
    return 0 if all(ok for _, ok in goals) else 1


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--windows", type=int, default=1000)
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--database-url", help="default: a SQLite file in a temporary folder")
    args = parser.parse_args()
    return asyncio.run(run(args.windows, args.runs, args.database_url))


if __name__ == "__main__":
    sys.exit(main())
