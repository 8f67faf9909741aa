"""What guest agents do: ask for their machine's due guest work, start it, report it.

A guest agent runs inside one VM with a guest token scoped to that machine; anything else reads
as not found. Which kinds are a guest agent's is the kinds registry's word
(``Executor.GUEST_AGENT``). Every call is idempotent: starting a running activity again, or
sending the same report again, changes nothing; a different report for a finished activity is
refused.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.expressions import Q
from tortoise.transactions import in_transaction

from api.errors import NotFound, ValidationError
from api.kinds import Executor, carried_out_by
from api.models import Activity, Machine, Window
from api.rules import MAX_MEMORY_MIB, Collector
from api.services import audit
from api.services.rollout_engine import released
from api.services.window_result import tell_result

__all__ = [
    "GUEST_KINDS",
    "MAX_LOG",
    "MAX_PACKAGES",
    "GuestFacts",
    "GuestReport",
    "check_facts",
    "due_updates",
    "observe",
    "report_facts",
    "report_update",
    "start_update",
]

GUEST_KINDS = carried_out_by(Executor.GUEST_AGENT)
MAX_LOG = 16 * 1024  # characters of the log's tail
MAX_PACKAGES = 1000
MAX_PACKAGE = 200  # characters of one changed package's line
MAX_TEXT = {"kernel": 64, "cpu_model": 200}
OPEN = ("scheduled", "running")


@dataclass(frozen=True, slots=True)
class GuestFacts:
    """What the guest sees of itself: ``uname -r``, its swap, the CPU model in /proc/cpuinfo."""

    kernel: str | None = None
    swap_mib: int | None = None
    cpu_model: str | None = None


@dataclass(frozen=True, slots=True)
class GuestReport:
    activity_id: int
    outcome: str  # "done" | "failed"
    exit_code: int | None  # None: the command's end is unknown (timeout, agent interrupted)
    log: str = ""
    packages: Sequence[str] = ()
    facts: GuestFacts = field(default_factory=GuestFacts)


def _due(now: datetime) -> Q:
    """Running (the agent's own, in progress), or scheduled and its time has come: at its
    ``not_before`` without a window, at its window's start within one; a rollout's only while
    the wave engine runs the rollout (``rollout_engine.released``)."""
    come = Q(window_id__isnull=True) & (Q(not_before__isnull=True) | Q(not_before__lte=now))
    in_window = Q(window_id__isnull=False) & Q(window__starts_at__lte=now)
    return Q(state="running") | (Q(state="scheduled") & (come | in_window) & released())


async def due_updates(machine_id: int, now: datetime | None = None) -> list[Activity]:
    """The guest work of ``machine_id`` that is due now, oldest first."""
    now = now or datetime.now(UTC)
    return (
        await Activity.filter(_due(now), machine_id=machine_id, kind__in=GUEST_KINDS)
        .order_by("id")
        .all()
    )


async def _own(machine_id: int, activity_id: int, conn: BaseDBAsyncClient) -> Activity:
    activity = (
        await Activity.filter(id=activity_id, machine_id=machine_id, kind__in=GUEST_KINDS)
        .select_for_update()
        .using_db(conn)
        .first()
    )
    if activity is None:
        raise NotFound("activity", activity_id)
    return activity


async def start_update(
    actor: str, machine_id: int, activity_id: int, now: datetime | None = None
) -> Activity:
    """scheduled -> running (one more attempt). Starting a running one again is a no-op; one
    whose time has not come, or that is finished, is refused."""
    now = now or datetime.now(UTC)
    async with in_transaction() as conn:
        activity = await _own(machine_id, activity_id, conn)
        if activity.state == "running":
            return activity
        if activity.state != "scheduled":
            raise ValidationError.single("activity", f"is {activity.state}, not scheduled")
        due = await Activity.filter(_due(now), id=activity.id).using_db(conn).exists()
        if not due:
            raise ValidationError.single("activity", "its time has not come yet")
        activity.transition("running")
        activity.attempts += 1
        await activity.save(using_db=conn)
        await audit.record(actor, "activity.start", activity, connection=conn)
    return activity


def _check(report: GuestReport) -> None:
    c = Collector()
    if report.outcome not in ("done", "failed"):
        c.add("outcome", "must be done or failed")
    if report.exit_code is not None and not -(2**31) <= report.exit_code < 2**31:
        c.add("exit_code", "must be a 32-bit whole number")
    if report.outcome == "done" and report.exit_code not in (0, None):
        c.add("exit_code", "an update that exited non-zero is not done")
    if len(report.log) > MAX_LOG:
        c.add("log", f"send at most the last {MAX_LOG} characters of the log")
    if len(report.packages) > MAX_PACKAGES:
        c.add("packages", f"at most {MAX_PACKAGES} changed packages")
    for i, p in enumerate(report.packages[:MAX_PACKAGES]):
        if not p or len(p) > MAX_PACKAGE or not p.isprintable():
            c.add(f"packages[{i}]", f"1 to {MAX_PACKAGE} printable characters")
    check_facts(c, report.facts)
    c.raise_if_any()


def check_facts(c: Collector, f: GuestFacts) -> None:
    """Collect what is wrong with a guest's facts (under ``facts.``)."""
    for name, value in (("kernel", f.kernel), ("cpu_model", f.cpu_model)):
        bad = value is not None and (len(value) > MAX_TEXT[name] or not value.isprintable())
        if value == "" or bad:
            c.add(f"facts.{name}", f"1 to {MAX_TEXT[name]} printable characters")
    if f.swap_mib is not None and not 0 <= f.swap_mib <= MAX_MEMORY_MIB:
        c.add("facts.swap_mib", "must be between 0 and 16 TiB")


def _same(activity: Activity, report: GuestReport) -> bool:
    return (
        activity.state == report.outcome
        and activity.exit_code == report.exit_code
        and (activity.log or "") == report.log
        and list(activity.changed_packages or []) == list(report.packages)
    )


async def report_update(
    actor: str, machine_id: int, report: GuestReport, now: datetime | None = None
) -> Activity:
    """Record a running activity's outcome, exit code, log tail and changed packages, and the
    machine's facts (the guest's running kernel, the observed swap, the guest's CPU model).
    The same report again changes nothing; a different one for a finished activity is
    refused."""
    _check(report)
    now = now or datetime.now(UTC)
    async with in_transaction() as conn:
        activity = await _own(machine_id, report.activity_id, conn)
        if activity.state in ("done", "failed"):
            if not _same(activity, report):
                raise ValidationError.single(
                    "activity", "differs from the report this activity already has"
                )
            return activity
        if activity.state != "running":
            raise ValidationError.single("activity", f"is {activity.state}; start it first")
        activity.transition(report.outcome)
        activity.exit_code = report.exit_code
        activity.log = report.log
        activity.changed_packages = list(report.packages)
        activity.finished_at = now
        await activity.save(using_db=conn)
        await audit.record(
            actor,
            "activity.report",
            activity,
            {"outcome": report.outcome, "exit_code": report.exit_code},
            connection=conn,
        )
        if activity.window_id is not None:  # its window's result mail may wait for it
            window = await Window.get(id=activity.window_id, using_db=conn)
            await tell_result(conn, window)
        await observe(actor, machine_id, report.facts, now, conn)
    return activity


async def observe(
    actor: str, machine_id: int, f: GuestFacts, now: datetime, conn: BaseDBAsyncClient
) -> Machine:
    """Record the guest's facts (those it sent) and that its agent reported now."""
    machine = await Machine.filter(id=machine_id).select_for_update().using_db(conn).get()
    values = {
        "guest_kernel": f.kernel,
        "observed_swap_mib": f.swap_mib,
        "guest_cpu_model": f.cpu_model,
    }
    diff = {
        k: [getattr(machine, k), v]
        for k, v in values.items()
        if v is not None and getattr(machine, k) != v
    }
    for k, (_, v) in diff.items():
        setattr(machine, k, v)
    machine.guest_reported_at = now
    if diff:
        machine.observed_at = now
        await audit.record(actor, "machine.observe", machine, diff, connection=conn)
    await machine.save(using_db=conn)
    return machine


async def report_facts(
    actor: str, machine_id: int, facts: GuestFacts, now: datetime | None = None
) -> Machine:
    """The guest's facts without an update (on start-up and periodically): operators see a
    guest's warnings before any rollout, and the report says the guest agent runs."""
    c = Collector()
    check_facts(c, facts)
    c.raise_if_any()
    now = now or datetime.now(UTC)
    async with in_transaction() as conn:
        return await observe(actor, machine_id, facts, now, conn)
