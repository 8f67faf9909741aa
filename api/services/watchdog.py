"""The watchdog: windows past their end that something did not finish. A led duty of
`fenster serve` (api.app), every minute.

- **Stuck.** A window runs long when the host agent died, hangs, or a guest does not come
  back. Each such window is flagged once (``Window.stuck_at``, an audit event
  ``window.stuck``) and the operators get one mail (``WindowStuck`` to ``operator_contacts``);
  the gauge ``fenster_windows_stuck`` and the alert FensterWindowStuck follow the same rule.
- **No report.** A finished window's result mail waits for its guest work
  (``api.services.window_result``). Guest work the guest agent has not reported
  ``guest_report_hours`` after the window's end (a dead agent, one the customer removed)
  fails, its outcome "no report ..." (``api.outcomes.no_report``, audited
  ``activity.no_report``), and the result mail goes: "FAILED", listing it. A failed update is
  what every reader already understands (the mail, the feeds, a rollout's gate, where a failure
  counts against the threshold: an update nobody can vouch for is a deviation the seed's
  operators stop for). A report arriving later is refused, as for any finished activity.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

from tortoise.transactions import in_transaction

from api.effects import window_stuck_key
from api.kinds import Executor, carried_out_by
from api.models import Activity, Window
from api.notices import WindowStuck
from api.outcomes import no_report, summary_line
from api.services import audit, outbox
from api.services.window_result import tell_result
from api.settings import Settings

__all__ = ["ACTOR", "STUCK_AFTER", "fail_unreported", "flag_stuck", "run_periodic"]

log = logging.getLogger(__name__)

ACTOR = "system:watchdog"
GUEST_WORK = carried_out_by(Executor.GUEST_AGENT)
NOT_REPORTED = ("scheduled", "running")  # guest work not started, or started and not reported
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


async def fail_unreported(settings: Settings, now: datetime | None = None) -> list[str]:
    """Fail the guest work of every finished window that has not reported
    ``guest_report_hours`` after the window's end, and queue each window's result mail;
    returns the windows' uids."""
    hours = settings.guest_report_hours
    if hours <= 0:
        return []
    now = now or datetime.now(UTC)
    late = (
        await Window.filter(
            state__in=("completed", "failed"),
            ends_at__lt=now - timedelta(hours=hours),
            activities__kind__in=GUEST_WORK,
            activities__state__in=NOT_REPORTED,
        )
        .distinct()
        .order_by("id")
    )
    told = []
    for window in late:
        async with in_transaction() as conn:
            rows = (
                await Activity.filter(
                    window_id=window.id, kind__in=GUEST_WORK, state__in=NOT_REPORTED
                )
                .select_for_update()
                .using_db(conn)
                .order_by("id")
            )
            for a in rows:  # none: reported meanwhile
                a.transition("failed")
                a.log = "\n".join(x for x in (a.log, summary_line([no_report(hours)])) if x)
                a.finished_at = now
                await a.save(using_db=conn, update_fields=["state", "log", "finished_at"])
                details = {"window": window.uid, "hours": hours}
                await audit.record(ACTOR, "activity.no_report", a, details, connection=conn)
            if rows and await tell_result(conn, window):
                told.append(window.uid)
        if rows:
            log.warning("window %s: guest work unreported for %d hours: failed", window.uid, hours)
    return told


async def run_periodic(settings: Settings) -> list[str]:
    """Both looks; returns the uids of the windows flagged stuck and of those told."""
    return [*await flag_stuck(settings), *await fail_unreported(settings)]
