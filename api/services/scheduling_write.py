"""Writing one scheduling pass's plan: windows, activity moves, audit events, outbox rows.

Plain parameterised SQL in bulk (api.services.bulk), inside the pass's one transaction.
"""

from __future__ import annotations

import asyncio
import json
import time as clock
from collections import defaultdict
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from tortoise.backends.base.client import BaseDBAsyncClient

from api.models.windows import new_uid
from api.notices import Notice, WindowChanged, WindowScheduled, WindowsDigest
from api.scheduling import Plan, postpone_deadline
from api.services.bulk import execute_many, fetch, insert_many, to_db_time
from api.services.scheduling_load import World
from api.settings import Settings

__all__ = ["ACTOR", "write_plan"]

ACTOR = "scheduler"


def _dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), sort_keys=True)


async def write_plan(
    conn: BaseDBAsyncClient,
    settings: Settings,
    world: World,
    result: Plan,
    say: Callable[[str], None],
    timings: dict[str, float],
) -> tuple[dict[int, tuple[int, str]], int]:
    """Write the plan in bulk on ``conn`` (inside the pass's transaction).

    Returns the (id, uid) of each new window by its index in ``result.new`` and the number of
    outbox rows queued.
    """
    stamp = datetime.now(UTC)
    mark = clock.perf_counter()

    def lap(name: str) -> None:
        nonlocal mark
        now_ = clock.perf_counter()
        timings[f"write {name}"] = now_ - mark
        mark = now_

    ts = to_db_time(conn, stamp)

    def step(what: str) -> Callable[[int, int], None]:
        def show(done: int, total: int) -> None:
            if done == total or done % 25_000 == 0:
                say(f"  {what}: {done}/{total} written")

        return show

    # 1. new windows (rows built in a worker thread, as every step's rows below: a pass of
    # 100,000 activities builds hundreds of thousands of rows, which would hold the event loop)
    before = (await fetch(conn, "SELECT COALESCE(MAX(id), 0) AS m FROM maintenance_window"))[0]["m"]
    uids, rows = await asyncio.to_thread(_window_rows, conn, world, result, ts)
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
        found = await fetch(conn, "SELECT id, uid FROM maintenance_window WHERE id > ?", [before])
        ids = await asyncio.to_thread(_ids_by_index, found, uids)

    lap("windows")
    # 2. activities move into their windows; blocked ones get their reason
    moves, blocked, extended = await asyncio.to_thread(_activity_rows, result, ids, ts)
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
        blocked,
    )
    await execute_many(
        conn,
        "UPDATE maintenance_window SET reason = ?, sequence = ?, updated_at = ? WHERE id = ?",
        extended,
    )

    lap("activities")
    # 3. audit trail
    audit = await asyncio.to_thread(_audit_rows, world, result, ids, ts)
    await insert_many(
        conn,
        "audit_event",
        ("at", "actor", "action", "subject_type", "subject_id", "subject_name", "details"),
        audit,
        step("audit events"),
    )

    lap("audit")
    # 4. outbox: one message per window, or one digest per group with many new windows
    out = await asyncio.to_thread(_outbox_rows, settings, world, result, ids, ts)
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
    lap("outbox")
    return ids, len(out)


def _window_rows(
    conn: BaseDBAsyncClient, world: World, result: Plan, ts: Any
) -> tuple[list[str], list[tuple[Any, ...]]]:
    uids = [new_uid() for _ in result.new]
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
    return uids, rows


def _ids_by_index(found: list[Any], uids: list[str]) -> dict[int, tuple[int, str]]:
    by_uid = {r["uid"]: r["id"] for r in found}
    return {i: (by_uid[uid], uid) for i, uid in enumerate(uids)}


def _activity_rows(
    result: Plan, ids: dict[int, tuple[int, str]], ts: Any
) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    moves = [(ids[i][0], aid) for i, w in enumerate(result.new) for aid in w.activity_ids]
    moves += [(x.window_id, aid) for x in result.extended for aid in x.activity_ids]
    moves.sort(key=lambda m: m[1])  # in primary-key order: neighbouring B-tree pages
    blocked = [(b.reason, b.activity_id) for b in result.blocked]
    extended = [(x.reason, x.sequence, ts, x.window_id) for x in result.extended]
    return moves, blocked, extended


def _audit_rows(
    world: World, result: Plan, ids: dict[int, tuple[int, str]], ts: Any
) -> list[tuple[Any, ...]]:
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
    return audit


def _outbox_rows(
    settings: Settings, world: World, result: Plan, ids: dict[int, tuple[int, str]], ts: Any
) -> list[tuple[Any, ...]]:
    per_group: dict[int, list[int]] = defaultdict(list)
    for i, w in enumerate(result.new):
        per_group[w.group_id].append(i)
    out = []

    def note(notice: Notice, group_id: int, window_id: int | None, key: str, thread: str) -> None:
        out.append(
            (
                notice.kind,
                group_id,
                window_id,
                _dumps(world.contacts.get(group_id, [])),
                _dumps(notice.to_payload()),
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
                WindowsDigest(tuple(u for _, u in wins), tuple(w for w, _ in wins)),
                group_id,
                None,
                f"windows_digest:{group_id}:{wins[0][1]}:{len(wins)}",
                f"group:{group_id}",
            )
            continue
        for i in indexes:
            wid, uid = ids[i]
            w = result.new[i]
            note(
                WindowScheduled(0, w.reason),
                group_id,
                wid,
                f"window_scheduled:{uid}:0",
                uid,
            )
    for x in result.extended:
        uid = world.window_uids.get(x.window_id, str(x.window_id))
        note(
            WindowChanged(x.sequence, x.reason, added=tuple(x.activity_ids)),
            x.group_id,
            x.window_id,
            f"window_changed:{uid}:{x.sequence}",
            uid,
        )
    return out
