"""Read windows as plain :class:`WindowView` values: the feeds' and the mailer's one query;
and a rollout's system updates (no window) as :class:`SystemUpdateView` values for the feeds.

Two flat SQL queries (windows with machine and group, then their activities) through
``api.services.bulk``; no model instances and no per-value ISO parsing in Python code:
Tortoise's own row conversion costs more than the rest of a 1,000-window feed.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from api.calendar.values import ActivityView, SystemUpdateView, WindowView
from api.kinds import ActivityKind, needs_reboot
from api.models import Window
from api.outcomes import outcome_of
from api.publish.layout import page_url, rollout_path
from api.services.bulk import as_utc, dialect, fetch, json_value, to_db_time

__all__ = [
    "FeedStamp",
    "activity_detail",
    "feed_stamp",
    "groups_changed",
    "update_views",
    "window_url",
    "window_views",
]

_WINDOWS = (
    "SELECT w.id, w.uid, m.name, m.kind, g.name, g.timezone, g.max_postpones, w.starts_at, "
    "w.ends_at, w.state, w.sequence, w.reason, w.created_at, w.updated_at, w.forced, "
    "w.postpones, w.postpone_deadline "
    "FROM maintenance_window w JOIN machine m ON m.id = w.machine_id "
    "JOIN resource_group g ON g.id = m.group_id WHERE {where} ORDER BY w.starts_at, w.id"
)
_ACTIVITIES = (
    "SELECT a.window_id, a.kind, a.estimate_minutes, a.params, a.state, a.log, w.state "
    "FROM activity a JOIN maintenance_window w ON w.id = a.window_id "
    "JOIN machine m ON m.id = w.machine_id WHERE {where} ORDER BY a.id"
)

# A rollout's system update of a VM: in no window, at its wave's start (see
# api.services.rollout_announce); with the start of the window its kernel is activated in (a
# grouped join, not a subquery per row: that costs a scan of the rollout's activities each).
_UPDATES = (
    "SELECT a.id, m.name, m.kind, g.name, g.timezone, a.not_before, a.estimate_minutes, "
    "a.state, a.params, a.log, a.requested_at, a.finished_at, r.name, r.title, r.updated_at, "
    "act.starts_at, wv.starts_at FROM activity a JOIN machine m ON m.id = a.machine_id "
    "JOIN resource_group g ON g.id = m.group_id JOIN rollout r ON r.id = a.rollout_id "
    "LEFT JOIN rollout_member rm ON rm.rollout_id = a.rollout_id AND rm.machine_id = a.machine_id "
    "LEFT JOIN rollout_wave wv ON wv.id = rm.wave_id "
    "LEFT JOIN (SELECT k.rollout_id, k.machine_id, MIN(kw.starts_at) AS starts_at "
    "FROM activity k JOIN maintenance_window kw ON kw.id = k.window_id "
    "WHERE k.kind = ? AND k.state <> 'cancelled' AND k.rollout_id IS NOT NULL "
    "GROUP BY k.rollout_id, k.machine_id) act "
    "ON act.rollout_id = a.rollout_id AND act.machine_id = a.machine_id "
    "WHERE {where} ORDER BY a.not_before, a.id"
)


def window_url(public_url: str, uid: str) -> str:
    return f"{public_url}/windows/{uid}"


def activity_detail(kind: str, params: dict[str, Any]) -> str:
    """A few words on what the activity changes, from its parameters."""
    if kind == ActivityKind.MEMORY_RESIZE and "memory_mib" in params:
        return f"to {params['memory_mib']} MiB"
    if kind == ActivityKind.CPU_CHANGE and "cores" in params:
        n = params["cores"]
        return f"to {n} core" + ("" if n == 1 else "s")
    if kind == ActivityKind.KERNEL_UPDATE and params.get("kernel"):
        return f"to Linux {params['kernel']}"
    if kind == ActivityKind.SYSTEM_UPDATE and params.get("release"):
        return f"release {params['release']}"
    return ""


def _outcome(log: str | None) -> str:
    return outcome_of(log)


def _activity(kind: str, minutes: int, params: Any, state: str, log: str | None) -> ActivityView:
    params = json_value(params) or {}
    return ActivityView(
        kind=kind,
        estimate_minutes=minutes,
        needs_reboot=needs_reboot(kind, params),
        state=state,
        detail=activity_detail(kind, params) if params else "",
        outcome=_outcome(log) if state in {"done", "failed"} else "",
    )


def _where(
    conn: Any,
    *,
    group_id: int | None,
    since: datetime | None,
    window_id: int | None,
    uids: Sequence[str] | None,
) -> tuple[str, list[Any]]:
    clauses: list[str] = []
    values: list[Any] = []
    if group_id is not None:
        clauses.append("m.group_id = ?")
        values.append(group_id)
    if since is not None:
        clauses.append("w.ends_at >= ?")
        values.append(to_db_time(conn, since))
    if window_id is not None:
        clauses.append("w.id = ?")
        values.append(window_id)
    if uids is not None:
        clauses.append(f"w.uid IN ({', '.join('?' for _ in uids)})" if uids else "1 = 0")
        values.extend(uids)
    return " AND ".join(clauses) or "1 = 1", values


async def window_views(
    public_url: str,
    *,
    group_id: int | None = None,
    since: datetime | None = None,
    window_id: int | None = None,
    uids: Sequence[str] | None = None,
) -> list[WindowView]:
    """Windows of one group, ending after ``since``, by id or by uid; ordered by start."""
    conn = Window._meta.db
    where, values = _where(conn, group_id=group_id, since=since, window_id=window_id, uids=uids)
    rows = await fetch(conn, _WINDOWS.format(where=where), values)
    if not rows:
        return []
    by_window: dict[int, list[ActivityView]] = defaultdict(list)
    for wid, kind, minutes, params, state, log, wstate in await fetch(
        conn, _ACTIVITIES.format(where=where), values
    ):
        # an activity dropped from a live window is no longer part of it
        if state != "cancelled" or wstate == "cancelled":
            by_window[wid].append(_activity(kind, minutes, params, state, log))
    return [
        WindowView(
            uid=r[1],
            machine=r[2],
            machine_kind=r[3],
            group=r[4],
            timezone=r[5],
            starts_at=as_utc(r[7]),  # type: ignore[arg-type]
            ends_at=as_utc(r[8]),  # type: ignore[arg-type]
            state=r[9],
            sequence=r[10],
            reason=r[11],
            created_at=as_utc(r[12]),  # type: ignore[arg-type]
            updated_at=as_utc(r[13]),  # type: ignore[arg-type]
            activities=tuple(by_window.get(r[0], ())),
            forced=bool(r[14]),
            postpones=r[15],
            max_postpones=r[6],
            postpone_deadline=as_utc(r[16]),
            url=window_url(public_url, r[1]),
        )
        for r in rows
    ]


def _update_where(
    conn: Any, *, group_id: int | None, since: datetime | None
) -> tuple[str, list[Any]]:
    """The system updates a feed shows: a rollout's, in no window, starting after ``since``."""
    clauses = ["a.kind = ?", "a.window_id IS NULL", "a.rollout_id IS NOT NULL"]
    values: list[Any] = [ActivityKind.SYSTEM_UPDATE.value]
    if group_id is not None:
        clauses.append("m.group_id = ?")
        values.append(group_id)
    if since is not None:
        clauses.append("a.not_before >= ?")
        values.append(to_db_time(conn, since))
    return " AND ".join(clauses), values


