"""Benchmark of one whole scheduling pass on SQLite (run on demand, not collected).

    .venv/bin/python tests/benchmarks/bench_scheduler.py [--only 10000|100000]

Builds a world of groups, hosts, VMs and queued activities with plain sqlite3 (not timed), runs
one pass (load, plan, save: timed) and, as the floor, a raw aiosqlite ``executemany`` insert of
the same number of window rows into a fresh database with the same schema.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sqlite3
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiosqlite

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from api import db
from api.services.scheduling import run_pass
from api.settings import Settings

NOW = datetime(2026, 11, 23, 6, 0, tzinfo=UTC)
ZONES = [
    "Europe/Berlin",
    "Europe/London",
    "America/New_York",
    "America/Los_Angeles",
    "Australia/Sydney",
    "Asia/Kathmandu",
    "Asia/Tokyo",
    "UTC",
]
SCALES = {
    10_000: dict(groups=100, hosts=200, machines=5_000, activities=10_000),
    100_000: dict(groups=1_000, hosts=2_000, machines=50_000, activities=100_000),
}


async def migrate(path: Path) -> Settings:
    settings = Settings(database_url=f"sqlite://{path}", schedule_interval=0)
    await db.init(settings)
    await db.migrate()
    await db.close()
    return settings


def populate(path: Path, groups: int, hosts: int, machines: int, activities: int) -> None:
    ts = NOW.isoformat(" ")
    con = sqlite3.connect(path)
    con.executemany(
        "INSERT INTO resource_group (id, name, title, contacts, timezone, window_start,"
        " window_minutes, weekdays, notice_minutes, reminder_minutes, max_postpones, feed_token,"
        " created_at, updated_at) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
        [
            (
                g + 1,
                f"g{g}",
                "",
                json.dumps([f"ops@g{g}.example"]),
                ZONES[g % len(ZONES)],
                f"{(g % 6):02d}:{(g % 4) * 15:02d}",
                120 + 60 * (g % 3),
                json.dumps([0, 1, 2, 3, 4, 5, 6] if g % 3 else [0, 1, 2, 3, 4]),
                7 * 1440,
                1440,
                2,
                uuid.uuid4().hex,
                ts,
                ts,
            )
            for g in range(groups)
        ],
    )
    vms = machines - hosts
    cols = (
        "id, name, kind, group_id, host_id, arch, desired_cores, desired_memory_mib,"
        " desired_swap_mib, auto_schedule, representative, redundancy, capacity, created_at,"
        " updated_at"
    )
    rows = [
        (h + 1, f"kvm{h}", "host", 1, None, "x86_64", 1, 2048, 1024, 1, 0, None, 2, ts, ts)
        for h in range(hosts)
    ]
    for v in range(vms):
        rows.append(
            (
                hosts + v + 1,
                f"vm{v}",
                "vm",
                v % groups + 1,
                v % hosts + 1,
                "x86_64",
                1,
                2048,
                1024,
                1,
                0,
                f"r{v % 7}" if v % 5 == 0 else None,
                2,
                ts,
                ts,
            )
        )
    con.executemany(f"INSERT INTO machine ({cols}) VALUES ({','.join('?' * 15)})", rows)
    kinds = [("kernel_update", 15), ("system_update", 30), ("memory_resize", 5)]
    con.executemany(
        "INSERT INTO activity (id, machine_id, kind, estimate_minutes, state, params,"
        " attempts, requested_at, requested_by) VALUES (?,?,?,?,?,?,?,?,?)",
        [
            (a + 1, hosts + a % vms + 1, *kinds[a % 3], "queued", "{}", 0, ts, "bench")
            for a in range(activities)
        ],
    )
    con.commit()
    con.close()


async def floor(path: Path, count: int) -> float:
    ts = NOW.isoformat(" ")
    rows = [
        (
            f"{uuid.uuid4()}@fenster",
            1,
            (NOW + timedelta(days=7)).isoformat(" "),
            (NOW + timedelta(days=7, hours=2)).isoformat(" "),
            "planned",
            "reason",
            0,
            0,
            0,
            None,
            ts,
            ts,
        )
        for _ in range(count)
    ]
    async with aiosqlite.connect(path) as con:
        await con.execute("PRAGMA foreign_keys = OFF")
        start = time.perf_counter()
        await con.executemany(
            "INSERT INTO maintenance_window (uid, machine_id, starts_at, ends_at, state, reason,"
            " sequence, forced, postpones, postpone_deadline, created_at, updated_at)"
            " VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
            rows,
        )
        await con.commit()
        return time.perf_counter() - start


async def all_writes(path: Path, windows: int, activities: int, notes: int) -> float:
    """Raw executemany of every row a pass writes: windows, activity updates, audit, outbox."""
    ts = NOW.isoformat(" ")
    wins = [
        (
            f"{uuid.uuid4()}@fenster",
            1,
            NOW.isoformat(" "),
            NOW.isoformat(" "),
            "planned",
            "reason",
            0,
            0,
            0,
            None,
            ts,
            ts,
        )
        for _ in range(windows)
    ]
    async with aiosqlite.connect(path) as con:
        await con.execute("PRAGMA foreign_keys = OFF")
        start = time.perf_counter()
        await con.executemany(
            "INSERT INTO maintenance_window (uid, machine_id, starts_at, ends_at, state, reason,"
            " sequence, forced, postpones, postpone_deadline, created_at, updated_at)"
            " VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
            wins,
        )
        await con.executemany(
            "UPDATE activity SET state = 'scheduled', window_id = ?, blocked_reason = NULL"
            " WHERE id = ?",
            [(a % max(windows, 1) + 1, a + 1) for a in range(activities)],
        )
        await con.executemany(
            "INSERT INTO audit_event (at, actor, action, subject_type, subject_id, subject_name,"
            " details) VALUES (?,?,?,?,?,?,?)",
            [(ts, "scheduler", "window.schedule", "window", i, "w", "{}") for i in range(windows)],
        )
        await con.executemany(
            "INSERT INTO notification (kind, group_id, window_id, recipients, payload,"
            " dedupe_key, thread_key, state, attempts, next_attempt_at, created_at)"
            " VALUES (?,?,?,?,?,?,?,?,?,?,?)",
            [
                ("windows_digest", 1, None, "[]", "{}", f"k{i}", "t", "pending", 0, ts, ts)
                for i in range(notes)
            ],
        )
        await con.commit()
        return time.perf_counter() - start


async def run(scale: int, workdir: Path) -> tuple[float, float, int]:
    shape = SCALES[scale]
    main_db, floor_db = workdir / f"pass-{scale}.sqlite3", workdir / f"floor-{scale}.sqlite3"
    writes_db = workdir / f"writes-{scale}.sqlite3"
    settings = await migrate(main_db)
    await migrate(floor_db)
    await migrate(writes_db)
    populate(main_db, **shape)
    populate(writes_db, **shape)
    await db.init(settings)
    try:
        lines: list[str] = []
        start = time.perf_counter()
        report = await run_pass(settings, now=NOW, progress=lines.append)
        elapsed = time.perf_counter() - start
    finally:
        await db.close()
    windows = len(report.created)
    for line in lines:
        print(f"    {line}")
    t = report.timings
    print(
        f"  {scale:>7} activities: pass {elapsed:.2f} s (load {t['load']:.2f}, plan "
        f"{t['plan']:.2f}, write {t['write']:.2f}); {windows} windows, "
        f"{len(report.blocked)} blocked, {report.notifications} notifications"
    )
    floor_s = await floor(floor_db, windows)
    print(
        f"  {scale:>7} floor: raw executemany of {windows} window rows {floor_s:.2f} s; "
        f"ratio {elapsed / floor_s:.1f}x"
    )
    every = await all_writes(writes_db, windows, shape["activities"], report.notifications)
    print(
        f"  {scale:>7} (for scale) raw executemany of every row the pass writes "
        f"(windows, activity updates, audit, outbox) {every:.2f} s = {every / floor_s:.1f}x floor"
    )
    return elapsed, floor_s, windows


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--only", type=int, choices=sorted(SCALES))
    args = parser.parse_args()
    scales = [args.only] if args.only else sorted(SCALES)
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        for scale in scales:
            results[scale] = await run(scale, Path(tmp))
    if len(results) == 2:
        small, big = results[10_000][0], results[100_000][0]
        pass_s, floor_s, _ = results[100_000]
        print(
            f"growth 10k -> 100k: {big / small:.1f}x (goal <= 12x); 100k pass {pass_s:.2f} s "
            f"(goal <= 10 s), {pass_s / floor_s:.1f}x floor (goal <= 3x)"
        )


if __name__ == "__main__":
    asyncio.run(main())
