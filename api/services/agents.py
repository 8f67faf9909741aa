"""What host agents write: starting and finishing windows (their inventory: api.services.inventory).

Every call is idempotent: repeating it with the same content changes nothing. An agent only
ever touches its own host and the VMs placed on it; anything else reads as not found.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.expressions import Q
from tortoise.transactions import in_transaction

from api.errors import NotFound, ValidationError
from api.kinds import ActivityKind, Executor, carried_out_by
from api.models import Activity, Machine, Window
from api.models.keys import where
from api.rules import Collector
from api.services import audit, guest_down
from api.services.guest_down import GuestDown
from api.services.inventory import check_text, host_and_guests
from api.services.window_result import tell_result

__all__ = [
    "ActivityResult",
    "GuestDown",
    "awaiting_update",
    "due_work",
    "finish_window",
    "own_window",
    "start_window",
]

# the kinds a host agent carries out (the registry's word); the guest agent's stay scheduled
# in a started window for the guest agent (api.services.guests)
HOST_KINDS = carried_out_by(Executor.HOST_AGENT)


@dataclass(frozen=True)
class ActivityResult:
    activity_id: int
    outcome: str  # "done" | "failed"
    log: str = ""


async def due_work(
    host_id: int, now: datetime | None = None, agent: str | None = None
) -> list[Window]:
    """Windows of the host and its VMs that are running, or planned and whose start has come.
    With ``agent``, running windows claimed by another agent are left out."""
    now = now or datetime.now(UTC)
    ids = await Machine.filter(host_and_guests(host_id)).values_list("id", flat=True)
    running = Q(state="running")
    if agent is not None:
        running &= Q(claimed_by=agent) | Q(claimed_by__isnull=True)
    due = await Window.filter(
        running | Q(state="planned", starts_at__lte=now, ends_at__gt=now),
        machine_id__in=list(ids),
    ).order_by("starts_at", "id")
    held = await awaiting_update([w.id for w in due if w.state == "planned"])
    return [w for w in due if w.id not in held]


async def awaiting_update(
    window_ids: Sequence[int], connection: BaseDBAsyncClient | None = None
) -> set[int]:
    """The windows among ``window_ids`` that must not start yet: they activate a rollout's
    work on a machine whose system update of that rollout is not done. The guest installs the
    new kernel; a reboot before it has finished would boot the old one or break the update.
    A window held past its end is missed and booked again like any other. Read on
    ``connection`` (the caller's transaction) when given."""
    if not window_ids:
        return set()
    rollout_work = await (
        Activity.filter(window_id__in=list(window_ids), rollout_id__isnull=False)
        .using_db(connection)
        .values_list("window_id", "machine_id", "rollout_id")
    )
    if not rollout_work:
        return set()
    pending = set(
        await Activity.filter(
            kind=ActivityKind.SYSTEM_UPDATE,
            machine_id__in={m for _, m, _ in rollout_work},
            rollout_id__in={r for _, _, r in rollout_work},
        )
        .exclude(state="done")
        .using_db(connection)
        .values_list("machine_id", "rollout_id")
    )
    return {w for w, m, r in rollout_work if (m, r) in pending}


def _check_claim(window: Window, agent: str | None) -> None:
    """One window, one agent: refuse an agent other than the one that started the window."""
    c = Collector()
    check_text(c, "agent", agent, "name")
    c.raise_if_any()
    if window.claimed_by is not None and agent != window.claimed_by:
        raise ValidationError.single(
            "window",
            f"is claimed by agent {window.claimed_by} (started "
            f"{window.started_at.isoformat() if window.started_at else 'earlier'}); "
            "leave its guests alone",
        )


async def own_window(host_id: int, uid: str, conn: BaseDBAsyncClient) -> Window:
    ids = await Machine.filter(host_and_guests(host_id)).using_db(conn).values_list("id", flat=True)
    window = (
        await where(Window.all(), uid=uid, machine_id__in=list(ids))
        .select_for_update()
        .using_db(conn)
        .first()
    )
    if window is None:
        raise NotFound("window", uid)
    return window


async def start_window(
    actor: str, host_id: int, uid: str, now: datetime | None = None, agent: str | None = None
) -> Window:
    """planned -> running (its scheduled host-agent activities too), claimed by ``agent``.
    The same agent starting it again is a no-op; another agent is refused (ValidationError).
    A guest agent's activities (system_update) stay scheduled for it."""
    now = now or datetime.now(UTC)
    async with in_transaction() as conn:
        window = await own_window(host_id, uid, conn)
        if window.state == "running":
            _check_claim(window, agent)
            return window
        if window.state == "planned" and now < window.starts_at:
            raise ValidationError.single("window", f"starts at {window.starts_at.isoformat()}")
        if window.state == "planned" and now >= window.ends_at:
            raise ValidationError.single("window", "has already ended; it will be rescheduled")
        if window.id in await awaiting_update([window.id], conn):
            raise ValidationError.single(
                "window", "waits for its machine's system update to finish; ask again later"
            )
        _check_claim(window, agent)
        window.transition("running")
        window.started_at = now
        window.claimed_by = agent
        await window.save(using_db=conn)
        scheduled = Activity.filter(window_id=window.id, state="scheduled", kind__in=HOST_KINDS)
        for activity in await scheduled.using_db(conn):
            activity.transition("running")
            activity.attempts += 1
            await activity.save(using_db=conn)
        await audit.record(actor, "window.start", window, {"agent": agent}, connection=conn)
    return window


async def finish_window(
    actor: str,
    host_id: int,
    uid: str,
    results: Sequence[ActivityResult],
    now: datetime | None = None,
    agent: str | None = None,
    guests_down: Sequence[GuestDown] = (),
    operators: Sequence[str] = (),
) -> Window:
    """Record each activity's outcome and log; the window completes when every one is done,
    fails otherwise. The outbox tells the group; ``guests_down`` flag the window and tell
    the operators at once (api.services.guest_down). Repeating the same report changes
    nothing."""
    now = now or datetime.now(UTC)
    async with in_transaction() as conn:
        window = await own_window(host_id, uid, conn)
        if agent is not None:
            _check_claim(window, agent)
        activities = {a.id: a for a in await Activity.filter(window_id=window.id).using_db(conn)}
        _check_results(window, activities, results)
        mine = {m.id: m for m in await Machine.filter(host_and_guests(host_id)).using_db(conn)}
        guest_down.check(guests_down, window, mine)
        if window.state in ("completed", "failed"):
            return window  # the same report again (checked above)
        await _record_results(conn, activities, results, now)
        ok = all(r.outcome == "done" for r in results)
        window.transition("completed" if ok else "failed")
        window.finished_at = now
        await window.save(using_db=conn)
        await audit.record(
            actor,
            "window.finish",
            window,
            {
                "outcome": window.state,
                "activities": {str(r.activity_id): r.outcome for r in results},
                "agent": agent,
            },
            connection=conn,
        )
        await guest_down.flag(
            conn,
            actor,
            window,
            guests_down,
            host=mine[host_id].name,
            agent=agent,
            operators=operators,
            now=now,
        )
        await tell_result(conn, window)  # once nothing in it is left to report on
    return window


async def _record_results(
    conn: BaseDBAsyncClient,
    activities: dict[int, Activity],
    results: Sequence[ActivityResult],
    now: datetime,
) -> None:
    """Each reported activity's outcome, log and finish time."""
    by_id = {r.activity_id: r for r in results}
    for activity in activities.values():
        r = by_id.get(activity.id)
        if r is None:
            continue
        activity.transition(r.outcome)
        activity.log = r.log
        activity.finished_at = now
        await activity.save(using_db=conn)


def _check_results(
    window: Window, activities: dict[int, Activity], results: Sequence[ActivityResult]
) -> None:
    c = Collector()
    finished = window.state in ("completed", "failed")
    if window.state not in ("running", "completed", "failed"):
        c.add("window", f"is {window.state}; start it first")
        c.raise_if_any()
    if len(results) > len(activities):
        c.add("results", f"one result for each of the window's {len(activities)} activities")
        c.raise_if_any()
    seen: set[int] = set()
    for i, r in enumerate(results):
        a = activities.get(r.activity_id)
        if a is None:
            c.add(f"results[{i}].activity", "is not an activity of this window")
            continue
        if r.activity_id in seen:
            c.add(f"results[{i}].activity", "is reported twice")
        seen.add(r.activity_id)
        if r.outcome not in ("done", "failed"):
            c.add(f"results[{i}].outcome", "must be done or failed")
        if len(r.log) > 100_000:
            c.add(f"results[{i}].log", "at most 100,000 characters")
        if finished and (a.state != r.outcome or (a.log or "") != r.log):
            c.add(f"results[{i}]", "differs from the report this finished window already has")
        if not finished and a.state != "running":
            c.add(f"results[{i}].activity", f"is {a.state}, not running")
    if not finished:
        running = {a.id for a in activities.values() if a.state == "running"}
        for missing in sorted(running - seen):
            c.add("results", f"activity {activities[missing].kind} #{missing} has no outcome")
    if not results and any(a.kind in HOST_KINDS for a in activities.values()):
        c.add("results", "report the outcome of every activity of the window")
    c.raise_if_any()
