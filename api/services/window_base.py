"""What the hand-made window operations share: a group's policy, work of activities, times in
the group's zone, a slot finder that knows the neighbours' windows, and the outbox row."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from datetime import datetime

from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.expressions import Q

from api.kinds import needs_reboot
from api.models import Activity, Machine, ResourceGroup, Window
from api.models import Freeze as FreezeRow
from api.notices import Notice
from api.scheduling import MachineIn, Policy, SlotFinder, Work, zone
from api.scheduling.fit import Freeze
from api.scheduling.manual import when
from api.scheduling.slots import HostIn
from api.scheduling.texts import duration_label, local_label
from api.services import outbox
from api.services.scheduling_load import policy_of

__all__ = [
    "announce",
    "group_policy",
    "host_reboot_reason",
    "machine_in",
    "slot_finder",
    "when_label",
    "work_of",
]


def group_policy(group: ResourceGroup) -> Policy:
    return policy_of(group.timezone, group.window_start, group.window_minutes, group.weekdays)


def work_of(acts: Iterable[Activity]) -> list[Work]:
    return [Work(a.estimate_minutes, needs_reboot(a.kind, a.params)) for a in acts]


def when_label(group: ResourceGroup, instant: datetime) -> str:
    return when(group.timezone, instant)


def host_reboot_reason(timezone: str, notice_minutes: int, start: datetime, is_host: bool) -> str:
    """The reason of a forced host-reboot window (the host's own, or one of its VMs')."""
    notice = (
        f"announced with the group's notice of {duration_label(notice_minutes)}"
        if notice_minutes
        else "announced at once (the group asks for no notice)"
    )
    when = f"{local_label(start.astimezone(zone(timezone)))} {timezone}"
    return (
        f"forced: {'this host' if is_host else 'its host'} reboots at {when}; "
        f"outside the regular window, {notice}"
    )


def machine_in(m: Machine) -> MachineIn:
    return MachineIn(
        m.id,
        m.name,
        m.group_id,
        m.host_id,
        m.redundancy or None,
        m.auto_schedule,
    )


async def slot_finder(
    conn: BaseDBAsyncClient, machine: Machine, *, skip_window: int | None = None
) -> SlotFinder:
    """A slot finder that knows the open windows sharing a host, a redundancy set or the machine."""
    neighbours = Machine.filter(id=machine.id)
    if machine.host_id is not None:
        neighbours = Machine.filter(host_id=machine.host_id)
    machines = {m.id: m for m in await neighbours.using_db(conn)}
    machines[machine.id] = machine
    if machine.redundancy:
        same_set = Machine.filter(
            group_id=machine.group_id,
            redundancy=machine.redundancy,
        )
        for m in await same_set.using_db(conn):
            machines[m.id] = m
    hosts: dict[int, HostIn] = {}
    if machine.host_id is not None:
        host = await Machine.get(id=machine.host_id, using_db=conn)
        hosts[host.id] = HostIn(host.id, host.name, host.capacity)
    freezes: dict[int | None, list[Freeze]] = defaultdict(list)
    groups = {m.group_id for m in machines.values()}
    for f in await FreezeRow.filter(Q(group_id__in=groups) | Q(group_id=None)).using_db(conn):
        freezes[f.group_id].append(Freeze(f.starts_at, f.ends_at, f.reason))
    finder = SlotFinder({k: machine_in(m) for k, m in machines.items()}, hosts, freezes)
    open_windows = Window.filter(machine_id__in=list(machines), state__in=["planned", "running"])
    for w in await open_windows.using_db(conn):
        if w.id != skip_window:
            finder.book(finder.machines[w.machine_id], w.starts_at, w.ends_at)
    return finder


async def announce(
    conn: BaseDBAsyncClient, notice: Notice, group: ResourceGroup, window: Window
) -> None:
    await outbox.enqueue(notice, group=group, window=window, connection=conn)
