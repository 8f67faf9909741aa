"""What host agents write: inventory (observed values), starting and finishing windows.

Every call is idempotent: repeating it with the same content changes nothing. An agent only
ever touches its own host and the VMs placed on it; anything else reads as not found.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.expressions import Q
from tortoise.transactions import in_transaction

from api.errors import NotFound, ValidationError
from api.kinds import ActivityKind, Executor, carried_out_by
from api.models import Activity, Machine, Window
from api.models.keys import where
from api.rules import MAX_MEMORY_MIB, Collector
from api.services import audit, guest_down
from api.services.guest_down import GuestDown
from api.services.window_result import tell_result

__all__ = [
    "ActivityResult",
    "DomainReport",
    "GuestDown",
    "InventoryOutcome",
    "due_work",
    "finish_window",
    "report_inventory",
    "start_window",
]

MAX_TEXT = {"state": 32, "kernel": 64, "cpu_model": 200, "name": 200, "cpu_mode": 32}
MISSING = "missing"  # observed_state of a VM of this host that the host no longer has
REJECTED = "report rejected"  # observed_state of a VM whose report could not be taken
MAX_DOMAINS = 1000  # VMs one host reports at once
# the kinds a host agent carries out (the registry's word); the guest agent's stay scheduled
# in a started window for the guest agent (api.services.guests)
HOST_KINDS = carried_out_by(Executor.HOST_AGENT)


@dataclass(frozen=True)
class DomainReport:
    name: str
    state: str
    memory_mib: int
    vcpus: int
    kernel: str | None = None
    cpu_mode: str | None = None


@dataclass(frozen=True)
class ActivityResult:
    activity_id: int
    outcome: str  # "done" | "failed"
    log: str = ""


@dataclass
class InventoryOutcome:
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    unknown: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    rejected: list[tuple[str, str]] = field(default_factory=list)  # (domain, why)


def _mine(host_id: int) -> Q:
    return Q(id=host_id) | Q(host_id=host_id)


def _check_text(c: Collector, name: str, value: str | None, key: str) -> None:
    if value is not None and (len(value) > MAX_TEXT[key] or not value.isprintable()):
        c.add(name, f"at most {MAX_TEXT[key]} printable characters")


def _check_host(
    cpu_model: str | None,
    kernel: str | None,
    state: str | None,
    memory_mib: int | None,
    domains: Sequence[DomainReport],
) -> None:
    c = Collector()
    if memory_mib is not None and not 0 < memory_mib <= MAX_MEMORY_MIB:
        c.add("memory_mib", "must be between 1 MiB and 16 TiB")
    _check_text(c, "cpu_model", cpu_model, "cpu_model")
    _check_text(c, "kernel", kernel, "kernel")
    _check_text(c, "state", state, "state")
    if len(domains) > MAX_DOMAINS:
        c.add("domains", f"at most {MAX_DOMAINS} domains in one report")
    c.raise_if_any()


def _domain_problems(d: DomainReport) -> list[str]:
    """Why one domain's report cannot be taken (empty: it can)."""
    c = Collector()
    _check_text(c, "name", d.name, "name")
    if not 0 <= d.memory_mib <= MAX_MEMORY_MIB:
        c.add("memory_mib", "must be between 0 and 16 TiB")
    if not 0 <= d.vcpus <= 1024:
        c.add("vcpus", "must be between 0 and 1024")
    _check_text(c, "state", d.state, "state")
    _check_text(c, "kernel", d.kernel, "kernel")
    _check_text(c, "cpu_mode", d.cpu_mode, "cpu_mode")
    return [f"{e.field}: {e.message}" for e in c.errors]


CLEARED = object()  # a domain that boots no kernel of its own: the observed kernel is cleared


def _apply(m: Machine, values: dict[str, object], now: datetime) -> bool:
    values = {k: (None if v is CLEARED else v) for k, v in values.items() if v is not None}
    changed = {k: v for k, v in values.items() if getattr(m, k) != v}
    for k, v in changed.items():
        setattr(m, k, v)
    if changed:
        m.observed_at = now
    return bool(changed)


async def report_inventory(
    actor: str,
    host_id: int,
    *,
    cpu_model: str | None = None,
    kernel: str | None = None,
    state: str | None = None,
    memory_mib: int | None = None,
    domains: Sequence[DomainReport] = (),
) -> InventoryOutcome:
    """Store what the host's agent sees; only values that differ are written. A domain whose
    report cannot be taken is rejected alone (its VM marked, the reason audited); the VMs of
    this host that the report does not name are marked missing."""
    _check_host(cpu_model, kernel, state, memory_mib, domains)
    host_values: dict[str, object] = {
        "cpu_model": cpu_model,
        "observed_kernel": kernel,
        "observed_state": state,
        "observed_memory_mib": memory_mib,
    }
    now = datetime.now(UTC)
    result = InventoryOutcome()
    async with in_transaction() as conn:
        # locked (PostgreSQL): the same report sent twice at once changes the rows once
        rows = await Machine.filter(_mine(host_id)).select_for_update().using_db(conn)
        machines = {m.name: m for m in rows}
        host = next((m for m in machines.values() if m.id == host_id), None)
        if host is None:
            raise NotFound("machine", host_id)
        reports: list[tuple[Machine, dict[str, object]]] = [(host, host_values)]
        seen: set[str] = set()
        for d in domains:
            problems = _domain_problems(d)
            if d.name in seen:
                problems.append(f"'{d.name[:200]}' is reported twice")
            seen.add(d.name)
            vm = machines.get(d.name)
            if vm is not None and vm.id == host_id:
                vm = None
            if problems:
                result.rejected.append((d.name[:200], "; ".join(problems)))
                if vm is not None:
                    reports.append((vm, {"observed_state": REJECTED}))
                    await audit.record(
                        actor, "machine.observe_rejected", vm, {"why": problems}, connection=conn
                    )
                continue
            if vm is None:
                result.unknown.append(d.name)
                continue
            reports.append((vm, _observed(d)))
        for vm in machines.values():
            if vm.id != host_id and vm.name not in seen:
                result.missing.append(vm.name)
                reports.append((vm, {"observed_state": MISSING}))
        await _store(conn, actor, reports, now, result)
    return result


