"""The watchdog: a window still running well past its end is flagged and the operators told.

A window runs long when the host agent died, hangs, or a guest does not come back. Each
such window is flagged once (``Window.stuck_at``, an audit event ``window.stuck``) and the
operators get one mail (``WindowStuck`` to ``operator_contacts``); the gauge
``fenster_windows_stuck`` and the alert FensterWindowStuck follow the same rule. A led duty
of `fenster serve` (api.app), every minute.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

from tortoise.transactions import in_transaction

from api.effects import window_stuck_key
from api.models import Window
from api.notices import WindowStuck
from api.services import audit, outbox
from api.settings import Settings

__all__ = ["ACTOR", "STUCK_AFTER", "flag_stuck", "run_periodic"]

log = logging.getLogger(__name__)

ACTOR = "system:watchdog"
# A running window this long past its end is "stuck in maintenance".
STUCK_AFTER = timedelta(minutes=30)


async def flag_stuck(settings: Settings, now: datetime | None = None) -> list[str]:
    """Flag every running window past its end by more than STUCK_AFTER and not yet flagged;
    returns their uids."""
    now = now or datetime.now(UTC)
    late = await Window.filter(
        state="running", ends_at__lt=now - STUCK_AFTER, stuck_at__isnull=True
    ).select_related("machine__group", "machine__host")
    flagged = []
    for window in late:
        minutes = int((now - window.ends_at).total_seconds() // 60)
        machine = window.machine
        host = machine.host.name if machine.host is not None else ""
        async with in_transaction() as conn:
            changed = (
                await Window.filter(id=window.id, stuck_at__isnull=True)
                .using_db(conn)
                .update(stuck_at=now)
            )
            if not changed:
                continue  # flagged meanwhile (another process)
            await audit.record(
                ACTOR,
                "window.stuck",
                window,
                {"minutes_over": minutes, "host": host, "agent": window.claimed_by},
                connection=conn,
            )
            if settings.operator_list:
                await outbox.enqueue(
                    WindowStuck(
                        host=host,
                        agent=window.claimed_by or "",
                        minutes_over=minutes,
                    ),
                    group=machine.group,
                    window=window,
                    dedupe_key=window_stuck_key(window.uid),
                    recipients=settings.operator_list,
                    connection=conn,
                )
        log.warning(
            "window %s of %s on %s is still running %d minutes after its end",
            window.uid,
            machine.name,
            host or "?",
            minutes,
        )
        flagged.append(window.uid)
    if flagged and not settings.operator_list:
        log.warning("no operator_contacts set: the stuck windows are flagged but nobody is mailed")
    return flagged


async def run_periodic(settings: Settings) -> list[str]:
    return await flag_stuck(settings)
