"""Reading what one scheduling pass needs, in a few bulk queries, as planner values."""

from __future__ import annotations

import asyncio
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, time
from typing import Any

from tortoise.backends.base.client import BaseDBAsyncClient

from api.kinds import needs_reboot
from api.scheduling import (
    ActivityIn,
    FreezeIn,
    GroupIn,
    HostIn,
    MachineIn,
    PlanInput,
    Policy,
    WindowIn,
    Work,
)
from api.services.bulk import as_utc, fetch, json_value

__all__ = ["World", "build_world", "load_world", "policy_of"]


@dataclass(frozen=True)
class World:
    """The planner's input plus what the writer needs beside it."""

    input: PlanInput
    contacts: dict[int, list[str]]  # group id -> contacts
    machine_names: dict[int, str]
    window_uids: dict[int, str]
    requested: dict[int, datetime]  # activity id -> requested_at


def _time(value: Any) -> time:
    if isinstance(value, time):
        return value
    hours, minutes = str(value).split(":")[:2]
    return time(int(hours), int(minutes))


def policy_of(timezone: str, window_start: Any, window_minutes: int, weekdays: Any) -> Policy:
    days = tuple(sorted({int(d) for d in json_value(weekdays) or []}))
    return Policy(timezone, _time(window_start), int(window_minutes), days)


# What a pass reads, one query per table: (name, SQL, parameters).
_QUERIES: tuple[tuple[str, str, list[str]], ...] = (
    (
        "groups",
        "SELECT id, name, timezone, window_start, window_minutes, weekdays, notice_minutes,"
        " contacts FROM resource_group",
        [],
    ),
    (
        "machines",
        "SELECT id, name, kind, group_id, host_id, redundancy, auto_schedule, capacity"
        " FROM machine",
        [],
    ),
    (
        "activities",
        "SELECT id, machine_id, kind, estimate_minutes, params, not_before, requested_at,"
        " blocked_reason FROM activity WHERE state = ? AND window_id IS NULL",
        ["queued"],
    ),
    (
        "work",
        "SELECT window_id, kind, estimate_minutes, params FROM activity"
        " WHERE state = ? AND window_id IS NOT NULL",
        ["scheduled"],
    ),
    (
        "windows",
        "SELECT id, uid, machine_id, starts_at, ends_at, state, sequence, reason, forced"
        " FROM maintenance_window WHERE state IN (?, ?)",
        ["planned", "running"],
    ),
    ("freezes", 'SELECT group_id, starts_at, ends_at, reason FROM "freeze"', []),
)


async def load_world(
    conn: BaseDBAsyncClient,
    now: datetime,
    *,
    reboot_allowance: int,
    horizon_days: int,
) -> World:
    """Read the rows on ``conn``; turn them into planner values in a worker thread (100,000
    activities take a second of Python that would otherwise hold the event loop)."""
    rows = {name: await fetch(conn, query, values) for name, query, values in _QUERIES}
    return await asyncio.to_thread(
        build_world, rows, now, reboot_allowance=reboot_allowance, horizon_days=horizon_days
    )


def build_world(
    rows: dict[str, list[Any]],
    now: datetime,
    *,
    reboot_allowance: int,
    horizon_days: int,
) -> World:
    groups, contacts = _groups(rows["groups"])
    machines, hosts, names = _machines(rows["machines"])
    activities, requested = _activities(rows["activities"])
    windows, uids = _windows(rows["windows"], rows["work"])
    inp = PlanInput(
        now,
        groups,
        machines,
        activities,
        hosts,
        windows,
        _freezes(rows["freezes"], now),
        reboot_allowance,
        horizon_days,
    )
    return World(inp, contacts, names, uids, requested)


def _groups(rows: list[Any]) -> tuple[tuple[GroupIn, ...], dict[int, list[str]]]:
    groups = []
    contacts: dict[int, list[str]] = {}
    for r in rows:
        policy = policy_of(r["timezone"], r["window_start"], r["window_minutes"], r["weekdays"])
        groups.append(GroupIn(r["id"], r["name"], policy, int(r["notice_minutes"])))
        contacts[r["id"]] = list(json_value(r["contacts"]) or [])
    return tuple(groups), contacts


def _machines(
    rows: list[Any],
) -> tuple[tuple[MachineIn, ...], tuple[HostIn, ...], dict[int, str]]:
    machines = []
    hosts = []
    names: dict[int, str] = {}
    for r in rows:
        names[r["id"]] = r["name"]
        machines.append(
            MachineIn(
                r["id"],
                r["name"],
                r["group_id"],
                r["host_id"],
                r["redundancy"] or None,
                bool(r["auto_schedule"]),
            )
        )
        if r["kind"] == "host":
            hosts.append(HostIn(r["id"], r["name"], int(r["capacity"])))
    return tuple(machines), tuple(hosts), names


def _activities(rows: list[Any]) -> tuple[tuple[ActivityIn, ...], dict[int, datetime]]:
    activities = []
    requested: dict[int, datetime] = {}
    for r in rows:
        at = as_utc(r["requested_at"])
        assert at is not None
        requested[r["id"]] = at
        activities.append(
            ActivityIn(
                r["id"],
                r["machine_id"],
                r["kind"],
                int(r["estimate_minutes"]),
                needs_reboot(r["kind"], r["params"]),
                at,
                as_utc(r["not_before"]),
                r["blocked_reason"],
            )
        )
    return tuple(activities), requested


def _windows(rows: list[Any], work_rows: list[Any]) -> tuple[tuple[WindowIn, ...], dict[int, str]]:
    """Planned and running windows, each with the work it carries."""
    work: dict[int, list[Work]] = defaultdict(list)
    for r in work_rows:
        work[r["window_id"]].append(
            Work(int(r["estimate_minutes"]), needs_reboot(r["kind"], r["params"]))
        )
    windows = []
    uids: dict[int, str] = {}
    for r in rows:
        uids[r["id"]] = r["uid"]
        starts, ends = as_utc(r["starts_at"]), as_utc(r["ends_at"])
        assert starts is not None and ends is not None
        windows.append(
            WindowIn(
                r["id"],
                r["machine_id"],
                starts,
                ends,
                r["state"],
                int(r["sequence"]),
                r["reason"] or "",
                bool(r["forced"]),
                tuple(work.get(r["id"], ())),
            )
        )
    return tuple(windows), uids


def _freezes(rows: list[Any], now: datetime) -> tuple[FreezeIn, ...]:
    """Freezes not over yet."""
    freezes = []
    for r in rows:
        starts, ends = as_utc(r["starts_at"]), as_utc(r["ends_at"])
        assert starts is not None and ends is not None
        if ends > now:
            freezes.append(FreezeIn(r["group_id"], starts, ends, r["reason"] or ""))
    return tuple(freezes)
