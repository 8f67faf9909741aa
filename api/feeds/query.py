"""Read windows as plain :class:`WindowView` values: the feeds' and the mailer's one query.

Two flat ``values()`` queries (windows with machine and group, then their activities), no
model instances: a 1,000-window feed costs two round trips.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from api.feeds.values import ActivityView, WindowView
from api.models import Activity, Window
from api.models.activities import REBOOTING_KINDS

__all__ = ["FeedStamp", "activity_detail", "feed_stamp", "window_url", "window_views"]

_WINDOW_FIELDS = (
    "id",
    "uid",
    "machine__name",
    "machine__kind",
    "machine__group__name",
    "machine__group__timezone",
    "machine__group__max_postpones",
    "starts_at",
    "ends_at",
    "state",
    "sequence",
    "reason",
    "created_at",
    "updated_at",
    "forced",
    "postpones",
    "postpone_deadline",
)
_ACTIVITY_FIELDS = ("window_id", "kind", "estimate_minutes", "params", "state", "log")


def window_url(public_url: str, uid: str) -> str:
    return f"{public_url}/windows/{uid}"


def activity_detail(kind: str, params: dict[str, Any]) -> str:
    """A few words on what the activity changes, from its parameters."""
    if kind == "memory_resize" and "memory_mib" in params:
        return f"to {params['memory_mib']} MiB"
    if kind == "cpu_change" and "cores" in params:
        n = params["cores"]
        return f"to {n} core" + ("" if n == 1 else "s")
    if kind == "kernel_update" and params.get("kernel"):
        return f"to Linux {params['kernel']}"
    if kind == "system_update" and params.get("release"):
        return f"release {params['release']}"
    return ""


def _outcome(log: str | None) -> str:
    lines = [line.strip() for line in (log or "").splitlines() if line.strip()]
    return lines[-1][:200] if lines else ""


def _activity(row: dict[str, Any]) -> ActivityView:
    params = row["params"] or {}
    reboot = params.get("reboot")
    return ActivityView(
        kind=row["kind"],
        estimate_minutes=row["estimate_minutes"],
        needs_reboot=reboot if isinstance(reboot, bool) else row["kind"] in REBOOTING_KINDS,
        state=row["state"],
        detail=activity_detail(row["kind"], params),
        outcome=_outcome(row["log"]) if row["state"] in {"done", "failed"} else "",
    )


async def window_views(public_url: str, **where: Any) -> list[WindowView]:
    """Windows matching ``where`` (Tortoise filters on Window), ordered by start.

    Activities are selected with the same filters seen from the activity side, so no id list
    is sent back to the database (1,000 ids would pass SQLite's parameter limit on old builds).
    """
    rows = await Window.filter(**where).order_by("starts_at", "id").values(*_WINDOW_FIELDS)
    if not rows:
        return []
    acts = await (
        Activity.filter(**{f"window__{k}": v for k, v in where.items()})
        .order_by("id")
        .values(*_ACTIVITY_FIELDS)
    )
    cancelled_windows = {r["id"] for r in rows if r["state"] == "cancelled"}
    by_window: dict[int, list[ActivityView]] = defaultdict(list)
    for a in acts:
        # an activity dropped from a live window is no longer part of it
        if a["state"] != "cancelled" or a["window_id"] in cancelled_windows:
            by_window[a["window_id"]].append(_activity(a))
    return [
        WindowView(
            uid=r["uid"],
            machine=r["machine__name"],
            machine_kind=r["machine__kind"],
            group=r["machine__group__name"],
            timezone=r["machine__group__timezone"],
            starts_at=r["starts_at"],
            ends_at=r["ends_at"],
            state=r["state"],
            sequence=r["sequence"],
            reason=r["reason"],
            created_at=r["created_at"],
            updated_at=r["updated_at"],
            activities=tuple(by_window.get(r["id"], ())),
            forced=r["forced"],
            postpones=r["postpones"],
            max_postpones=r["machine__group__max_postpones"],
            postpone_deadline=r["postpone_deadline"],
            url=window_url(public_url, r["uid"]),
        )
        for r in rows
    ]


@dataclass(frozen=True)
class FeedStamp:
    """What a feed's bytes depend on in the database, read with one aggregate query."""

    windows: int
    last_change: datetime | None
    activities: int
    last_activity: int | None
    last_finish: datetime | None

    def key(self) -> str:
        return "|".join(
            str(v)
            for v in (
                self.windows,
                self.last_change and self.last_change.timestamp(),
                self.activities,
                self.last_activity,
                self.last_finish and self.last_finish.timestamp(),
            )
        )


def _instant(value: Any) -> datetime | None:
    if value is None or isinstance(value, datetime):
        return value
    parsed = datetime.fromisoformat(str(value))  # SQLite hands back Tortoise's ISO text
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


async def feed_stamp(*, since: datetime, group_id: int | None = None) -> FeedStamp:
    """Counts and latest changes of the windows a feed shows, without loading them.

    Raw SQL because Tortoise groups by every column as soon as an aggregate meets a join.
    """
    conn = Window._meta.db
    postgres = conn.capabilities.dialect == "postgres"
    params: list[Any] = [since]
    where = "w.ends_at >= " + ("$1" if postgres else "?")
    if group_id is not None:
        params.append(group_id)
        where += " AND m.group_id = " + ("$2" if postgres else "?")
    sql = (
        "SELECT COUNT(DISTINCT w.id) AS n, MAX(w.updated_at) AS last_change, "
        "COUNT(a.id) AS acts, MAX(a.id) AS last_act, MAX(a.finished_at) AS last_finish "
        "FROM maintenance_window w JOIN machine m ON m.id = w.machine_id "
        f"LEFT JOIN activity a ON a.window_id = w.id WHERE {where}"
    )
    [row] = await conn.execute_query_dict(sql, params)
    return FeedStamp(
        windows=int(row["n"] or 0),
        last_change=_instant(row["last_change"]),
        activities=int(row["acts"] or 0),
        last_activity=row["last_act"],
        last_finish=_instant(row["last_finish"]),
    )
