"""One machine of a rollout: retry or skip its failed system update, and give its activation back
when the rollout may go on with it.

- **Retry** queues a new ``system_update`` for the machine, due at once while the rollout runs
  (a halted rollout releases it when resumed). It supersedes the failed one: the engine counts
  a machine's latest update only (``rollout_tally.latest_updates``).
- **Skip** marks the failed update skipped: the operator accepts that the machine stays on its
  old packages. A skipped failure is no failure for the gate (it counts among the wave's
  updates, as skipped), and the machine leaves ``failedMachines``. Its activation stays
  cancelled.
- **Activations given back** (:func:`restore_activations`, a step of each engine pass while
  the rollout runs): a VM whose rollout kernel update the engine cancelled gets a new one,
  queued for the scheduling pass, which books a window under its group's notice rules, never
  before its wave has soaked. That is a VM whose window was cancelled during a halt because it
  would have come before its wave could run, once the rollout is resumed; a VM of a wave
  already done whose window a delay, or a resume with new dates, cancelled (``PAUSES``: the
  re-plan leaves done waves alone), once the rollout runs again; and a VM whose retried
  update succeeded. A VM whose latest update failed gets none, and neither does one whose
  activation an operator cancelled by hand.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.transactions import in_transaction

from api.errors import NotFound, ValidationError
from api.kinds import KINDS, ActivityKind
from api.models import Activity, AuditEvent, Machine, Rollout, RolloutMember
from api.models.keys import where
from api.scheduling.engine import RolloutEventKind, effective_starts
from api.services import audit
from api.services.bulk import fetch
from api.services.rollout_tally import SKIPPED, latest_updates, skipped, wave_views
from api.services.scheduling import lock

__all__ = ["DELAYED", "PAUSES", "REDATED", "restore_activations", "retry_machine", "skip_machine"]

CHUNK = 500  # ids in one IN (...)
MOVING = frozenset({"running", "halted"})  # a rollout whose machines may be retried or skipped
DELAYED = "the system update is delayed"  # why a delay cancels the rollout's pending work
REDATED = "the system update takes new dates"  # why a resume with new dates does
PAUSES = frozenset({DELAYED, REDATED})  # cancellations whose activations are given back


async def _failed(
    conn: BaseDBAsyncClient, rollout: Rollout, machine: str
) -> tuple[Rollout, RolloutMember, Activity]:
    """The rollout (locked, re-read), the machine's membership and its failed latest update;
    a typed error when the rollout does not move, the machine is not in it or has not failed."""
    current = await Rollout.get(id=rollout.id, using_db=conn)
    if current.state not in MOVING:
        raise ValidationError.single(
            "name", f"rollout {current.name} is {current.state}: only a running or halted one"
        )
    found = await where(Machine.all().using_db(conn), name=machine).first()
    member = (
        await RolloutMember.filter(rollout_id=current.id, machine_id=found.id)
        .using_db(conn)
        .prefetch_related("wave")
        .first()
        if found is not None
        else None
    )
    if found is None or member is None:
        raise NotFound(f"machine of rollout {current.name}", machine)
    rows = [r for r in await latest_updates(conn, current.id) if int(r["machine_id"]) == found.id]
    if not rows:
        raise ValidationError.single("machine", f"{machine} has no system update in this rollout")
    latest = await Activity.get(id=int(rows[0]["id"]), using_db=conn)
    if latest.state != "failed":
        raise ValidationError.single(
            "machine", f"{machine}'s system update is {latest.state}, not failed"
        )
    return current, member, latest


async def retry_machine(
    actor: str, rollout: Rollout, machine: str, *, now: datetime | None = None
) -> Activity:
    """Queue a new system update for a machine whose update failed; it is due at once while
    the rollout runs."""
    now = (now or datetime.now(UTC)).astimezone(UTC)
    async with in_transaction() as conn:
        await lock(conn)
        current, member, failed = await _failed(conn, rollout, machine)
        again = await Activity.create(
            machine_id=failed.machine_id,
            kind=ActivityKind.SYSTEM_UPDATE.value,
            state="scheduled",
            estimate_minutes=KINDS[ActivityKind.SYSTEM_UPDATE].default_estimate,
            params={"retry_of": failed.id},
            not_before=now,
            rollout_id=current.id,
            requested_by=actor,
            using_db=conn,
        )
        details = {"machine": machine, "wave": member.wave.name, "update": again.id}
        details["retry_of"] = failed.id
        await _record(conn, actor, RolloutEventKind.MACHINE_RETRIED, current, details)
    return again


async def skip_machine(
    actor: str, rollout: Rollout, machine: str, *, now: datetime | None = None
) -> Activity:
    """Skip a machine whose update failed: it stays on its old packages, and its failure no
    longer counts against its wave's gate."""
    now = (now or datetime.now(UTC)).astimezone(UTC)
    async with in_transaction() as conn:
        await lock(conn)
        current, member, failed = await _failed(conn, rollout, machine)
        if skipped({"params": failed.params}):
            raise ValidationError.single("machine", f"{machine} is skipped already")
        failed.params = {**(failed.params or {}), SKIPPED: {"by": actor, "at": now.isoformat()}}
        await failed.save(using_db=conn, update_fields=["params"])
        details = {"machine": machine, "wave": member.wave.name, "update": failed.id}
        await _record(conn, actor, RolloutEventKind.MACHINE_SKIPPED, current, details)
    return failed


