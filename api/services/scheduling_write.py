"""Writing one scheduling pass's plan: windows, activity moves, audit events, outbox rows.

Plain parameterised SQL in bulk (the bulk sink, api.services.sinks), inside the pass's one
transaction.
"""

from __future__ import annotations

import asyncio
import time as clock
from collections import defaultdict
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from tortoise.backends.base.client import BaseDBAsyncClient

from api.effects import (
    ActivityBlocked,
    ActivityMoved,
    AuditRow,
    NewWindow,
    OutboxRow,
    WindowExtended,
    WindowRow,
    new_windows_notices,
    outbox_row,
    window_minute,
    window_name,
)
from api.notices import WindowChanged
from api.scheduling import Plan, postpone_deadline
from api.services.bulk import fetch
from api.services.scheduling_load import World
from api.services.sinks import save_many, update_many
from api.settings import Settings

__all__ = ["ACTOR", "write_plan"]

ACTOR = "scheduler"


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
    steps = _Steps(say, timings)
    step, lap = steps.step, steps.lap

    # 1. new windows (rows built in a worker thread, as every step's rows below: a pass of
    # 100,000 activities builds hundreds of thousands of rows, which would hold the event loop)
    before = (await fetch(conn, "SELECT COALESCE(MAX(id), 0) AS m FROM maintenance_window"))[0]["m"]
    windows = await asyncio.to_thread(_window_rows, world, result)
    await save_many(conn, windows, stamp, step("windows"))
    ids: dict[int, tuple[int, str]] = {}
    if result.new:
        found = await fetch(conn, "SELECT id, uid FROM maintenance_window WHERE id > ?", [before])
        ids = await asyncio.to_thread(_ids_by_index, found, [w.uid for w in windows])

    lap("windows")
    # 2. activities move into their windows; blocked ones get their reason
    moves, blocked, extended = await asyncio.to_thread(_activity_rows, result, ids)
    await update_many(conn, moves, stamp, step("activities"))
    await update_many(conn, blocked, stamp)
    await update_many(conn, extended, stamp)

    lap("activities")
    # 3. audit trail
    audit = await asyncio.to_thread(_audit_rows, world, result, ids)
    await save_many(conn, audit, stamp, step("audit events"))

    lap("audit")
    # 4. outbox: one message per window, or one digest per group with many new windows
    out = await asyncio.to_thread(_outbox_rows, settings, world, result, ids, stamp)
    await save_many(conn, out, stamp, step("notifications"))
    lap("outbox")
    return ids, len(out)


class _Steps:
    """The pass's progress lines and its timings per write step."""

    def __init__(self, say: Callable[[str], None], timings: dict[str, float]) -> None:
        self.say, self.timings, self.mark = say, timings, clock.perf_counter()

    def lap(self, name: str) -> None:
        now = clock.perf_counter()
        self.timings[f"write {name}"] = now - self.mark
        self.mark = now

    def step(self, what: str) -> Callable[[int, int], None]:
        def show(done: int, total: int) -> None:
            if done == total or done % 25_000 == 0:
                self.say(f"  {what}: {done}/{total} written")

        return show


def _window_rows(world: World, result: Plan) -> list[WindowRow]:
    return [
        WindowRow(
            w.machine_id,
            w.starts_at,
            w.ends_at,
            w.reason,
            False,
            postpone_deadline(min(world.requested[a] for a in w.activity_ids)),
        )
        for w in result.new
    ]


def _ids_by_index(found: list[Any], uids: list[str]) -> dict[int, tuple[int, str]]:
    by_uid = {r["uid"]: r["id"] for r in found}
    return {i: (by_uid[uid], uid) for i, uid in enumerate(uids)}


def _activity_rows(
    result: Plan, ids: dict[int, tuple[int, str]]
) -> tuple[list[ActivityMoved], list[ActivityBlocked], list[WindowExtended]]:
    moves = [
        ActivityMoved(aid, ids[i][0]) for i, w in enumerate(result.new) for aid in w.activity_ids
    ]
    moves += [ActivityMoved(aid, x.window_id) for x in result.extended for aid in x.activity_ids]
    moves.sort(key=lambda m: m.id)  # in primary-key order: neighbouring B-tree pages
    blocked = [ActivityBlocked(b.activity_id, b.reason) for b in result.blocked]
    extended = [WindowExtended(x.window_id, x.reason, x.sequence) for x in result.extended]
    return moves, blocked, extended


def _audit_rows(world: World, result: Plan, ids: dict[int, tuple[int, str]]) -> list[AuditRow]:
    audit = []
    for i, w in enumerate(result.new):
        wid, uid = ids[i]
        audit.append(
            AuditRow(
                ACTOR,
                "window.schedule",
                "window",
                wid,
                window_name(uid, window_minute(w.starts_at)),
                {
                    "machine": world.machine_names[w.machine_id],
                    "starts_at": w.starts_at.isoformat(),
                    "ends_at": w.ends_at.isoformat(),
                    "activities": list(w.activity_ids),
                    "reason": w.reason,
                },
            )
        )
    for x in result.extended:
        uid = world.window_uids.get(x.window_id, "")
        audit.append(
            AuditRow(
                ACTOR,
                "window.extend",
                "window",
                x.window_id,
                window_name(uid, window_minute(x.starts_at)),
                {
                    "machine": world.machine_names[x.machine_id],
                    "added": list(x.activity_ids),
                    "sequence": x.sequence,
                    "reason": x.reason,
                },
            )
        )
    for b in result.blocked:
        audit.append(
            AuditRow(
                ACTOR,
                "activity.block",
                "activity",
                b.activity_id,
                world.machine_names.get(b.machine_id, ""),
                {"reason": b.reason},
            )
        )
    return audit


def _outbox_rows(
    settings: Settings,
    world: World,
    result: Plan,
    ids: dict[int, tuple[int, str]],
    due: datetime,
) -> list[OutboxRow]:
    per_group: dict[int, list[NewWindow]] = defaultdict(list)
    for i, w in enumerate(result.new):
        wid, uid = ids[i]
        per_group[w.group_id].append(NewWindow(wid, uid, 0, w.reason))
    out = []
    for group_id, wins in sorted(per_group.items()):
        contacts = world.contacts.get(group_id, [])
        out += new_windows_notices(settings.digest_threshold, group_id, contacts, wins, due)
    for x in result.extended:
        uid = world.window_uids.get(x.window_id, str(x.window_id))
        out.append(
            outbox_row(
                WindowChanged(x.sequence, x.reason, added=tuple(x.activity_ids)),
                group_id=x.group_id,
                recipients=world.contacts.get(x.group_id, []),
                due=due,
                window=(x.window_id, uid, x.sequence),
            )
        )
    return out
