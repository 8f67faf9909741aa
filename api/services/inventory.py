"""What a host agent sees of its host: the inventory report (observed values).

Every value is checked before it is stored; one domain that cannot be taken is rejected alone
(its VM marked, the reason audited), and the host's VMs the report does not name are marked
missing. Repeating a report with the same content changes nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.expressions import Q
from tortoise.transactions import in_transaction

from api.errors import NotFound
from api.models import Machine
from api.rules import MAX_MEMORY_MIB, Collector
from api.services import audit

__all__ = [
    "MAX_DOMAINS",
    "MISSING",
    "REJECTED",
    "DomainReport",
    "InventoryOutcome",
    "check_text",
    "host_and_guests",
    "report_inventory",
]

MAX_TEXT = {"state": 32, "kernel": 64, "cpu_model": 200, "name": 200, "cpu_mode": 32}
MISSING = "missing"  # observed_state of a VM of this host that the host no longer has
REJECTED = "report rejected"  # observed_state of a VM whose report could not be taken
MAX_DOMAINS = 1000  # VMs one host reports at once


@dataclass(frozen=True)
class DomainReport:
    name: str
    state: str
    memory_mib: int
    vcpus: int
    kernel: str | None = None
    cpu_mode: str | None = None


@dataclass
class InventoryOutcome:
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    unknown: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    rejected: list[tuple[str, str]] = field(default_factory=list)  # (domain, why)


def host_and_guests(host_id: int) -> Q:
    """The host's own row and its VMs': all an agent of that host may touch."""
    return Q(id=host_id) | Q(host_id=host_id)


def check_text(c: Collector, name: str, value: str | None, key: str) -> None:
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
    check_text(c, "cpu_model", cpu_model, "cpu_model")
    check_text(c, "kernel", kernel, "kernel")
    check_text(c, "state", state, "state")
    if len(domains) > MAX_DOMAINS:
        c.add("domains", f"at most {MAX_DOMAINS} domains in one report")
    c.raise_if_any()


def _domain_problems(d: DomainReport) -> list[str]:
    """Why one domain's report cannot be taken (empty: it can)."""
    c = Collector()
    check_text(c, "name", d.name, "name")
    if not 0 <= d.memory_mib <= MAX_MEMORY_MIB:
        c.add("memory_mib", "must be between 0 and 16 TiB")
    if not 0 <= d.vcpus <= 1024:
        c.add("vcpus", "must be between 0 and 1024")
    check_text(c, "state", d.state, "state")
    check_text(c, "kernel", d.kernel, "kernel")
    check_text(c, "cpu_mode", d.cpu_mode, "cpu_mode")
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
        rows = await Machine.filter(host_and_guests(host_id)).select_for_update().using_db(conn)
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
