"""One scheduling pass: load, plan (api.scheduling), write windows, audit and outbox in bulk.

Only one pass runs at a time per database: PostgreSQL takes a transaction-scoped advisory lock
(a second pass finds it taken and does nothing); SQLite serialises writers in one process.
"""

from __future__ import annotations

import asyncio
import logging
import time as clock
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.transactions import in_transaction

from api.metrics import SCHEDULING_PASS
from api.scheduling import Plan, plan
from api.services.bulk import dialect, fetch, no_cyclic_gc
from api.services.scheduling_load import World, load_world
from api.services.scheduling_missed import release_missed
from api.services.scheduling_write import ACTOR, write_plan
from api.settings import Settings

__all__ = [
    "LOCK_KEY",
    "PassReport",
    "ScheduledWindow",
    "lock",
    "run_pass",
    "run_periodic",
    "try_lock",
]

# PostgreSQL advisory lock key of the scheduling pass: the ASCII bytes of "fenster".
LOCK_KEY = 0x66656E73746572
log = logging.getLogger("fenster.scheduler")
Progress = Callable[[str], None]


@dataclass(frozen=True)
class ScheduledWindow:
    window_id: int | None
    uid: str | None
    machine: str
    starts_at: datetime
    ends_at: datetime
    reason: str
    activity_ids: tuple[int, ...]
    extended: bool


@dataclass
class PassReport:
    now: datetime
    dry_run: bool
    locked_out: bool = False
    created: list[ScheduledWindow] = field(default_factory=list)
    extended: list[ScheduledWindow] = field(default_factory=list)
    blocked: list[tuple[int, str, str]] = field(default_factory=list)  # activity, machine, why
    still_blocked: int = 0
    missed: int = 0  # planned windows that ended unstarted: cancelled, their work re-queued
    notifications: int = 0
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def changed(self) -> bool:
        return bool(self.created or self.extended or self.blocked or self.missed)


async def try_lock(conn: BaseDBAsyncClient) -> bool:
    """Take the pass lock for this transaction (PostgreSQL); always True on SQLite."""
    if dialect(conn) != "postgres":
        return True
    rows = await fetch(conn, "SELECT pg_try_advisory_xact_lock(?) AS ok", [LOCK_KEY])
    return bool(rows[0]["ok"])


async def lock(conn: BaseDBAsyncClient) -> None:
    """Wait for the pass lock for this transaction (PostgreSQL; SQLite serialises writers)."""
    if dialect(conn) == "postgres":
        await fetch(conn, "SELECT pg_advisory_xact_lock(?)", [LOCK_KEY])


async def run_pass(
    settings: Settings,
    *,
    now: datetime | None = None,
    dry_run: bool = False,
    progress: Progress | None = None,
) -> PassReport:
    """Plan every queued activity and write the result in one transaction."""
    now = (now or datetime.now(UTC)).astimezone(UTC)
    with no_cyclic_gc():
        return await _run_pass(settings, now, dry_run, progress)


async def _run_pass(
    settings: Settings, now: datetime, dry_run: bool, progress: Progress | None
) -> PassReport:
    report = PassReport(now, dry_run)
    say = progress or (lambda _msg: None)
    t0 = clock.perf_counter()
    async with in_transaction() as conn:
        if not await try_lock(conn):
            report.locked_out = True
            say("another scheduling pass is running; nothing done")
            return report
        if not dry_run:
            report.missed = await release_missed(conn, now, ACTOR)
            if report.missed:
                say(f"released {report.missed} windows that ended without being started")
        world = await load_world(
            conn,
            now,
            reboot_allowance=settings.reboot_allowance_minutes,
            horizon_days=settings.horizon_days,
        )
        t1 = clock.perf_counter()
        report.timings["load"] = t1 - t0
        inp = world.input
        say(
            f"loaded {len(inp.activities)} queued activities, {len(inp.machines)} machines, "
            f"{len(inp.windows)} open windows ({t1 - t0:.2f} s)"
        )
        # the pure planner is the pass's longest step: in a worker thread, so that a pass
        # inside `fenster serve` leaves the event loop free to answer requests meanwhile
        result = await asyncio.to_thread(plan, inp)
        t2 = clock.perf_counter()
        report.timings["plan"] = t2 - t1
        say(
            f"planned {len(result.new)} new windows, {len(result.extended)} extended, "
            f"{len(result.blocked)} activities newly blocked ({t2 - t1:.2f} s)"
        )
        report.still_blocked = result.still_blocked
        uids: dict[int, tuple[int, str]] = {}
        if not dry_run:
            uids, report.notifications = await write_plan(
                conn, settings, world, result, say, report.timings
            )
        # one value per window and blocked activity: off the event loop too
        await asyncio.to_thread(_describe, report, world, result, uids)
        report.timings["write"] = clock.perf_counter() - t2
    report.timings["total"] = clock.perf_counter() - t0
    return report


async def run_periodic(settings: Settings) -> PassReport:
    """One pass of the background loop in `fenster serve`, logged."""
    report = await run_pass(settings)
    if not report.locked_out:
        SCHEDULING_PASS.observe(report.timings["total"])
    if report.locked_out:
        log.info("scheduling pass skipped: another pass holds the lock")
    elif report.changed:
        log.info(
            "scheduling pass: %d windows created, %d extended, %d activities blocked",
            len(report.created),
            len(report.extended),
            len(report.blocked),
        )
    return report


def _describe(
    report: PassReport, world: World, result: Plan, ids: dict[int, tuple[int, str]]
) -> None:
    names = world.machine_names
    for i, w in enumerate(result.new):
        wid, uid = ids.get(i, (None, None))
        report.created.append(
            ScheduledWindow(
                wid,
                uid,
                names[w.machine_id],
                w.starts_at,
                w.ends_at,
                w.reason,
                w.activity_ids,
                False,
            )
        )
    for x in result.extended:
        report.extended.append(
            ScheduledWindow(
                x.window_id,
                world.window_uids.get(x.window_id),
                names[x.machine_id],
                x.starts_at,
                x.ends_at,
                x.reason,
                x.activity_ids,
                True,
            )
        )
    report.blocked = [
        (b.activity_id, names.get(b.machine_id, "?"), b.reason) for b in result.blocked
    ]
