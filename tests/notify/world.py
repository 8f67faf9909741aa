"""A small world in the database for mailer and feed tests: a group, a host, VMs, windows."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from api.models import Activity, Machine, ResourceGroup, Window
from api.notices import WindowScheduled
from api.services import groups, outbox

__all__ = ["T0", "make_group", "make_window"]

T0 = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)


async def make_group(name: str = "acme", **policy: object) -> ResourceGroup:
    """Created through the service, so its group_settings mail is queued as in production."""
    policy.setdefault("contacts", ["ops@acme.example", "cto@acme.example"])
    policy.setdefault("timezone", "Europe/Berlin")
    policy.setdefault("title", "ACME Webshop")
    return await groups.create_group("test", name=name, **policy)


async def make_window(
    group: ResourceGroup,
    machine: str,
    starts_at: datetime,
    *,
    minutes: int = 120,
    kinds: tuple[str, ...] = ("kernel_update", "memory_resize"),
    notify: bool | None = True,  # None or False: no mail queued
    state: str = "planned",
) -> Window:
    host = await Machine.get_or_none(name=f"{group.name}-host")
    if host is None:
        host = await Machine.create(name=f"{group.name}-host", kind="host", group=group)
    vm = await Machine.get_or_none(name=machine)
    if vm is None:
        vm = await Machine.create(name=machine, kind="vm", group=group, host=host)
    window = await Window.create(
        machine=vm,
        starts_at=starts_at,
        ends_at=starts_at + timedelta(minutes=minutes),
        reason="first free day of the group's window after the notice period",
        state=state,
    )
    for kind in kinds:
        params = {"kernel": "2.6.38"} if kind == "kernel_update" else {}
        if kind == "memory_resize":
            params = {"memory_mib": 4096}
        await Activity.create(
            machine=vm,
            kind=kind,
            estimate_minutes=10,
            state="scheduled",
            window=window,
            params=params,
        )
    if notify:
        await outbox.enqueue(
            WindowScheduled(window.sequence, window.reason), group=group, window=window
        )
    return window