async def update_views(
    public_url: str, *, group_id: int | None = None, since: datetime | None = None
) -> list[SystemUpdateView]:
    """System updates of rollouts (one group's, or all) starting after ``since``; cancelled
    ones too, so subscribed clients drop them. Ordered by start."""
    conn = Window._meta.db
    where, values = _update_where(conn, group_id=group_id, since=since)
    rows = await fetch(
        conn, _UPDATES.format(where=where), [ActivityKind.KERNEL_UPDATE.value, *values]
    )
    out = []
    for r in rows:
        params = json_value(r[8]) or {}
        created = as_utc(r[10])
        changed = [t for t in (created, as_utc(r[11]), as_utc(r[14])) if t is not None]
        out.append(
            SystemUpdateView(
                activity_id=r[0],
                machine=r[1],
                machine_kind=r[2],
                group=r[3],
                timezone=r[4],
                starts_at=as_utc(r[5]),  # type: ignore[arg-type]
                estimate_minutes=r[6],
                state=r[7],
                rollout_title=r[13],
                created_at=created,  # type: ignore[arg-type]
                updated_at=max(changed),
                detail=activity_detail(ActivityKind.SYSTEM_UPDATE, params) if params else "",
                outcome=_outcome(r[9]) if r[7] in {"done", "failed"} else "",
                activation_at=as_utc(r[15]),
                wave_starts_at=as_utc(r[16]),
                url=page_url(public_url, rollout_path(r[12])),
            )
        )
    return out