async def _record(
    conn: BaseDBAsyncClient,
    actor: str,
    kind: RolloutEventKind,
    rollout: Rollout,
    details: dict[str, Any],
) -> None:
    await audit.record(actor, kind.value, rollout, details, connection=conn)


async def restore_activations(actor: str, rollout: Rollout, now: datetime) -> int:
    """While the rollout runs: each VM whose rollout activation ``actor`` (the engine)
    cancelled, and whose latest update is done, or still to run with no failure before it,
    gets a new kernel update, queued after its wave's soak. Returns how many."""
    async with in_transaction() as conn:
        await lock(conn)
        current = await Rollout.get(id=rollout.id, using_db=conn)
        if current.state != "running":
            return 0
        gone = {
            int(r["id"]): int(r["machine_id"])
            for r in await fetch(
                conn,
                "SELECT a.id, a.machine_id FROM activity a WHERE a.rollout_id = ? AND a.kind = ?"
                " AND a.state = 'cancelled' AND NOT EXISTS (SELECT 1 FROM activity b"
                " WHERE b.rollout_id = a.rollout_id AND b.machine_id = a.machine_id"
                " AND b.kind = a.kind AND b.state <> 'cancelled')",
                [current.id, ActivityKind.KERNEL_UPDATE.value],
            )
        }
        if not gone:
            return 0
        candidates: set[int] = set()
        ids = sorted(gone)
        for i in range(0, len(ids), CHUNK):  # those the engine, a delay or new dates cancelled
            for e in (
                await AuditEvent.filter(action="activity.cancel")
                .filter(subject_type="activity", subject_id__in=ids[i : i + CHUNK])
                .using_db(conn)
                .values("subject_id", "actor", "details")
            ):
                if e["actor"] == actor or (e["details"] or {}).get("reason") in PAUSES:
                    candidates.add(gone[int(e["subject_id"])])
        ready = await _ready(conn, current.id, candidates)
        if not ready:
            return 0
        views = await wave_views(conn, current.id)
        starts = effective_starts(views)
        soaked = {w.id: starts[w.id] + w.soak for w in views if w.id in starts}
        for machine_id, wave_id in sorted(ready.items()):
            await _queue_activation(conn, actor, current, machine_id, soaked.get(wave_id), now)
        return len(ready)


async def _ready(conn: BaseDBAsyncClient, rollout_id: int, machines: set[int]) -> dict[int, int]:
    """Of ``machines``: those the rollout may activate (latest update done, or to run without a
    failure before it), with their wave."""
    if not machines:
        return {}
    failed_before = {
        int(a["machine_id"])
        for a in await Activity.filter(
            rollout_id=rollout_id, kind=ActivityKind.SYSTEM_UPDATE, state="failed"
        )
        .using_db(conn)
        .values("machine_id")
    }
    out: dict[int, int] = {}
    for r in await latest_updates(conn, rollout_id):
        mid = int(r["machine_id"])
        if mid not in machines:
            continue
        if r["state"] == "done" or (r["state"] != "failed" and mid not in failed_before):
            out[mid] = int(r["wave_id"])
    return out


async def _queue_activation(
    conn: BaseDBAsyncClient,
    actor: str,
    rollout: Rollout,
    machine_id: int,
    soaked: datetime | None,
    now: datetime,
) -> None:
    after = max(now, soaked) if soaked is not None else now
    activation = await Activity.create(
        machine_id=machine_id,
        kind=ActivityKind.KERNEL_UPDATE.value,
        state="queued",
        estimate_minutes=KINDS[ActivityKind.KERNEL_UPDATE].default_estimate,
        params={"kernel": rollout.kernel} if rollout.kernel else {},
        not_before=after,
        rollout_id=rollout.id,
        requested_by=actor,
        using_db=conn,
    )
    await audit.record(
        actor,
        "activity.queue",
        activation,
        {"kind": activation.kind, "rollout": rollout.name, "why": "activation given back"},
        connection=conn,
    )
