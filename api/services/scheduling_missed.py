"""Windows that ended without being started: cancelled, announced, their work queued again.

The host agent refuses to start a window after its end (api.services.agents.start_window), so
such a window would stay "planned" in the past for ever and its activities "scheduled" in it,
never planned again. Each pass releases them first; the same pass then plans the work anew,
with the group's notice.
"""

from __future__ import annotations

from datetime import datetime

from tortoise.backends.base.client import BaseDBAsyncClient

from api.models import Activity, Window
from api.notices import WindowCancelled
from api.services import audit, outbox

__all__ = ["MISSED", "release_missed"]

MISSED = (
    "not started before its end (the host's agent did not carry it out); its work is "
    "scheduled again with the usual notice"
)


async def release_missed(conn: BaseDBAsyncClient, now: datetime, actor: str) -> int:
    """Cancel every planned window that ended at or before ``now``; returns how many."""
    missed = (
        await Window.filter(state="planned", ends_at__lte=now)
        .select_related("machine__group")
        .using_db(conn)
        .order_by("id")
    )
    for window in missed:
        window.transition("cancelled")
        window.touch()
        window.reason = f"{window.reason}\n{MISSED}"
        await window.save(using_db=conn)
        work = await Activity.filter(window_id=window.id, state="scheduled").using_db(conn)
        # a VM's reboot for its host's reboot has no purpose without it: it is dropped; the
        # host's own host_reboot waits in the queue for an operator's new forced reboot
        for_host = [a for a in work if a.for_host_reboot_id is not None]
        work = [a for a in work if a not in for_host]
        for a in work:
            a.transition("queued")
        for a in for_host:
            a.transition("cancelled")
        await (
            Activity.filter(id__in=[a.id for a in work])
            .using_db(conn)
            .update(state="queued", window_id=None)
        )
        await (
            Activity.filter(id__in=[a.id for a in for_host])
            .using_db(conn)
            .update(state="cancelled")
        )
        await audit.record(
            actor,
            "window.miss",
            window,
            {"machine": window.machine.name, "requeued": [a.id for a in work]},
            connection=conn,
        )
        await outbox.enqueue(
            WindowCancelled(sequence=window.sequence, reason=MISSED),
            group=window.machine.group,
            window=window,
            connection=conn,
        )
    return len(missed)