@dataclass(frozen=True)
class FeedStamp:
    """What a feed's bytes depend on in the database, read with two aggregate queries."""

    windows: int
    last_change: datetime | None
    activities: int
    last_activity: int | None
    last_finish: datetime | None
    activity_digest: str = ""  # of every activity's id, state, estimate and params
    # the system updates shown (no window): their count, digest (as activities) and latest
    # change (a finish, or their rollout's change)
    updates: int = 0
    update_digest: str = ""
    last_update_change: datetime | None = None

    def key(self) -> str:
        return "|".join(
            str(v)
            for v in (
                self.windows,
                self.last_change and self.last_change.timestamp(),
                self.activities,
                self.last_activity,
                self.last_finish and self.last_finish.timestamp(),
                self.activity_digest,
                self.updates,
                self.update_digest,
                self.last_update_change and self.last_update_change.timestamp(),
            )
        )


# Activities change in place without touching their window (new params for a new desired
# value, cancelled when it goes back): the stamp reads what the feed shows of them.
_ACTIVITY_TEXT = {
    "postgres": "string_agg(a.id::text || ':' || a.state || ':' || a.estimate_minutes::text "
    "|| ':' || a.params::text, '|' ORDER BY a.id)",
    "sqlite": "group_concat(a.id || ':' || a.state || ':' || a.estimate_minutes || ':' "
    "|| a.params, '|')",
}
# A system update's start moves in place too (the wave engine holds a later wave's back).
_UPDATE_TEXT = {
    "postgres": "string_agg(a.id::text || ':' || a.state || ':' || a.estimate_minutes::text "
    "|| ':' || a.params::text || ':' || a.not_before::text, '|' ORDER BY a.id)",
    "sqlite": "group_concat(a.id || ':' || a.state || ':' || a.estimate_minutes || ':' "
    "|| a.params || ':' || a.not_before, '|')",
}


async def feed_stamp(*, since: datetime, group_id: int | None = None) -> FeedStamp:
    """Counts and latest changes of the windows and system updates a feed shows, without
    loading them.

    Raw SQL because Tortoise groups by every column as soon as an aggregate meets a join.
    """
    conn = Window._meta.db
    where, values = _where(conn, group_id=group_id, since=since, window_id=None, uids=None)
    text = _ACTIVITY_TEXT["postgres" if dialect(conn) == "postgres" else "sqlite"]
    [row] = await fetch(
        conn,
        "SELECT COUNT(DISTINCT w.id), MAX(w.updated_at), COUNT(a.id), MAX(a.id), "
        f"MAX(a.finished_at), {text} FROM maintenance_window w "
        "JOIN machine m ON m.id = w.machine_id "
        f"LEFT JOIN activity a ON a.window_id = w.id WHERE {where}",
        values,
    )
    where, values = _update_where(conn, group_id=group_id, since=since)
    text = _UPDATE_TEXT["postgres" if dialect(conn) == "postgres" else "sqlite"]
    [urow] = await fetch(
        conn,
        f"SELECT COUNT(a.id), MAX(a.finished_at), MAX(r.updated_at), {text} FROM activity a "
        "JOIN machine m ON m.id = a.machine_id JOIN rollout r ON r.id = a.rollout_id "
        f"WHERE {where}",
        values,
    )
    update_times = [t for t in (as_utc(urow[1]), as_utc(urow[2])) if t is not None]
    return FeedStamp(
        windows=int(row[0] or 0),
        last_change=as_utc(row[1]),
        activities=int(row[2] or 0),
        last_activity=row[3],
        last_finish=as_utc(row[4]),
        activity_digest=hashlib.sha256((row[5] or "").encode()).hexdigest()[:32],
        updates=int(urow[0] or 0),
        update_digest=hashlib.sha256((urow[3] or "").encode()).hexdigest()[:32],
        last_update_change=max(update_times, default=None),
    )


async def groups_changed() -> datetime | None:
    """The latest change to any group (its zone and name shape every event of the operators'
    feed, without touching a window row)."""
    conn = Window._meta.db
    [row] = await fetch(conn, "SELECT MAX(updated_at) FROM resource_group", [])
    return as_utc(row[0])
