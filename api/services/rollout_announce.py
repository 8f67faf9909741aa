"""Announcing a rollout: book every window of its plan and queue the mail, in one transaction.

The plan is the preview's (``rollouts.plan_of``), computed again under the scheduler's lock so
nothing moved in between. Rows are written in bulk with plain SQL (``api.services.bulk``), as
the scheduling pass writes its plan (the rows: ``api.services.rollout_rows``, written by
``api.services.sinks.save_many``):

1. windows: each VM's kernel activation (a new regular window, or an existing planned window
   the activation joins), and the forced host-reboot windows of the host wave;
2. activities: a ``system_update`` per machine at its wave's start (scheduled, no window), the
   ``kernel_update`` in its window (or queued with its blocked reason, for the scheduler to
   plan later), the host's ``host_reboot`` and each VM's ``reboot`` in the forced windows;
3. wave membership, the VMs' desired kernel, the audit trail (one event per window and one
   for the announcement, which records a forced notice);
4. the outbox: first the settings summary of every group never told its settings, then one
   ``rollout_announced`` message per group (its order of events, its machines per wave, all
   its windows in one calendar file).
"""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime
from typing import Any

from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.transactions import in_transaction

from api.effects import (
    ActivityRow,
    OutboxRow,
    outbox_row,
    rollout_announced_key,
    rollout_settings_key,
)
from api.errors import FieldError, ValidationError
from api.kinds import KINDS, ActivityKind
from api.models import ResourceGroup, Rollout
from api.scheduling.rollout import ConflictKind, RolloutPlan
from api.services.bulk import execute_many, fetch, insert_many, to_db_time
from api.services.groups import settings_notice
from api.services.rollout_rows import (
    Booked,
    announced,
    audit_rows,
    new_windows,
    reboots,
    system_updates,
)
from api.services.rollouts import RolloutPreview, plan_of
from api.services.scheduling import lock
from api.services.sinks import save_many
from api.settings import Settings, get_settings

__all__ = ["announce_in", "announce_rollout"]


async def announce_rollout(
    actor: str,
    rollout: Rollout,
    *,
    force: bool = False,
    resumed: bool = False,
    now: datetime | None = None,
    settings: Settings | None = None,
) -> Rollout:
    """Book the plan, move the rollout to announced and queue the mail, or change nothing.

    Refused: a rollout that is not a draft (or, with ``resumed``, not delayed); invalid or
    empty waves; a plan that breaks a group's notice period, unless ``force`` (audited)."""
    settings = settings or get_settings()
    now = now or datetime.now(UTC)
    async with in_transaction() as conn:
        await lock(conn)
        return await announce_in(conn, actor, rollout, force, resumed, now, settings)


async def announce_in(
    conn: BaseDBAsyncClient,
    actor: str,
    rollout: Rollout,
    force: bool,
    resumed: bool,
    now: datetime,
    settings: Settings,
) -> Rollout:
    """The announcement inside the caller's transaction, which holds the scheduler's lock."""
    current = await Rollout.get(id=rollout.id, using_db=conn)
    was = current.state
    current.transition("announced")  # IllegalTransition unless draft or delayed
    if resumed != (was == "delayed"):
        raise ValidationError.single(
            "state", f"rollout {rollout.name} is {was}: only a delayed rollout is resumed"
        )
    preview = await plan_of(conn, current, now, settings)
    late = [c for c in preview.plan.conflicts if c.kind is ConflictKind.NOTICE]
    if late and not force:
        raise ValidationError(
            [FieldError("groups", f"{preview.group_names[c.group_id]}: {c.text}") for c in late]
        )
    await _write(conn, actor, current, preview, now, force, resumed, settings)
    current.announced_at = now
    await current.save(using_db=conn, update_fields=["state", "announced_at", "updated_at"])
    return current


async def _write(
    conn: BaseDBAsyncClient,
    actor: str,
    rollout: Rollout,
    preview: RolloutPreview,
    now: datetime,
    force: bool,
    resumed: bool,
    settings: Settings,
) -> None:
    plan = preview.plan
    groups = {
        g.id: g for g in await ResourceGroup.filter(id__in=list(preview.group_zones)).using_db(conn)
    }
    booked = await _book(conn, plan, groups, now)
    await _activities(conn, actor, rollout, preview, booked, now)
    vms = [a.machine_id for a in plan.activations]
    await insert_many(
        conn,
        "rollout_member",
        ("rollout_id", "wave_id", "machine_id"),
        [
            (rollout.id, preview.wave_ids[i], mid)
            for i, w in enumerate(plan.waves)
            for mid in w.machine_ids
        ],
    )
    if rollout.kernel:
        await execute_many(
            conn,
            "UPDATE machine SET desired_kernel = ? WHERE id = ?",
            [(rollout.kernel, mid) for mid in vms],
        )
    await save_many(conn, audit_rows(actor, rollout, preview, booked, force, resumed), now)
    queued = datetime.now(UTC)  # mail is due now, whatever ``now`` planned
    out = await _outbox(conn, rollout, preview, booked, groups, resumed, now, queued)
    await save_many(conn, out, queued)


