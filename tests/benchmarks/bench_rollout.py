"""Benchmark of a rollout's preview and announcement on SQLite (run on demand, not collected).

    .venv/bin/python tests/benchmarks/bench_rollout.py [--only 5000|50000]

Builds a directory of 1,000 groups, 2,000 VM hosts, 20 infrastructure machines and 5k or 50k
VMs (every 100th representative, every 5th in a redundancy set) with plain sqlite3 (not
timed), creates the seed's rollout two weeks ahead, then times the preview (writes nothing)
and the announcement (one transaction). The floor is a raw aiosqlite ``executemany`` of the
same rows the announcement wrote (windows, activities, audit events, outbox rows, wave
members) into a fresh database of the same schema. Goals: growth from 5k to 50k VMs at most
11x; the announcement at most 3x its floor. A miss is reported, not raised.
"""

from __future__ import annotations

import argparse
import asyncio
import sqlite3
import sys
import tempfile
import time
import uuid
from datetime import timedelta
from pathlib import Path

import aiosqlite

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_scheduler import NOW, migrate, populate

from api import db
from api.models import Rollout
from api.services import rollouts
from api.services.rollout_announce import announce_rollout

GROUPS, HOSTS, INFRA = 1_000, 2_000, 20
SCALES = (5_000, 50_000)
TABLES = ("maintenance_window", "activity", "audit_event", "notification", "rollout_member")


def build(path: Path, vms: int) -> None:
    populate(path, groups=GROUPS, hosts=HOSTS, machines=HOSTS + vms, activities=0)
    ts = NOW.isoformat(" ")
    con = sqlite3.connect(path)
    con.execute("UPDATE machine SET representative = 1 WHERE kind = 'vm' AND id % 100 = 0")
    first = HOSTS + vms + 1
    con.executemany(
        "INSERT INTO machine (id, name, kind, group_id, arch, desired_cores, desired_memory_mib,"
        " desired_swap_mib, auto_schedule, representative, capacity, created_at, updated_at)"
        " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
        [
            (first + i, f"infra{i}", "infrastructure", 1, "x86_64", 4, 8192, 2048, 1, 0, 2, ts, ts)
            for i in range(INFRA)
        ],
    )
    # every group was told its settings when it was created
    con.executemany(
        "INSERT INTO notification (kind, group_id, recipients, payload, dedupe_key, thread_key,"
        " state, attempts, next_attempt_at, created_at) VALUES (?,?,?,?,?,?,?,?,?,?)",
        [
            ("group_settings", g, "[]", "{}", f"settings:{g}", f"group:{g}", "sent", 1, ts, ts)
            for g in range(1, GROUPS + 1)
        ],
    )
    con.commit()
    con.close()


def counts(path: Path) -> dict[str, int]:
    con = sqlite3.connect(path)
    try:
        return {t: con.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in TABLES}
    finally:
        con.close()


async def floor(path: Path, rows: dict[str, int]) -> float:
    """Raw executemany of as many rows of each table as the announcement wrote."""
    ts = NOW.isoformat(" ")
    at = (NOW + timedelta(days=14)).isoformat(" ")
    async with aiosqlite.connect(path) as con:
        await con.execute("PRAGMA foreign_keys = OFF")
        start = time.perf_counter()
        await con.executemany(
            "INSERT INTO maintenance_window (uid, machine_id, starts_at, ends_at, state, reason,"
            " sequence, forced, postpones, postpone_deadline, created_at, updated_at)"
            " VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
            [
                (f"{uuid.uuid4()}@fenster", 1, at, at, "planned", "reason", 0, 0, 0, None, ts, ts)
                for _ in range(rows["maintenance_window"])
            ],
        )
        await con.executemany(
            "INSERT INTO activity (machine_id, kind, state, estimate_minutes, params, not_before,"
            " window_id, rollout_id, blocked_reason, attempts, requested_at, requested_by)"
            " VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
            [
                (1, "kernel_update", "scheduled", 15, "{}", at, i, 1, None, 0, ts, "bench")
                for i in range(rows["activity"])
            ],
        )
        await con.executemany(
            "INSERT INTO audit_event (at, actor, action, subject_type, subject_id, subject_name,"
            " details) VALUES (?,?,?,?,?,?,?)",
            [
                (ts, "bench", "window.schedule", "window", i, "w", "{}")
                for i in range(rows["audit_event"])
            ],
        )
        await con.executemany(
            "INSERT INTO notification (kind, group_id, window_id, recipients, payload,"
            " dedupe_key, thread_key, state, attempts, next_attempt_at, created_at)"
            " VALUES (?,?,?,?,?,?,?,?,?,?,?)",
            [
                ("rollout_announced", 1, None, "[]", "{}", f"k{i}", "t", "pending", 0, ts, ts)
                for i in range(rows["notification"])
            ],
        )
        await con.executemany(
            "INSERT INTO rollout_member (rollout_id, wave_id, machine_id) VALUES (?,?,?)",
            [(1, 1, i) for i in range(rows["rollout_member"])],
        )
        await con.commit()
        return time.perf_counter() - start


async def run(vms: int, workdir: Path) -> tuple[float, float, float]:
    main_db, floor_db = workdir / f"rollout-{vms}.sqlite3", workdir / f"floor-{vms}.sqlite3"
    settings = await migrate(main_db)
    await migrate(floor_db)
    build(main_db, vms)
    before = counts(main_db)
    await db.init(settings)
    try:
        r = await rollouts.create_rollout(
            "bench",
            name="su",
            title="System update",
            kernel="2.6.38",
            week=(NOW + timedelta(days=14)).date(),
            now=NOW,
            settings=settings,
        )
        start = time.perf_counter()
        preview = await rollouts.preview_rollout(r, now=NOW, settings=settings)
        preview_s = time.perf_counter() - start
        start = time.perf_counter()
        await announce_rollout("bench", r, force=True, now=NOW, settings=settings)
        announce_s = time.perf_counter() - start
        assert (await Rollout.get(id=r.id)).state == "announced"
    finally:
        await db.close()
    wrote = {t: n - before[t] for t, n in counts(main_db).items()}
    plan = preview.plan
    print(
        f"  {vms:>6} VMs: preview {preview_s:.2f} s ({len(plan.activations)} activations, "
        f"{len(plan.host_reboots)} host-reboot windows, {len(plan.conflicts)} conflicts); "
        f"announce {announce_s:.2f} s"
    )
    print("         rows written: " + ", ".join(f"{t} {n}" for t, n in wrote.items()))
    floor_s = await floor(floor_db, wrote)
    ratio = announce_s / floor_s
    verdict = "ok" if ratio <= 3 else "MISS (goal 3x)"
    print(
        f"         floor (raw executemany of those rows) {floor_s:.2f} s; "
        f"ratio {ratio:.1f}x {verdict}"
    )
    return preview_s, announce_s, floor_s


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--only", type=int, choices=SCALES)
    args = parser.parse_args()
    scales = [args.only] if args.only else list(SCALES)
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        for vms in scales:
            results[vms] = await run(vms, Path(tmp))
    if len(results) == 2:
        small, big = results[SCALES[0]], results[SCALES[1]]
        for name, i in (("preview", 0), ("announce", 1)):
            growth = big[i] / small[i]
            verdict = "ok" if growth <= 11 else "MISS (goal 11x)"
            print(f"  growth 5k -> 50k VMs, {name}: {growth:.1f}x {verdict}")


if __name__ == "__main__":
    asyncio.run(main())
