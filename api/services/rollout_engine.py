"""The wave engine: runs announced rollouts wave by wave, judges each wave, halts on a failed gate.

A led duty of `fenster serve` (api.app, ``rollout_interval`` seconds). Each pass, per rollout:

1. the next step from the pure core (``api.scheduling.engine.decide``: start a wave, pass it,
   halt the rollout, complete it), applied in one transaction under the scheduler's lock with
   a compare-and-set on the states it read; a step another process took first changes nothing.
   Repeated until there is no step left now.
2. each machine whose system update failed: its activation (the rollout's kernel update, and
   its window if left without work) is cancelled and its group told, by the window services'
   cancellation path (``window_ops.cancel_in``).
3. while the rollout is halted: windows of later waves that would now come before their wave
   could run (``engine.cutoffs``) are cancelled the same way.
4. while it runs: activations cancelled by 2. or 3. are given back to the VMs that may still
   have one (resumed after a halt, or a retried update done): ``rollout_machines``.

Killing the process at any moment and starting again continues without doing anything twice:
each change is one transaction and each is guarded by the state it changes.

Guest work of a rollout is due only while the rollout runs (:func:`released`) and not before
its wave's start; a halted rollout releases nothing.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.expressions import Q
from tortoise.transactions import in_transaction

from api.effects import ActivityHeld, rollout_halted_key
from api.errors import ValidationError
from api.kinds import ActivityKind
from api.models import Activity, Rollout, Wave
from api.notices import RolloutHalted
from api.scheduling.engine import (
    MAX_LISTED,
    Failure,
    RolloutEventKind,
    Step,
    StepKind,
    Tally,
    WaveView,
    cutoffs,
    decide,
    effective_starts,
    gate,
)
from api.services import audit, outbox
from api.services.bulk import fetch, to_db_time
from api.services.rollout_machines import restore_activations
from api.services.rollout_tally import (
    FailedUpdate,
    failed_updates,
    latest_updates,
    scheduled_updates,
    tallies,
    wave_views,
)
from api.services.scheduling import lock
from api.services.sinks import update_many
from api.services.window_ops import cancel_in
from api.settings import Settings

__all__ = [
    "ACTOR",
    "FailedUpdate",
    "failed_updates",
    "halt_rollout",
    "released",
    "resume_halted",
    "run_periodic",
    "run_rollouts",
    "step",
]

log = logging.getLogger(__name__)

ACTOR = "system:rollouts"
MAX_STEPS = 64  # steps of one rollout in one pass (each wave takes at most two)


def released() -> Q:
    """Activities the agents may carry out as far as rollouts are concerned: those of no
    rollout, and those of a running one (the one home of this rule)."""
    return Q(rollout_id__isnull=True) | Q(rollout__state="running")


class _Raced(Exception):
    """A compare-and-set found another state: someone else took the step."""


async def _cas_wave(conn: BaseDBAsyncClient, wave_id: int, was: str, **values: Any) -> None:
    if not await Wave.filter(id=wave_id, state=was).using_db(conn).update(**values):
        raise _Raced


async def _cas_rollout(conn: BaseDBAsyncClient, rollout: Rollout, was: str, **values: Any) -> None:
    values["updated_at"] = datetime.now(UTC)
    if not await Rollout.filter(id=rollout.id, state=was).using_db(conn).update(**values):
        raise _Raced


async def _hold_later(
    conn: BaseDBAsyncClient, rollout_id: int, waves: list[WaveView], started: WaveView
) -> None:
    """Later waves' system updates are due no sooner than their wave's effective start."""
    views = [w if w.id != started.id else _with(w, "running") for w in waves]
    starts = effective_starts(views)
    later = {
        w.id: starts[w.id]
        for w in views
        if w.position > started.position and w.state == "pending" and starts[w.id] > w.starts_at
    }
    found = await scheduled_updates(conn, rollout_id, list(later))
    held = [ActivityHeld(aid, later[wave_id]) for aid, wave_id in found]
    await update_many(conn, held, datetime.now(UTC))


def _with(w: WaveView, state: str) -> WaveView:
    return replace(w, state=state)


async def _mail_halt(
    conn: BaseDBAsyncClient,
    settings: Settings,
    rollout: Rollout,
    wave: WaveView | None,
    reason: str,
    by: str,
    failures: tuple[Failure, ...],
    now: datetime,
) -> None:
    if not settings.operator_list:
        log.warning("rollout %s halted; no operator_contacts set, nobody is mailed", rollout.name)
        return
    await outbox.enqueue(
        RolloutHalted(
            rollout.name,
            rollout.title,
            wave.name if wave else "",
            reason,
            by,
            tuple(f"{f.machine}: {f.error}" for f in failures[:MAX_LISTED]),
        ),
        group=None,
        dedupe_key=rollout_halted_key(rollout.id, now),
        recipients=settings.operator_list,
        connection=conn,
    )


async def _apply(
    conn: BaseDBAsyncClient,
    settings: Settings,
    rollout: Rollout,
    waves: list[WaveView],
    counts: dict[int, Tally],
    s: Step,
    now: datetime,
) -> None:
    w = s.wave
    if s.kind is StepKind.START:
        assert w is not None
        await _cas_wave(conn, w.id, "pending", state="running")
        if rollout.state == "announced":
            await _cas_rollout(conn, rollout, "announced", state="running")
        await _hold_later(conn, rollout.id, waves, w)
        details: dict[str, Any] = {"wave": w.name, "position": w.position}
        started = RolloutEventKind.WAVE_STARTED.value
        await audit.record(ACTOR, started, rollout, details, connection=conn)
    elif s.kind is StepKind.PASS:
        assert w is not None
        await _cas_wave(conn, w.id, "running", state="completed")
        t = counts.get(w.id, Tally())
        details = {"wave": w.name, "updates": t.total, "failed": t.failed}
        passed = RolloutEventKind.GATE_PASSED.value
        await audit.record(ACTOR, passed, rollout, details, connection=conn)
    elif s.kind is StepKind.HALT:
        assert w is not None
        await _cas_wave(conn, w.id, "running", state="halted")
        await _cas_rollout(conn, rollout, "running", state="halted", halted_reason=s.reason)
        t = counts.get(w.id, Tally())
        await audit.record(
            ACTOR,
            RolloutEventKind.GATE_FAILED.value,
            rollout,
            {
                "wave": w.name,
                "reason": s.reason,
                "failed": [f"{f.machine}: {f.error}" for f in t.failures[:MAX_LISTED]],
            },
            connection=conn,
        )
        halted = {"wave": w.name, "reason": s.reason}
        await audit.record(ACTOR, RolloutEventKind.HALTED.value, rollout, halted, connection=conn)
        verdict = gate(w, t)
        await _mail_halt(conn, settings, rollout, w, verdict.reason, ACTOR, t.failures, now)
    else:
        await _cas_rollout(conn, rollout, "running", state="completed")
        await audit.record(ACTOR, RolloutEventKind.COMPLETED.value, rollout, {}, connection=conn)


async def step(settings: Settings, rollout_id: int, now: datetime) -> Step | None:
    """Decide and apply the rollout's one next step in one transaction; None when there is
    none now (or another process took it first)."""
    try:
        async with in_transaction() as conn:
            await lock(conn)
            rollout = await Rollout.get(id=rollout_id, using_db=conn)
            waves = await wave_views(conn, rollout_id)
            counts = tallies(await latest_updates(conn, rollout_id), waves)
            s = decide(rollout.state, waves, counts, now)
            if s is not None:
                await _apply(conn, settings, rollout, waves, counts, s, now)
            return s
    except _Raced:
        return None


async def _cancel_failed_activations(rollout: Rollout) -> int:
    """Each machine whose latest update failed keeps its old packages: its activation is
    cancelled."""
    async with in_transaction() as conn:
        await lock(conn)
        if (
            not await Activity.filter(
                rollout_id=rollout.id, kind=ActivityKind.SYSTEM_UPDATE, state="failed"
            )
            .using_db(conn)
            .exists()
        ):
            return 0
        machines = sorted(
            {
                int(r["machine_id"])
                for r in await latest_updates(conn, rollout.id)
                if r["state"] == "failed"
            }
        )
        if not machines:
            return 0
        rows = (
            await Activity.filter(
                rollout_id=rollout.id,
                kind=ActivityKind.KERNEL_UPDATE,
                state__in=["queued", "scheduled"],
                machine_id__in=machines,
            )
            .using_db(conn)
            .order_by("id")
        )
        if rows:
            await cancel_in(
                conn,
                ACTOR,
                rows,
                "its system update failed: the machine stays on its current packages",
            )
        return len(rows)


async def _cancel_early_windows(rollout: Rollout, now: datetime) -> int:
    """While halted: the rollout's work in planned windows of later waves' machines that would
    come before their wave could run is cancelled (the window too, when left empty)."""
    async with in_transaction() as conn:
        await lock(conn)
        current = await Rollout.get(id=rollout.id, using_db=conn)
        if current.state != "halted":
            return 0
        cut = cutoffs(await wave_views(conn, rollout.id), now)
        ids: list[int] = []
        for wave_id, at in cut.items():
            ids.extend(
                int(r["id"])
                for r in await fetch(
                    conn,
                    "SELECT a.id FROM activity a"
                    " JOIN maintenance_window w ON w.id = a.window_id"
                    " JOIN rollout_member rm"
                    " ON rm.machine_id = a.machine_id AND rm.rollout_id = a.rollout_id"
                    " WHERE a.rollout_id = ? AND rm.wave_id = ? AND a.state = 'scheduled'"
                    " AND w.state = 'planned' AND w.starts_at < ?",
                    [rollout.id, wave_id, to_db_time(conn, at)],
                )
            )
        if not ids:
            return 0
        rows = await Activity.filter(id__in=ids).using_db(conn).order_by("id")
        # a host's reboot cancelled: the reboots of its VMs for it go too (whatever their wave)
        hosts = {a.machine_id for a in rows if a.kind == ActivityKind.HOST_REBOOT}
        if hosts:
            taken = set(ids)
            rows += [
                a
                for a in await Activity.filter(
                    rollout_id=rollout.id, kind=ActivityKind.REBOOT, state="scheduled"
                )
                .using_db(conn)
                .order_by("id")
                if a.id not in taken and a.for_host_reboot_id in hosts
            ]
        await cancel_in(
            conn,
            ACTOR,
            rows,
            "the system update is halted: this window would come before its wave could run",
        )
        return len(rows)


async def run_rollouts(settings: Settings, now: datetime | None = None) -> list[Step]:
    """One pass of the engine over every rollout it moves; returns the steps taken."""
    now = (now or datetime.now(UTC)).astimezone(UTC)
    taken: list[Step] = []
    for rollout in await Rollout.filter(state__in=["announced", "running", "halted"]).order_by(
        "id"
    ):
        for _ in range(MAX_STEPS):
            s = await step(settings, rollout.id, now)
            if s is None:
                break
            taken.append(s)
            log.info("rollout %s: %s %s", rollout.name, s.kind.value, s.wave.name if s.wave else "")
        await _cancel_failed_activations(rollout)
        await _cancel_early_windows(rollout, now)
        await restore_activations(ACTOR, rollout, now)
    return taken


async def run_periodic(settings: Settings) -> list[Step]:
    return await run_rollouts(settings)


async def halt_rollout(
    actor: str,
    rollout: Rollout,
    reason: str,
    *,
    now: datetime | None = None,
    settings: Settings,
) -> Rollout:
    """An operator halts a running rollout: its running wave halts, no later wave starts."""
    now = now or datetime.now(UTC)
    if not reason.strip():
        raise ValidationError.single("reason", "must not be empty")
    if len(reason) > 10_000:
        raise ValidationError.single("reason", "at most 10,000 characters")
    async with in_transaction() as conn:
        await lock(conn)
        current = await Rollout.get(id=rollout.id, using_db=conn)
        current.transition("halted")  # IllegalTransition unless running
        waves = await wave_views(conn, current.id)
        running = next((w for w in waves if w.state == "running"), None)
        if running is not None:
            await _cas_wave(conn, running.id, "running", state="halted")
        current.halted_reason = reason.strip()
        await current.save(using_db=conn, update_fields=["state", "halted_reason", "updated_at"])
        details = {"wave": running.name if running else None, "reason": current.halted_reason}
        await audit.record(actor, RolloutEventKind.HALTED.value, current, details, connection=conn)
        await _mail_halt(conn, settings, current, running, current.halted_reason, actor, (), now)
    return current


async def resume_halted(actor: str, rollout: Rollout, *, now: datetime | None = None) -> Rollout:
    """Resume a halted rollout on its remaining dates: the halted wave runs again from now
    (failures before now count as seen), later waves keep their dates (never before the wave
    before them has soaked). New dates: delay the rollout, then resume it with dates."""
    now = (now or datetime.now(UTC)).astimezone(UTC)
    async with in_transaction() as conn:
        await lock(conn)
        current = await Rollout.get(id=rollout.id, using_db=conn)
        if current.state != "halted":
            raise ValidationError.single(
                "state", f"rollout {current.name} is {current.state}, not halted"
            )
        current.transition("running")
        waves = await wave_views(conn, current.id)
        halted = next((w for w in waves if w.state == "halted"), None)
        if halted is not None:
            await _cas_wave(conn, halted.id, "halted", state="running", starts_at=now)
            again = replace(halted, starts_at=now)
            views = [again if w.id == halted.id else w for w in waves]
            await _hold_later(conn, current.id, views, again)  # they wait for its new soak
        was = current.halted_reason
        await _cas_rollout(conn, current, "halted", state="running", halted_reason=None)
        await audit.record(
            actor,
            RolloutEventKind.RESUMED.value,
            current,
            {"wave": halted.name if halted else None, "was_halted_because": was},
            connection=conn,
        )
    return await Rollout.get(id=rollout.id)
