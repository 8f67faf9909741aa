"""Machines: register, change desired configuration (which queues work), flags."""

from __future__ import annotations

from typing import Any

from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.transactions import in_transaction

from api.errors import NotFound, ValidationError
from api.kinds import BY_DESIRED_FIELD
from api.models import Activity, Machine, ResourceGroup, Window
from api.models.keys import where
from api.notices import WindowChanged
from api.services import audit, outbox
from api.services.activities import OPEN_STATES, queue_activity
from api.services.window_ops import cancel_activities
from api.settings import get_settings

__all__ = [
    "FLAG_FIELDS",
    "change_desired",
    "get_machine",
    "memory_cap",
    "register_machine",
    "set_flags",
]

FLAG_FIELDS = ("auto_schedule", "representative", "redundancy", "capacity")
CONFIG_FIELDS = (
    "name",
    "kind",
    "arch",
    "desired_cores",
    "desired_memory_mib",
    "desired_swap_mib",
    "desired_kernel",
)


async def memory_cap(host_id: int | None) -> tuple[int, str]:
    """The most memory a VM may have: the configured maximum, and no more than its host has
    (as its agent reported it)."""
    cap = (get_settings().max_vm_memory_mib, "the provider's maximum for a VM")
    host = await Machine.get_or_none(id=host_id) if host_id is not None else None
    if host is not None and host.observed_memory_mib is not None:
        host_mib = host.observed_memory_mib
        if host_mib < cap[0]:
            cap = (host_mib, f"the memory of its host {host.name}")
    return cap


async def get_machine(name: str) -> Machine:
    machine = await where(Machine.all(), name=name).first()
    if machine is None:
        raise NotFound("machine", name)
    return machine


async def register_machine(
    actor: str,
    *,
    name: str,
    group: ResourceGroup,
    kind: str = "vm",
    host: Machine | None = None,
    connection: BaseDBAsyncClient | None = None,
    **config: Any,
) -> Machine:
    allowed = {
        "arch",
        "desired_cores",
        "desired_memory_mib",
        "desired_swap_mib",
        "desired_kernel",
        "cpu_model",
        *FLAG_FIELDS,
    }
    unknown = set(config) - allowed
    if unknown:
        raise ValidationError.single(sorted(unknown)[0], "is not a machine setting")
    machine = Machine(name=name, group=group, kind=kind, host=host, **config)
    machine.check_rules(
        host_kind=host.kind if host else None,
        memory_cap=await memory_cap(host.id if host else None),
    )
    _check_capacity(machine.capacity)
    async with in_transaction() if connection is None else _same(connection) as conn:
        if await Machine.filter(name=name).using_db(conn).exists():
            raise ValidationError.single("name", f"a machine named '{name}' already exists")
        await machine.save(using_db=conn)
        await audit.record(
            actor,
            "machine.register",
            machine,
            {"kind": kind, "group": group.name, "host": host.name if host else None, **config},
            connection=conn,
        )
    return machine


async def change_desired(actor: str, machine: Machine, **changes: Any) -> list[Activity]:
    """Change desired memory, cores or kernel; a difference from the observed value queues
    the matching activity (one open activity per kind, updated in place), and going back to
    the observed value cancels it. Returns the activities queued or updated."""
    unknown = set(changes) - set(BY_DESIRED_FIELD)
    if unknown:
        raise ValidationError.single(sorted(unknown)[0], "cannot be changed this way")
    changes = {k: v for k, v in changes.items() if v is not None}
    current = {f: getattr(machine, f) for f in CONFIG_FIELDS}
    candidate = Machine(**{**current, **changes}, host_id=machine.host_id)
    candidate.check_rules(memory_cap=await memory_cap(machine.host_id))
    touched: list[Activity] = []
    withdrawn: list[Activity] = []
    async with in_transaction() as conn:
        for field, value in changes.items():
            kind, desired = BY_DESIRED_FIELD[field]
            key = desired.param
            observed = getattr(machine, desired.observed)
            old = getattr(machine, field)
            setattr(machine, field, value)
            open_ = (
                await Activity.filter(machine=machine, kind=kind, state__in=OPEN_STATES)
                .using_db(conn)
                .first()
            )
            differs = value != observed if observed is not None else value != old
            if open_ is not None and value == observed:
                if open_.state == "queued":
                    open_.transition("cancelled")
                    open_.log = f"cancelled: desired {key} is back at the observed {observed}"
                    await open_.save(using_db=conn)
                else:  # it has a window: the scheduler withdraws it and tells the customers
                    withdrawn.append(open_)
            elif open_ is not None:
                if (open_.params or {}).get(key) != value:
                    open_.params = {**open_.params, key: value}
                    await open_.save(using_db=conn)
                    await _announce_change(conn, machine, open_)
                touched.append(open_)
            elif differs:
                touched.append(
                    await queue_activity(actor, machine, kind, params={key: value}, connection=conn)
                )
        await machine.save(using_db=conn)
        await audit.record(actor, "machine.change_desired", machine, changes, connection=conn)
    if withdrawn:
        await cancel_activities(
            actor, withdrawn, reason="the desired value is back at the observed one"
        )
    return touched


async def _announce_change(conn: BaseDBAsyncClient, machine: Machine, activity: Activity) -> None:
    """Work inside a planned window changed: the window's SEQUENCE grows and its customers
    are told (the calendar event updates)."""
    if activity.state != "scheduled" or activity.window_id is None:
        return
    window = await Window.get(id=activity.window_id, using_db=conn)
    if window.state != "planned":
        return
    window.touch()
    await window.save(using_db=conn, update_fields=["sequence", "updated_at"])
    group = await ResourceGroup.get(id=machine.group_id, using_db=conn)
    await outbox.enqueue(
        WindowChanged(sequence=window.sequence, changed=(activity.id,)),
        group=group,
        window=window,
        connection=conn,
    )


async def set_flags(actor: str, machine: Machine, **flags: Any) -> Machine:
    unknown = set(flags) - set(FLAG_FIELDS)
    if unknown:
        raise ValidationError.single(sorted(unknown)[0], "is not a machine flag")
    if "capacity" in flags:
        _check_capacity(flags["capacity"])
    if flags.get("redundancy") is not None:
        from api.rules import check_name

        check_name(flags["redundancy"], "redundancy")
    async with in_transaction() as conn:
        for key, value in flags.items():
            setattr(machine, key, value)
        await machine.save(using_db=conn)
        await audit.record(actor, "machine.set_flags", machine, flags, connection=conn)
    return machine


def _check_capacity(value: object) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= 100:
        raise ValidationError.single("capacity", "a host takes 1 to 100 VMs in maintenance at once")


class _same:
    """Use the caller's connection as if it were a fresh transaction."""

    def __init__(self, conn: BaseDBAsyncClient) -> None:
        self.conn = conn

    async def __aenter__(self) -> BaseDBAsyncClient:
        return self.conn

    async def __aexit__(self, *exc: object) -> None:
        return None
