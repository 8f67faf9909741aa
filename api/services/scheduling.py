"""One scheduling pass: load, plan (api.scheduling), write windows, audit and outbox in bulk.

Only one pass runs at a time per database: PostgreSQL takes a transaction-scoped advisory lock
(a second pass finds it taken and does nothing); SQLite serialises writers in one process.
"""

from __future__ import annotations

import gc
import json
import logging
import time as clock
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.transactions import in_transaction

from api.models.windows import new_uid
from api.scheduling import Plan, plan, postpone_deadline
from api.services.bulk import dialect, execute_many, fetch, insert_many, to_db_time
from api.services.scheduling_load import World, load_world
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

# pg_advisory lock key of the scheduling pass ("fenster" in hex-ish, any constant will do).
LOCK_KEY = 0x66656E73746572
ACTOR = "scheduler"
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
    notifications: int = 0
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def changed(self) -> bool:
        return bool(self.created or self.extended or self.blocked)


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
    # A pass builds hundreds of thousands of short-lived, acyclic objects; the cyclic garbage
    # collector would walk all of them again and again (the cost grows faster than the data).
    collecting = gc.isenabled()
    gc.disable()
    try:
        return await _run_pass(settings, now, dry_run, progress)
    finally:
        if collecting:
            gc.enable()


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
        result = plan(inp)
        t2 = clock.perf_counter()
        report.timings["plan"] = t2 - t1
        say(
            f"planned {len(result.new)} new windows, {len(result.extended)} extended, "
            f"{len(result.blocked)} activities newly blocked ({t2 - t1:.2f} s)"
        )
        report.still_blocked = result.still_blocked
        if dry_run:
            _describe(report, world, result, {})
        else:
            uids = await _write(conn, settings, world, result, report, say)
            _describe(report, world, result, uids)
        report.timings["write"] = clock.perf_counter() - t2
    report.timings["total"] = clock.perf_counter() - t0
    return report


async def run_periodic(settings: Settings) -> PassReport:
    """One pass of the background loop in `fenster serve`, logged."""
    report = await run_pass(settings)
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


def _dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), sort_keys=True)