async def _store(
    conn: BaseDBAsyncClient,
    actor: str,
    reports: list[tuple[Machine, dict[str, object]]],
    now: datetime,
    result: InventoryOutcome,
) -> None:
    """Write each machine's reported values that differ, audited with the difference."""
    for machine, values in reports:
        before = {k: getattr(machine, k) for k in values}
        if _apply(machine, values, now):
            await machine.save(using_db=conn)
            after = {k: getattr(machine, k) for k in values}
            diff = {k: [before[k], after[k]] for k in values if before[k] != after[k]}
            await audit.record(actor, "machine.observe", machine, diff, connection=conn)
            result.updated.append(machine.name)
        elif machine.name not in result.updated:
            result.unchanged.append(machine.name)


def _observed(d: DomainReport) -> dict[str, object]:
    return {
        "observed_state": d.state,
        "observed_memory_mib": d.memory_mib,
        "observed_cores": d.vcpus,
        "observed_kernel": d.kernel or CLEARED,
        "observed_cpu_mode": d.cpu_mode,
    }


async def due_work(
    host_id: int, now: datetime | None = None, agent: str | None = None
) -> list[Window]:
    """Windows of the host and its VMs that are running, or planned and whose start has come.
    With ``agent``, running windows claimed by another agent are left out."""
    now = now or datetime.now(UTC)
    ids = await Machine.filter(_mine(host_id)).values_list("id", flat=True)
    running = Q(state="running")
    if agent is not None:
        running &= Q(claimed_by=agent) | Q(claimed_by__isnull=True)
    due = await Window.filter(
        running | Q(state="planned", starts_at__lte=now, ends_at__gt=now),
        machine_id__in=list(ids),
    ).order_by("starts_at", "id")
    held = await awaiting_update([w.id for w in due if w.state == "planned"])
    return [w for w in due if w.id not in held]


async def awaiting_update(window_ids: Sequence[int]) -> set[int]:
    """The windows among ``window_ids`` that must not start yet: they activate a rollout's
    work on a machine whose system update of that rollout is not done. The guest installs the
    new kernel; a reboot before it has finished would boot the old one or break the update.
    A window held past its end is missed and booked again like any other."""
    if not window_ids:
        return set()
    rollout_work = await Activity.filter(
        window_id__in=list(window_ids), rollout_id__isnull=False
    ).values_list("window_id", "machine_id", "rollout_id")
    if not rollout_work:
        return set()
    pending = set(
        await Activity.filter(
            kind=ActivityKind.SYSTEM_UPDATE,
            machine_id__in={m for _, m, _ in rollout_work},
            rollout_id__in={r for _, _, r in rollout_work},
        )
        .exclude(state="done")
        .values_list("machine_id", "rollout_id")
    )
    return {w for w, m, r in rollout_work if (m, r) in pending}


def _check_claim(window: Window, agent: str | None) -> None:
    """One window, one agent: refuse an agent other than the one that started the window."""
    c = Collector()
    _check_text(c, "agent", agent, "name")
    c.raise_if_any()
    if window.claimed_by is not None and agent != window.claimed_by:
        raise ValidationError.single(
            "window",
            f"is claimed by agent {window.claimed_by} (started "
            f"{window.started_at.isoformat() if window.started_at else 'earlier'}); "
            "leave its guests alone",
        )


async def _own_window(host_id: int, uid: str, conn: BaseDBAsyncClient) -> Window:
    ids = await Machine.filter(_mine(host_id)).using_db(conn).values_list("id", flat=True)
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
        window = await _own_window(host_id, uid, conn)
        if window.state == "running":
            _check_claim(window, agent)
            return window
        if window.state == "planned" and now < window.starts_at:
            raise ValidationError.single("window", f"starts at {window.starts_at.isoformat()}")
        if window.state == "planned" and now >= window.ends_at:
            raise ValidationError.single("window", "has already ended; it will be rescheduled")
        if window.id in await awaiting_update([window.id]):
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
        window = await _own_window(host_id, uid, conn)
        if agent is not None:
            _check_claim(window, agent)
        activities = {a.id: a for a in await Activity.filter(window_id=window.id).using_db(conn)}
        _check_results(window, activities, results)
        mine = {m.id: m for m in await Machine.filter(_mine(host_id)).using_db(conn)}
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
