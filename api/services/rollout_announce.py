"""Announcing a rollout: book every window of its plan and queue the mail, in one transaction.

The plan is the preview's (``rollouts.plan_of``), computed again under the scheduler's lock so
nothing moved in between. Rows are written in bulk with plain SQL (``api.services.bulk``), as
the scheduling pass writes its plan:

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

import json
from collections import defaultdict
from datetime import UTC, datetime
from typing import Any

from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.transactions import in_transaction

from api.errors import FieldError, ValidationError
from api.kinds import FOR_HOST_REBOOT, KINDS, REBOOT_FLAG, ActivityKind
from api.models import ResourceGroup, Rollout
from api.models.windows import new_uid
from api.notices import RolloutAnnounced, RolloutEvent
from api.scheduling import postpone_deadline
from api.scheduling.rollout import ConflictKind
from api.scheduling.waves import WaveSelector
from api.services.bulk import execute_many, fetch, insert_many, to_db_time
from api.services.groups import settings_notice
from api.services.rollouts import RolloutPreview, plan_of
from api.services.scheduling import lock
from api.services.window_base import host_reboot_reason
from api.settings import Settings, get_settings

__all__ = ["announce_in", "announce_rollout"]


def _dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), sort_keys=True)


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
    ts = to_db_time(conn, now)
    names = preview.machine_names
    waves = [w.spec for w in plan.waves]
    wave_ids = dict(enumerate(preview.wave_ids))  # plan index -> wave row
    zones = preview.group_zones
    groups = {g.id: g for g in await ResourceGroup.filter(id__in=list(zones)).using_db(conn)}

    # 1. windows
    new: list[tuple[str, int, int, datetime, datetime, str, bool]] = []  # uid, mid, gid, ...
    for a in plan.activations:
        if a.starts_at is not None and a.ends_at is not None and a.joins_window is None:
            new.append(
                (new_uid(), a.machine_id, a.group_id, a.starts_at, a.ends_at, a.reason, False)
            )
    for h in plan.host_reboots:
        g = groups[h.group_id]
        reason = host_reboot_reason(
            g.timezone, g.notice_minutes, h.starts_at, h.machine_id == h.host_id
        )
        new.append((new_uid(), h.machine_id, h.group_id, h.starts_at, h.ends_at, reason, True))
    deadline = to_db_time(conn, postpone_deadline(now))
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
        [
            (
                uid,
                mid,
                to_db_time(conn, start),
                to_db_time(conn, end),
                "planned",
                reason,
                0,
                forced,
                0,
                None if forced else deadline,
                ts,
                ts,
            )
            for uid, mid, _, start, end, reason, forced in new
        ],
    )
    uids = [n[0] for n in new]
    by_uid: dict[str, int] = {}
    for i in range(0, len(uids), 500):
        chunk = uids[i : i + 500]
        marks = ", ".join("?" for _ in chunk)
        for r in await fetch(
            conn, f"SELECT id, uid FROM maintenance_window WHERE uid IN ({marks})", chunk
        ):
            by_uid[r["uid"]] = int(r["id"])
    activation_window: dict[int, int] = {}  # machine id -> window id
    reboot_window: dict[int, int] = {}
    for uid, mid, _, _, _, _, forced in new:
        (reboot_window if forced else activation_window)[mid] = by_uid[uid]
    extended = [a for a in plan.activations if a.joins_window is not None]
    for a in extended:
        activation_window[a.machine_id] = a.joins_window  # type: ignore[assignment]
    await execute_many(
        conn,
        "UPDATE maintenance_window SET reason = ?, sequence = sequence + 1, updated_at = ?"
        " WHERE id = ?",
        [(a.reason, ts, a.joins_window) for a in extended],
    )

    # 2. activities
    kernel = rollout.kernel
    system = KINDS[ActivityKind.SYSTEM_UPDATE].default_estimate
    kernel_minutes = KINDS[ActivityKind.KERNEL_UPDATE].default_estimate
    host_minutes = KINDS[ActivityKind.HOST_REBOOT].default_estimate
    acts: list[tuple[Any, ...]] = []

    def act(
        mid: int,
        kind: ActivityKind,
        state: str,
        minutes: int,
        params: dict[str, Any],
        not_before: datetime | None,
        window: int | None,
        blocked: str | None,
    ) -> None:
        acts.append(
            (
                mid,
                kind.value,
                state,
                minutes,
                _dumps(params),
                to_db_time(conn, not_before),
                window,
                rollout.id,
                blocked,
                0,
                ts,
                actor,
            )
        )

    for w in plan.waves:
        if w.spec.selector is WaveSelector.HOSTS:
            continue
        for mid in w.machine_ids:
            act(
                mid,
                ActivityKind.SYSTEM_UPDATE,
                "scheduled",
                system,
                {},
                w.spec.starts_at,
                None,
                None,
            )
    # A VM's kernel update already queued (its desired kernel changed before) becomes the
    # rollout's: it moves into the activation window instead of a second one being queued.
    waiting: dict[int, int] = {}
    vms = [a.machine_id for a in plan.activations]
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
    adopted: list[tuple[Any, ...]] = []
    for a in plan.activations:
        window = activation_window.get(a.machine_id) if a.starts_at is not None else None
        if a.machine_id in waiting:
            adopted.append(
                (
                    "scheduled" if window else "queued",
                    to_db_time(conn, waves[a.wave].starts_at),
                    window,
                    rollout.id,
                    None if window else a.reason,
                    waiting[a.machine_id],
                )
            )
            continue
        act(
            a.machine_id,
            ActivityKind.KERNEL_UPDATE,
            "scheduled" if window else "queued",
            kernel_minutes,
            {"kernel": kernel} if kernel else {},
            waves[a.wave].starts_at,
            window,
            None if window else a.reason,
        )
    for h in plan.host_reboots:
        if h.machine_id == h.host_id:
            act(
                h.machine_id,
                ActivityKind.HOST_REBOOT,
                "scheduled",
                host_minutes,
                {},
                None,
                reboot_window[h.machine_id],
                None,
            )
        else:
            minutes = int((h.ends_at - h.starts_at).total_seconds() // 60)
            act(
                h.machine_id,
                ActivityKind.REBOOT,
                "scheduled",
                minutes,
                {FOR_HOST_REBOOT: names[h.host_id], REBOOT_FLAG: True},
                None,
                reboot_window[h.machine_id],
                None,
            )
    await insert_many(
        conn,
        "activity",
        (
            "machine_id",
            "kind",
            "state",
            "estimate_minutes",
            "params",
            "not_before",
            "window_id",
            "rollout_id",
            "blocked_reason",
            "attempts",
            "requested_at",
            "requested_by",
        ),
        acts,
    )

    await execute_many(
        conn,
        "UPDATE activity SET state = ?, not_before = ?, window_id = ?, rollout_id = ?,"
        " blocked_reason = ? WHERE id = ?",
        adopted,
    )

    # 3. membership, desired kernel, audit
    await insert_many(
        conn,
        "rollout_member",
        ("rollout_id", "wave_id", "machine_id"),
        [(rollout.id, wave_ids[i], mid) for i, w in enumerate(plan.waves) for mid in w.machine_ids],
    )
    if kernel:
        await execute_many(
            conn,
            "UPDATE machine SET desired_kernel = ? WHERE id = ?",
            [(kernel, mid) for mid in vms],
        )
    audit = [
        (
            ts,
            actor,
            "window.force_host_reboot" if forced else "window.schedule",
            "window",
            by_uid[uid],
            f"window {uid} {start:%Y-%m-%d %H:%M}Z",
            _dumps(
                {
                    "machine": names[mid],
                    "rollout": rollout.name,
                    "starts_at": start.isoformat(),
                    "ends_at": end.isoformat(),
                }
            ),
        )
        for uid, mid, _, start, end, _, forced in new
    ]
    late = sorted({preview.group_names[g] for g in plan.late_groups})
    audit.append(
        (
            ts,
            actor,
            "rollout.resume" if resumed else "rollout.announce",
            "rollout",
            rollout.id,
            rollout.name,
            _dumps(
                {
                    "windows": len(new),
                    "extended": len(extended),
                    "forced": force,
                    "late_groups": late if force else [],
                }
            ),
        )
    )
    await insert_many(
        conn,
        "audit_event",
        ("at", "actor", "action", "subject_type", "subject_id", "subject_name", "details"),
        audit,
    )

    # 4. outbox: settings first (groups never told), then one message per group
    affected = sorted({g for w in plan.waves for g, _ in w.per_group})
    told = {
        int(r["group_id"])
        for r in await fetch(
            conn, "SELECT DISTINCT group_id FROM notification WHERE kind = ?", ["group_settings"]
        )
    }
    per_group_windows: dict[int, list[str]] = defaultdict(list)
    for uid, _, gid, *_ in new:
        per_group_windows[gid].append(uid)
    for a in extended:
        per_group_windows[a.group_id].append(await _uid(conn, a.joins_window))  # type: ignore[arg-type]
    out: list[tuple[Any, ...]] = []
    queued = to_db_time(conn, datetime.now(UTC))  # mail is due now, whatever ``now`` planned

    def note(kind: str, gid: int, payload: dict[str, Any], key: str) -> None:
        out.append(
            (
                kind,
                gid,
                None,
                _dumps(list(groups[gid].contacts)),
                _dumps(payload),
                key,
                f"group:{gid}",
                "pending",
                0,
                queued,
                queued,
            )
        )

    for gid in affected:
        if gid not in told:
            g = groups[gid]
            note(
                "group_settings",
                gid,
                settings_notice(g).to_payload(),
                f"group_settings:{gid}:rollout:{rollout.id}",
            )
    wave_members = await _members_by_group(conn, rollout.id)
    for gid in affected:
        events = tuple(
            RolloutEvent(
                preview.positions[i],
                w.spec.name,
                w.spec.starts_at,
                tuple(sorted(wave_members.get((gid, wave_ids[i]), ()))),
            )
            for i, w in enumerate(plan.waves)
        )
        notice = RolloutAnnounced(
            rollout.name,
            rollout.title,
            rollout.description,
            events,
            tuple(per_group_windows.get(gid, ())),
            resumed,
        )
        if not notice.windows:
            continue  # the mail lists windows; a group with none (infrastructure only) is ours
        stamp = now.isoformat()
        note(notice.kind, gid, notice.to_payload(), f"rollout_announced:{rollout.id}:{gid}:{stamp}")
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
    )


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
