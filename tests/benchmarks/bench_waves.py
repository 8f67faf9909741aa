"""Benchmark of the wave engine on SQLite (run on demand, not collected).

    .venv/bin/python tests/benchmarks/bench_waves.py [--vms 20000]

Builds (with plain sqlite3, not timed) a directory of 1,000 groups, 2,000 VM hosts and 20,000
VMs, and an announced rollout whose first wave takes every VM: 20,000 wave members and their
scheduled ``system_update`` activities, a later wave of the hosts. Then times one engine pass
at the wave's start (the wave starts, the rollout runs), marks every update finished (1 % of
them failed, not timed), and times the pass at the end of the soak (the gate judges 20,000
updates, the wave passes). The floor is a raw aiosqlite ``executemany`` of the same 20,000
activity rows into a fresh database of the same schema. Goal: each pass at most 3x its floor.
A miss is reported, not raised.
"""

from __future__ import annotations

import argparse
import asyncio
import sqlite3
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

import aiosqlite

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_scheduler import NOW, migrate, populate

from api import db
from api.models import Rollout, Wave
from api.scheduling.engine import StepKind
from api.services.rollout_engine import run_rollouts

GROUPS, HOSTS = 1_000, 2_000
GOAL = 3.0


def build(path: Path, vms: int, rollout_id: int, wave_id: int) -> None:
    ts = NOW.isoformat(" ")
    at = (NOW + timedelta(days=14)).isoformat(" ")
    con = sqlite3.connect(path)
    ids = [r[0] for r in con.execute("SELECT id FROM machine WHERE kind = 'vm' ORDER BY id")]
    assert len(ids) == vms, (len(ids), vms)
    con.executemany(
        "INSERT INTO rollout_member (rollout_id, wave_id, machine_id) VALUES (?,?,?)",
        [(rollout_id, wave_id, m) for m in ids],
    )
    con.executemany(
        "INSERT INTO activity (machine_id, kind, state, estimate_minutes, params, not_before,"
        " window_id, rollout_id, blocked_reason, attempts, requested_at, requested_by)"
        " VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
        [(m, "system_update", "scheduled", 30, "{}", at, None, rollout_id, None, 0, ts, "bench")
         for m in ids],
    )  # fmt: skip
    con.commit()
    con.close()


def finish(path: Path, at: str) -> None:
    """Every update done, every 100th failed with a log (as the guest agents would report)."""
    con = sqlite3.connect(path)
    con.execute(
        "UPDATE activity SET state = CASE WHEN id % 100 = 0 THEN 'failed' ELSE 'done' END,"
        " attempts = 1, finished_at = ?,"
        " log = CASE WHEN id % 100 = 0 THEN 'E: dpkg was interrupted' ELSE 'ok' END"
        " WHERE kind = 'system_update'",
        [at],
    )
    con.commit()
    con.close()


async def floor(path: Path, vms: int) -> float:
    ts = NOW.isoformat(" ")
    at = (NOW + timedelta(days=14)).isoformat(" ")
    async with aiosqlite.connect(path) as con:
        await con.execute("PRAGMA foreign_keys = OFF")
        start = time.perf_counter()
        await con.executemany(
            "INSERT INTO activity (machine_id, kind, state, estimate_minutes, params, not_before,"
            " window_id, rollout_id, blocked_reason, attempts, requested_at, requested_by)"
            " VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
            [(i, "system_update", "scheduled", 30, "{}", at, None, 1, None, 0, ts, "bench")
             for i in range(vms)],
        )  # fmt: skip
        await con.commit()
        return time.perf_counter() - start


async def run(vms: int, workdir: Path) -> None:
    main_db, floor_db = workdir / "waves.sqlite3", workdir / "floor.sqlite3"
    settings = await migrate(main_db)
    await migrate(floor_db)
    populate(main_db, groups=GROUPS, hosts=HOSTS, machines=HOSTS + vms, activities=0)
    start_at = NOW + timedelta(days=14)
    await db.init(settings)
    try:
        r = await Rollout.create(name="su", title="System update", state="announced")
        wave = await Wave.create(
            rollout=r, position=1, name="all VMs", selector="rest", starts_at=start_at,
            soak_minutes=60, failure_threshold=0.05,
        )  # fmt: skip
        await Wave.create(
            rollout=r, position=2, name="hosts", selector="hosts",
            starts_at=start_at + timedelta(days=5),
        )  # fmt: skip
    finally:
        await db.close()
    build(main_db, vms, r.id, wave.id)
    await db.init(settings)
    try:
        t0 = time.perf_counter()
        started = await run_rollouts(settings, now=start_at)
        start_s = time.perf_counter() - t0
        assert [s.kind for s in started] == [StepKind.START], started
    finally:
        await db.close()
    end = start_at + timedelta(minutes=60)
    finish(main_db, (start_at + timedelta(minutes=30)).isoformat(" "))
    await db.init(settings)
    try:
        t0 = time.perf_counter()
        judged = await run_rollouts(settings, now=end)
        gate_s = time.perf_counter() - t0
        assert [s.kind for s in judged] == [StepKind.PASS], judged
    finally:
        await db.close()
    floor_s = await floor(floor_db, vms)
    print(f"  {vms} VMs in one wave: engine pass starting it {start_s:.3f} s;")
    print(f"         pass judging its gate (1 % failed, passes) {gate_s:.3f} s")
    print(f"         floor (raw executemany of {vms} activity rows) {floor_s:.3f} s")
    for name, s in (("start", start_s), ("gate", gate_s)):
        ratio = s / floor_s
        verdict = "ok" if ratio <= GOAL else f"MISS (goal {GOAL:.0f}x)"
        print(f"         {name}: ratio {ratio:.1f}x {verdict}")


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--vms", type=int, default=20_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        await run(args.vms, Path(tmp))


if __name__ == "__main__":
    asyncio.run(main())
