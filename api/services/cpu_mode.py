"""Showing guests the host CPU: queue a ``cpu_mode`` activity (api.kinds) for every VM whose
definition's CPU mode, as its host agent reports it (``Machine.observed_cpu_mode``), is not
the one wanted. An operator's action (``fenster cpu-mode``); the planner then gives each its
window, and the host agent sets the mode and restarts the guest once in it."""

from __future__ import annotations

from dataclasses import dataclass, field

from tortoise.transactions import in_transaction

from api.kinds import CPU_MODES, ActivityKind, check_params
from api.models import Activity, Machine
from api.services.activities import queue_activity

__all__ = ["OPEN", "CpuModeQueue", "queue_cpu_mode"]

OPEN = ("queued", "scheduled", "running")  # an activity still to be carried out


@dataclass
class CpuModeQueue:
    mode: str
    queued: list[str] = field(default_factory=list)  # VMs that got a cpu_mode activity
    already: list[str] = field(default_factory=list)  # VMs that have an open one
    unknown: int = 0  # VMs whose host agent has not reported a CPU mode


async def queue_cpu_mode(
    actor: str, mode: str = CPU_MODES[0], dry_run: bool = False
) -> CpuModeQueue:
    """Queue ``mode`` for the VMs whose reported CPU mode differs (none twice: a VM with an
    open cpu_mode activity is left as it is). ``dry_run`` only lists them."""
    params = check_params(ActivityKind.CPU_MODE, {"mode": mode})
    out = CpuModeQueue(params["mode"])
    vms = await Machine.filter(kind="vm").order_by("name")
    rows = await Activity.filter(kind=ActivityKind.CPU_MODE, state__in=OPEN).values_list(
        "machine_id", flat=True
    )
    busy = {int(r) for r in rows}  # type: ignore[call-overload]
    async with in_transaction() as conn:
        for vm in vms:
            if vm.observed_cpu_mode is None:
                out.unknown += 1
            elif vm.observed_cpu_mode == out.mode:
                continue
            elif vm.id in busy:
                out.already.append(vm.name)
            else:
                out.queued.append(vm.name)
                if not dry_run:
                    await queue_activity(
                        actor, vm, ActivityKind.CPU_MODE, params=params, connection=conn
                    )
    return out