async def _write(
    conn: BaseDBAsyncClient,
    settings: Settings,
    world: World,
    result: Plan,
    report: PassReport,
    say: Progress,
) -> dict[int, tuple[int, str]]:
    """Write the plan; returns plan index of each new window -> (id, uid)."""
    stamp = datetime.now(UTC)
    mark = clock.perf_counter()

    def lap(name: str) -> None:
        nonlocal mark
        now_ = clock.perf_counter()
        report.timings[f"write {name}"] = now_ - mark
        mark = now_
    ts = to_db_time(conn, stamp)

    def step(what: str) -> Callable[[int, int], None]:
        def show(done: int, total: int) -> None:
            if done == total or done % 25_000 == 0:
                say(f"  {what}: {done}/{total} written")

        return show

    # 1. new windows
    uids = [new_uid() for _ in result.new]
    before = (await fetch(conn, "SELECT COALESCE(MAX(id), 0) AS m FROM maintenance_window"))[0]["m"]
    rows = []
    for w, uid in zip(result.new, uids, strict=True):
        first_request = min(world.requested[a] for a in w.activity_ids)
        rows.append(
            (
                uid,
                w.machine_id,
                to_db_time(conn, w.starts_at),
                to_db_time(conn, w.ends_at),
                "planned",
                w.reason,
                0,
                False,
                0,
                to_db_time(conn, postpone_deadline(first_request)),
                ts,
                ts,
            )
        )
    await insert_many(
        conn,
        "maintenance_window",
        (
            "uid",
            "machine_id",
            "starts_at",
            "ends_at",
            "state",
            "reason",
            "sequence",
            "forced",
            "postpones",
            "postpone_deadline",
            "created_at",
            "updated_at",
        ),
        rows,
        step("windows"),
    )
    ids: dict[int, tuple[int, str]] = {}
    if result.new:
        by_uid = {
            r["uid"]: r["id"]
            for r in await fetch(
                conn, "SELECT id, uid FROM maintenance_window WHERE id > ?", [before]
            )
        }
        ids = {i: (by_uid[uid], uid) for i, uid in enumerate(uids)}

    lap("windows")
    # 2. activities move into their windows; blocked ones get their reason
    moves = [(ids[i][0], aid) for i, w in enumerate(result.new) for aid in w.activity_ids]
    moves += [(x.window_id, aid) for x in result.extended for aid in x.activity_ids]
    moves.sort(key=lambda m: m[1])  # in primary-key order: neighbouring B-tree pages
    await execute_many(
        conn,
        "UPDATE activity SET state = 'scheduled', window_id = ?, blocked_reason = NULL"
        " WHERE id = ? AND state = 'queued'",
        moves,
        step("activities"),
    )
    await execute_many(
        conn,
        "UPDATE activity SET blocked_reason = ? WHERE id = ?",
        [(b.reason, b.activity_id) for b in result.blocked],
    )
    await execute_many(
        conn,
        "UPDATE maintenance_window SET reason = ?, sequence = ?, updated_at = ? WHERE id = ?",
        [(x.reason, x.sequence, ts, x.window_id) for x in result.extended],
    )

    lap("activities")
    # 3. audit trail
    audit = []
    for i, w in enumerate(result.new):
        wid, uid = ids[i]
        audit.append(
            (
                ts,
                ACTOR,
                "window.schedule",
                "window",
                wid,
                f"window {uid} {w.starts_at:%Y-%m-%d %H:%M}Z",
                _dumps(
                    {
                        "machine": world.machine_names[w.machine_id],
                        "starts_at": w.starts_at.isoformat(),
                        "ends_at": w.ends_at.isoformat(),
                        "activities": list(w.activity_ids),
                        "reason": w.reason,
                    }
                ),
            )
        )
    for x in result.extended:
        uid = world.window_uids.get(x.window_id, "")
        audit.append(
            (
                ts,
                ACTOR,
                "window.extend",
                "window",
                x.window_id,
                f"window {uid} {x.starts_at:%Y-%m-%d %H:%M}Z",
                _dumps(
                    {
                        "machine": world.machine_names[x.machine_id],
                        "added": list(x.activity_ids),
                        "sequence": x.sequence,
                        "reason": x.reason,
                    }
                ),
            )
        )
    for b in result.blocked:
        audit.append(
            (
                ts,
                ACTOR,
                "activity.block",
                "activity",
                b.activity_id,
                world.machine_names.get(b.machine_id, ""),
                _dumps({"reason": b.reason}),
            )
        )
    await insert_many(
        conn,
        "audit_event",
        ("at", "actor", "action", "subject_type", "subject_id", "subject_name", "details"),
        audit,
        step("audit events"),
    )

    lap("audit")
    # 4. outbox: one message per window, or one digest per group with many new windows
    per_group: dict[int, list[int]] = defaultdict(list)
    for i, w in enumerate(result.new):
        per_group[w.group_id].append(i)
    out = []

    def note(
        kind: str,
        group_id: int,
        window_id: int | None,
        payload: dict[str, Any],
        key: str,
        thread: str,
    ) -> None:
        out.append(
            (
                kind,
                group_id,
                window_id,
                _dumps(world.contacts.get(group_id, [])),
                _dumps(payload),
                key,
                thread,
                "pending",
                0,
                ts,
                ts,
            )
        )

    threshold = settings.digest_threshold
    for group_id, indexes in sorted(per_group.items()):
        if threshold and len(indexes) >= threshold:
            wins = [ids[i] for i in indexes]
            note(
                "windows_digest",
                group_id,
                None,
                {"windows": [u for _, u in wins], "window_ids": [w for w, _ in wins]},
                f"windows_digest:{group_id}:{wins[0][1]}:{len(wins)}",
                f"group:{group_id}",
            )
            continue
        for i in indexes:
            wid, uid = ids[i]
            w = result.new[i]
            note(
                "window_scheduled",
                group_id,
                wid,
                {"sequence": 0, "reason": w.reason},
                f"window_scheduled:{uid}:0",
                uid,
            )
    for x in result.extended:
        uid = world.window_uids.get(x.window_id, str(x.window_id))
        note(
            "window_changed",
            x.group_id,
            x.window_id,
            {"sequence": x.sequence, "reason": x.reason, "added": list(x.activity_ids)},
            f"window_changed:{uid}:{x.sequence}",
            uid,
        )
    await insert_many(
        conn,
        "notification",
        (
            "kind",
            "group_id",
            "window_id",
            "recipients",
            "payload",
            "dedupe_key",
            "thread_key",
            "state",
            "attempts",
            "next_attempt_at",
            "created_at",
        ),
        out,
        step("notifications"),
    )
    report.notifications = len(out)
    lap("outbox")
    return ids