async def _book(
    conn: BaseDBAsyncClient, plan: RolloutPlan, groups: dict[int, ResourceGroup], now: datetime
) -> Booked:
    """Write the new windows, and extend the planned windows activations join."""
    new = new_windows(plan, groups, now)
    await save_many(conn, [w for w, _ in new], now)
    uids = [w.uid for w, _ in new]
    ids: dict[str, int] = {}
    for i in range(0, len(uids), 500):
        chunk = uids[i : i + 500]
        marks = ", ".join("?" for _ in chunk)
        for r in await fetch(
            conn, f"SELECT id, uid FROM maintenance_window WHERE uid IN ({marks})", chunk
        ):
            ids[r["uid"]] = int(r["id"])
    booked = Booked(new, ids, {}, {}, [a for a in plan.activations if a.joins_window])
    for w, _ in new:
        (booked.reboot if w.forced else booked.activation)[w.machine_id] = ids[w.uid]
    for a in booked.extended:
        booked.activation[a.machine_id] = a.joins_window  # type: ignore[assignment]
    await execute_many(
        conn,
        "UPDATE maintenance_window SET reason = ?, sequence = sequence + 1, updated_at = ?"
        " WHERE id = ?",
        [(a.reason, to_db_time(conn, now), a.joins_window) for a in booked.extended],
    )
    return booked


async def _waiting(conn: BaseDBAsyncClient, vms: list[int]) -> dict[int, int]:
    """Each VM's kernel update already queued (its desired kernel changed before)."""
    waiting: dict[int, int] = {}
    for i in range(0, len(vms), 500):
        some = vms[i : i + 500]
        marks = ", ".join("?" for _ in some)
        for r in await fetch(
            conn,
            f"SELECT id, machine_id FROM activity WHERE kind = ? AND state = ?"
            f" AND window_id IS NULL AND machine_id IN ({marks}) ORDER BY id",
            [ActivityKind.KERNEL_UPDATE.value, "queued", *some],
        ):
            waiting.setdefault(int(r["machine_id"]), int(r["id"]))
    return waiting


async def _activities(
    conn: BaseDBAsyncClient,
    actor: str,
    rollout: Rollout,
    preview: RolloutPreview,
    booked: Booked,
    now: datetime,
) -> None:
    """A system update per machine at its wave's start, each VM's kernel update (a queued one
    adopted: it moves into the activation window instead of a second being queued), and the
    reboots in the forced windows."""
    plan = preview.plan
    rows = system_updates(actor, rollout, plan)
    waiting = await _waiting(conn, [a.machine_id for a in plan.activations])
    adopted: list[tuple[Any, ...]] = []
    minutes = KINDS[ActivityKind.KERNEL_UPDATE].default_estimate
    for a in plan.activations:
        window = booked.activation.get(a.machine_id) if a.starts_at is not None else None
        state, blocked = ("scheduled", None) if window else ("queued", a.reason)
        starts = plan.waves[a.wave].spec.starts_at
        if a.machine_id in waiting:
            at = to_db_time(conn, starts)
            adopted.append((state, at, window, rollout.id, blocked, waiting[a.machine_id]))
            continue
        params = {"kernel": rollout.kernel} if rollout.kernel else {}
        kind = ActivityKind.KERNEL_UPDATE
        rows.append(
            ActivityRow(
                a.machine_id,
                kind,
                state,
                minutes,
                params,
                starts,
                window,
                rollout.id,
                blocked,
                actor,
            )
        )
    rows += reboots(actor, rollout, preview, booked)
    await save_many(conn, rows, now)
    await execute_many(
        conn,
        "UPDATE activity SET state = ?, not_before = ?, window_id = ?, rollout_id = ?,"
        " blocked_reason = ? WHERE id = ?",
        adopted,
    )


async def _outbox(
    conn: BaseDBAsyncClient,
    rollout: Rollout,
    preview: RolloutPreview,
    booked: Booked,
    groups: dict[int, ResourceGroup],
    resumed: bool,
    now: datetime,
    due: datetime,
) -> list[OutboxRow]:
    """Settings first (groups never told), then one message per group with windows."""
    plan = preview.plan
    # a group whose machines are all in waves done already still has its host reboots
    affected = sorted(
        {g for w in plan.waves for g, _ in w.per_group} | {h.group_id for h in plan.host_reboots}
    )
    told = {
        int(r["group_id"])
        for r in await fetch(
            conn, "SELECT DISTINCT group_id FROM notification WHERE kind = ?", ["group_settings"]
        )
    }
    out = [
        outbox_row(
            settings_notice(groups[gid]),
            group_id=gid,
            recipients=list(groups[gid].contacts),
            due=due,
            dedupe_key=rollout_settings_key(gid, rollout.id),
        )
        for gid in affected
        if gid not in told
    ]
    windows: dict[int, list[str]] = defaultdict(list)
    for w, gid in booked.new:
        windows[gid].append(w.uid)
    for a in booked.extended:
        windows[a.group_id].append(await _uid(conn, a.joins_window))  # type: ignore[arg-type]
    members = await _members_by_group(conn, rollout.id)
    for gid in affected:
        notice = announced(rollout, preview, members, gid, tuple(windows[gid]), resumed)
        if not notice.windows:
            continue  # the mail lists windows; a group with none (infrastructure only) is ours
        key = rollout_announced_key(rollout.id, gid, now)
        out.append(
            outbox_row(
                notice, group_id=gid, recipients=list(groups[gid].contacts), due=due, dedupe_key=key
            )
        )
    return out


async def _uid(conn: BaseDBAsyncClient, window_id: int) -> str:
    rows = await fetch(conn, "SELECT uid FROM maintenance_window WHERE id = ?", [window_id])
    return str(rows[0]["uid"])


async def _members_by_group(
    conn: BaseDBAsyncClient, rollout_id: int
) -> dict[tuple[int, int], list[str]]:
    out: dict[tuple[int, int], list[str]] = defaultdict(list)
    for r in await fetch(
        conn,
        "SELECT m.group_id, rm.wave_id, m.name FROM rollout_member rm"
        " JOIN machine m ON m.id = rm.machine_id WHERE rm.rollout_id = ?",
        [rollout_id],
    ):
        out[(int(r["group_id"]), int(r["wave_id"]))].append(r["name"])
    return out
