"""GUEST DOWN: a guest that ran before its window and that the host agent could not start
again (neither with the new definition nor rolled back to the one that last booted).

The agent names such guests in finishWindow; the window is flagged at once
(``Window.guest_down_at`` and ``guest_down``), the event audited (``window.guest_down``) and
the operators mailed (``GuestDown`` to ``operator_contacts``), once per window: the flag is
set only by the report that finishes the window, and a repeated report changes nothing. The
watchdog (api.services.watchdog) still catches a window whose agent never reports.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from tortoise.backends.base.client import BaseDBAsyncClient

from api.effects import guest_down_key
from api.models import Machine, ResourceGroup, Window
from api.notices import GuestDown as GuestDownNotice
from api.rules import Collector
from api.services import audit, outbox

__all__ = ["MAX_REASON", "GuestDown", "check", "flag"]

log = logging.getLogger(__name__)
MAX_REASON = 2000


@dataclass(frozen=True)
class GuestDown:
    machine: str  # the guest's name
    reason: str  # libvirt's error


def check(down: Sequence[GuestDown], window: Window, machines: dict[int, Machine]) -> None:
    """Each guest named is the window's machine or, for a host's window, a VM of that host
    (``machines``: the reporting host and its VMs by id); else a ValidationError."""
    c = Collector()
    machine = machines.get(window.machine_id)
    allowed = set()
    if machine is not None:
        allowed.add(machine.name)
        if machine.kind == "host":
            allowed |= {m.name for m in machines.values() if m.host_id == machine.id}
    if len(down) > 1000:
        c.add("guestsDown", "at most 1000 guests")
    for i, g in enumerate(down[:1000]):
        if g.machine not in allowed:
            c.add(f"guestsDown[{i}].machine", "is not a guest of this window")
        if not g.reason.strip() or len(g.reason) > MAX_REASON:
            c.add(f"guestsDown[{i}].reason", f"1 to {MAX_REASON} characters")
    c.raise_if_any()


async def flag(
    conn: BaseDBAsyncClient,
    actor: str,
    window: Window,
    down: Sequence[GuestDown],
    *,
    host: str,
    agent: str | None,
    operators: Sequence[str],
    now: datetime,
) -> None:
    """Flag the window, audit it and mail the operators (nothing when ``down`` is empty)."""
    if not down:
        return
    lines = tuple(f"{g.machine}: {g.reason}" for g in down)
    window.guest_down_at = now
    window.guest_down = "\n".join(lines)
    await window.save(using_db=conn, update_fields=["guest_down_at", "guest_down"])
    await audit.record(
        actor,
        "window.guest_down",
        window,
        {"guests": list(lines), "host": host, "agent": agent},
        connection=conn,
    )
    log.error("GUEST DOWN after window %s: %s", window.uid, "; ".join(lines))
    if not operators:
        log.warning("no operator_contacts set: the window is flagged but nobody is mailed")
        return
    machine = await Machine.get(id=window.machine_id, using_db=conn)
    group = await ResourceGroup.get(id=machine.group_id, using_db=conn)
    await outbox.enqueue(
        GuestDownNotice(host=host, agent=agent or "", guests=lines),
        group=group,
        window=window,
        dedupe_key=guest_down_key(window.uid),
        recipients=list(operators),
        connection=conn,
    )
