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
from collections.abc import Sequence
from datetime import UTC, datetime

from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.transactions import in_transaction

from api.effects import (
    ActivityAdopted,
    ActivityRow,
    DesiredKernel,
    MemberRow,
    OutboxRow,
    WindowExtended,
    outbox_row,
    rollout_announced_key,
    rollout_settings_key,
)
from api.errors import FieldError, ValidationError
from api.kinds import KINDS, ActivityKind
from api.models import ResourceGroup, Rollout
from api.scheduling.rollout import ConflictKind, RolloutPlan
from api.services.bulk import fetch, no_cyclic_gc
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
from api.services.sinks import save_many, update_many
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
    with no_cyclic_gc():  # 50k VMs: hundreds of thousands of rows
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
    members = [
        MemberRow(rollout.id, preview.wave_ids[i], mid)
        for i, w in enumerate(plan.waves)
        for mid in w.machine_ids
    ]
    await save_many(conn, members, now)
    if rollout.kernel:
        await update_many(conn, [DesiredKernel(mid, rollout.kernel) for mid in vms], now)
    await save_many(conn, audit_rows(actor, rollout, preview, booked, force, resumed), now)
    queued = datetime.now(UTC)  # mail is due now, whatever ``now`` planned
    out = await _outbox(conn, rollout, preview, booked, groups, resumed, now, queued)
    await save_many(conn, out, queued)


async def _book(
    conn: BaseDBAsyncClient, plan: RolloutPlan, groups: dict[int, ResourceGroup], now: datetime
) -> Booked:
    """Write the new windows, and extend the planned windows activations join."""
    new = new_windows(plan, groups, now)
    # the new windows' ids: all above the highest before (SQLite's rowids, PostgreSQL's
    # sequence: each later value is higher); found by uid, another writer's rows are ignored
    before = (await fetch(conn, "SELECT COALESCE(MAX(id), 0) AS m FROM maintenance_window"))[0]["m"]
    await save_many(conn, [w for w, _ in new], now)
    ids: dict[str, int] = {}
    if new:
        found = await fetch(conn, "SELECT id, uid FROM maintenance_window WHERE id > ?", [before])
        ids = {r["uid"]: int(r["id"]) for r in found}
    joining = [(a, a.joins_window) for a in plan.activations if a.joins_window is not None]
    joined = await _joined(conn, [wid for _, wid in joining])
    extended = [a for a, _ in joining]
    booked = Booked(new, ids, {}, {}, extended, {wid: uid for wid, (uid, _) in joined.items()})
    for w, _ in new:
        (booked.reboot if w.forced else booked.activation)[w.machine_id] = ids[w.uid]
    for a, wid in joining:
        booked.activation[a.machine_id] = wid
    changes = [WindowExtended(wid, a.reason, joined[wid][1] + 1) for a, wid in joining]
    await update_many(conn, changes, now)
    return booked


async def _joined(conn: BaseDBAsyncClient, window_ids: Sequence[int]) -> dict[int, tuple[str, int]]:
    """The uid and sequence of each window activations join (under the scheduler's lock)."""
    out: dict[int, tuple[str, int]] = {}
    for i in range(0, len(window_ids), 500):
        some = window_ids[i : i + 500]
        marks = ", ".join("?" for _ in some)
        for r in await fetch(
            conn, f"SELECT id, uid, sequence FROM maintenance_window WHERE id IN ({marks})", some
        ):
            out[int(r["id"])] = (str(r["uid"]), int(r["sequence"]))
    return out


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
    adopted: list[ActivityAdopted] = []
    minutes = KINDS[ActivityKind.KERNEL_UPDATE].default_estimate
    for a in plan.activations:
        window = booked.activation.get(a.machine_id) if a.starts_at is not None else None
        state, blocked = ("scheduled", None) if window else ("queued", a.reason)
        starts = plan.waves[a.wave].spec.starts_at
        if a.machine_id in waiting:
            adopted.append(
                ActivityAdopted(waiting[a.machine_id], state, starts, window, rollout.id, blocked)
            )
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
    await update_many(conn, adopted, now)


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
        windows[a.group_id].append(booked.joined[a.joins_window])  # type: ignore[index]
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
