"""A window's result mail ("Maintenance completed" or "FAILED"), once everything in it has an
outcome.

A window may hold guest work (``api.kinds.Executor.GUEST_AGENT``: the system update) beside the
host agent's. The host agent finishes the window when its own work is done, and the guest work
in it may still be to run: a mail sent then listed nothing the customer could recognise as done.
So the mail waits until every activity of the window that was not cancelled has an outcome, and
lists each with its outcome and log line; whichever report comes last (the host agent's
``finishWindow`` or the guest agent's ``reportGuestUpdate``) sends it. The mail is "completed"
when every one is done, "FAILED" otherwise. A window without any activity left to report on
(all cancelled) sends no result mail: nothing happened that a customer would see.
"""

from __future__ import annotations

from tortoise.backends.base.client import BaseDBAsyncClient

from api.models import Activity, Machine, ResourceGroup, Window
from api.notices import ActivityOutcome, WindowCompleted, WindowFailed
from api.scheduling.texts import without_host
from api.services import outbox

__all__ = ["UNFINISHED", "tell_result"]

UNFINISHED = frozenset({"queued", "scheduled", "running"})


async def tell_result(conn: BaseDBAsyncClient, window: Window) -> bool:
    """Queue the result mail of a finished window to its group when nothing in it is left
    unfinished; True when it was queued (the outbox keeps it to once per window)."""
    if window.state not in ("completed", "failed"):
        return False
    rows = [
        a
        for a in await Activity.filter(window_id=window.id).using_db(conn).order_by("id")
        if a.state != "cancelled"
    ]
    if not rows or any(a.state in UNFINISHED for a in rows):
        return False
    machine = await Machine.get(id=window.machine_id, using_db=conn)
    group = await ResourceGroup.get(id=machine.group_id, using_db=conn)
    # the mail goes to the VM's customer: the logs without the host's name
    host_name = None
    if machine.kind == "vm" and machine.host_id is not None:
        host = await Machine.get_or_none(id=machine.host_id, using_db=conn)
        host_name = host.name if host else None
    ok = all(a.state == "done" for a in rows)
    result = WindowCompleted if ok else WindowFailed
    await outbox.enqueue(
        result(
            machine=machine.name,
            outcome="completed" if ok else "failed",
            activities=tuple(
                ActivityOutcome(a.kind, a.state, without_host(a.log or "", host_name)) for a in rows
            ),
        ),
        group=group,
        window=window,
        connection=conn,
    )
    return True
