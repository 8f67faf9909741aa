"""A rollout's system updates as the wave engine counts them: the waves as the pure core sees
them, the latest update per machine (a retry supersedes a failed one), the tallies per wave, and
the failed machines. Read by the engine, the progress shown to operators and retry/skip; and
what a re-plan of the rollout keeps (:func:`settled`)."""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.transactions import in_transaction

from api.kinds import ActivityKind
from api.models import Activity, RolloutMember, Wave
from api.scheduling.engine import Failure, Tally, WaveView
from api.scheduling.waves import WaveSelector
from api.services.bulk import as_utc, fetch

__all__ = [
    "SKIPPED",
    "FailedUpdate",
    "error_line",
    "failed_updates",
    "latest_updates",
    "scheduled_updates",
    "settled",
    "skipped",
    "tallies",
    "wave_views",
]

ERROR_CHARS = 200


def error_line(log_text: str | None) -> str:
    lines = [ln.strip() for ln in (log_text or "").splitlines() if ln.strip()]
    return lines[-1][:ERROR_CHARS] if lines else "no log"


async def wave_views(conn: BaseDBAsyncClient, rollout_id: int) -> list[WaveView]:
    rows = await Wave.filter(rollout_id=rollout_id).using_db(conn).order_by("position")
    return [
        WaveView(
            w.id,
            w.position,
            w.name,
            WaveSelector(w.selector),
            w.state,
            w.starts_at.astimezone(UTC),
            w.soak_minutes,
            w.failure_threshold,
        )
        for w in rows
    ]


SKIPPED = "skipped"  # the params key an operator's skip of a failed update sets


async def latest_updates(conn: BaseDBAsyncClient, rollout_id: int) -> list[Any]:
    """The rollout's system updates not cancelled, the latest per machine (a retry supersedes
    the failed one), with their wave and machine name (and the log and params of the failed
    ones only: a wave may hold 20,000)."""
    rows = await fetch(
        conn,
        "SELECT a.id, a.state, CASE WHEN a.state = 'failed' THEN a.log END AS log,"
        " CASE WHEN a.state = 'failed' THEN a.params END AS params,"
        " a.exit_code, a.finished_at, a.machine_id, m.name, rm.wave_id"
        " FROM activity a JOIN rollout_member rm"
        " ON rm.machine_id = a.machine_id AND rm.rollout_id = a.rollout_id"
        " JOIN machine m ON m.id = a.machine_id"
        " WHERE a.rollout_id = ? AND a.kind = ? AND a.state <> ? ORDER BY m.name, a.id",
        [rollout_id, ActivityKind.SYSTEM_UPDATE.value, "cancelled"],
    )
    # a machine's rows are consecutive (ordered by its unique name), its latest one last
    last = len(rows) - 1
    return [
        r for i, r in enumerate(rows) if i == last or rows[i + 1]["machine_id"] != r["machine_id"]
    ]


async def scheduled_updates(
    conn: BaseDBAsyncClient, rollout_id: int, wave_ids: list[int]
) -> list[tuple[int, int]]:
    """The rollout's scheduled system updates in the waves ``wave_ids``: (id, wave id)."""
    if not wave_ids:
        return []
    marks = ", ".join("?" for _ in wave_ids)
    rows = await fetch(
        conn,
        "SELECT a.id, rm.wave_id FROM activity a JOIN rollout_member rm"
        " ON rm.machine_id = a.machine_id AND rm.rollout_id = a.rollout_id"
        f" WHERE a.rollout_id = ? AND a.kind = ? AND a.state = ? AND rm.wave_id IN ({marks})"
        " ORDER BY a.id",
        [rollout_id, ActivityKind.SYSTEM_UPDATE.value, "scheduled", *wave_ids],
    )
    return [(int(r["id"]), int(r["wave_id"])) for r in rows]


def skipped(row: Any) -> bool:
    """A failed update an operator skipped (``skipRolloutMachine``)."""
    params = row["params"]
    if isinstance(params, str):
        params = json.loads(params)
    return bool(params and params.get(SKIPPED))


def tallies(rows: list[Any], waves: list[WaveView]) -> dict[int, Tally]:
    """Per wave: a failure counts when it finished since the wave's date (a failure before a
    resume was seen by the operator who resumed) and nobody skipped its machine."""
    since = {w.id: w.starts_at for w in waves}
    counts: dict[int, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    failures: dict[int, list[Failure]] = defaultdict(list)
    for r in rows:
        wid = int(r["wave_id"])
        c = counts[wid]
        c["total"] += 1
        if r["state"] in ("scheduled", "running", "queued"):
            c["unfinished"] += 1
            c["running"] += r["state"] == "running"
        elif r["state"] == "done":
            c["done"] += 1
        elif r["state"] == "failed":
            finished = as_utc(r["finished_at"])
            if skipped(r):
                c["skipped"] += 1
            elif finished is None or wid not in since or finished >= since[wid]:
                c["failed"] += 1
                failures[wid].append(Failure(r["name"], error_line(r["log"])))
            else:
                c["done"] += 1  # accepted by the resume
    return {
        wid: Tally(
            c["total"],
            c["done"],
            c["failed"],
            c["unfinished"],
            tuple(failures[wid]),
            c["running"],
            c["skipped"],
        )
        for wid, c in counts.items()
    }


@dataclass(frozen=True, slots=True)
class FailedUpdate:
    machine: str
    wave: str
    error: str  # the last line of its log
    exit_code: int | None
    finished_at: datetime | None


async def failed_updates(rollout_id: int) -> list[FailedUpdate]:
    """Every failed system update of the rollout, by machine name."""
    async with in_transaction() as conn:
        rows = await latest_updates(conn, rollout_id)
        names = {w.id: w.name for w in await wave_views(conn, rollout_id)}
    return [
        FailedUpdate(
            r["name"],
            names.get(int(r["wave_id"]), ""),
            error_line(r["log"]),
            r["exit_code"],
            as_utc(r["finished_at"]),
        )
        for r in rows
        if r["state"] == "failed" and not skipped(r)
    ]


async def settled(
    conn: BaseDBAsyncClient, rollout_id: int, done_waves: list[int]
) -> tuple[frozenset[int], frozenset[int]]:
    """What a re-plan of the rollout keeps: the machines of its waves already done, and the
    hosts whose reboot in this rollout is done."""
    members = (
        await RolloutMember.filter(rollout_id=rollout_id, wave_id__in=done_waves)
        .using_db(conn)
        .values("machine_id")
    )
    hosts = (
        await Activity.filter(rollout_id=rollout_id, kind=ActivityKind.HOST_REBOOT, state="done")
        .using_db(conn)
        .values("machine_id")
    )
    return (
        frozenset(int(r["machine_id"]) for r in members),
        frozenset(int(r["machine_id"]) for r in hosts),
    )
