"""The mailer: drains the outbox (claim, render, deliver, record) and queues reminders.

Delivery guarantees:
- *never lost*: a row leaves ``pending`` only as ``sent`` or, after
  FENSTER_MAIL_MAX_ATTEMPTS tries, ``failed`` with its last error kept;
- *sent once in normal operation*: a row is claimed before it is sent (compare-and-set on
  ``attempts``, with ``SELECT ... FOR UPDATE SKIP LOCKED`` on PostgreSQL, so several replicas
  share the work) and its claim holds it for a lease. Only a crash between the server's
  acceptance and the bookkeeping resends it after the lease (at-least-once delivery); the
  Message-ID comes from the dedupe key, so that resend is recognisably the same message;
- retries back off exponentially: 1, 2, 4, ... minutes, at most 6 hours apart.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from tortoise.transactions import in_transaction

from api.calendar.query import window_views
from api.feeds.urls import feed_url
from api.metrics import MAIL_ATTEMPTS, MAIL_OUTCOMES
from api.models import Notification, ResourceGroup, Window
from api.notices import Scope, UnknownNotice, WindowReminder, notice_of
from api.notify.render import GroupView, MailContext, Outgoing, render
from api.notify.transport import DeliveryError, PartialDelivery, Transport
from api.pages.links import postpone_url
from api.services import outbox
from api.services.groups import MAX_LEAD_MINUTES
from api.settings import Settings

__all__ = [
    "LEASE",
    "DrainResult",
    "backoff",
    "drain",
    "enqueue_reminders",
    "mail_context",
    "run_once",
]

log = logging.getLogger("fenster.mailer")

# An operators' notice about no group (api.services.outbox.enqueue with group None).
OPERATORS = GroupView("operators", "the operators", "UTC")
LEASE = timedelta(minutes=10)  # a claimed row is left alone this long by other mailers
BATCH = 50


class Unsendable(Exception):
    """The row cannot become a message (its group or window is gone): fail it at once."""


class Skip(Exception):
    """The row has nothing left to say (a reminder for a window that moved): close it unsent."""


@dataclass
class DrainResult:
    sent: int = 0
    retried: int = 0
    failed: int = 0
    skipped: int = 0
    errors: list[str] = field(default_factory=list)

    def __str__(self) -> str:
        return (
            f"sent {self.sent}, retrying {self.retried}, failed {self.failed}, "
            f"skipped {self.skipped}"
        )


def backoff(attempts: int) -> timedelta:
    """Wait after the ``attempts``-th failed try: 1 min, 2, 4, ... capped at 6 hours."""
    return timedelta(minutes=min(2 ** max(attempts - 1, 0), 360))


def mail_context(settings: Settings) -> MailContext:
    return MailContext(
        mail_from=settings.mail_from, domain=settings.mail_domain, public_url=settings.public_url
    )


def _is_postgres(conn: Any) -> bool:
    return "postgres" in type(conn).__module__ or "asyncpg" in type(conn).__module__


async def _claim(now: datetime, limit: int) -> list[Notification]:
    """Take up to ``limit`` due rows for this mailer: attempts+1 and a lease, atomically."""
    claimed: list[Notification] = []
    async with in_transaction() as conn:
        query = (
            Notification.filter(state="pending", next_attempt_at__lte=now)
            .order_by("next_attempt_at", "id")
            .limit(limit)
            .using_db(conn)
        )
        if _is_postgres(conn):
            query = query.select_for_update(skip_locked=True)
        for row in await query:
            taken = (
                await Notification.filter(id=row.id, state="pending", attempts=row.attempts)
                .using_db(conn)
                .update(attempts=row.attempts + 1, next_attempt_at=now + LEASE)
            )
            if taken:
                row.attempts += 1
                row.next_attempt_at = now + LEASE
                claimed.append(row)
    return claimed


async def _load(row: Notification, settings: Settings, now: datetime) -> Outgoing:
    try:
        notice = notice_of(row.kind, row.payload)
    except UnknownNotice as exc:
        raise Unsendable(str(exc)) from None
    if row.group_id is None and notice.operators:
        gv = OPERATORS  # about no group (a rollout halted)
    else:
        group = await ResourceGroup.get_or_none(id=row.group_id)
        if group is None:
            raise Unsendable("its resource group no longer exists")
        urls = feed_url(settings, group)
        gv = GroupView(group.name, group.title, group.timezone, urls.https, urls.webcal)
    windows: list[Any] = []
    if notice.scope is Scope.WINDOW:
        window_id = row.window_id
        windows = await window_views(settings.public_url, window_id=window_id) if window_id else []
        if not windows:
            raise Unsendable("its window no longer exists")
        stale = notice.stale(windows[0].state, windows[0].sequence)
        if stale:
            raise Skip(stale)
    elif notice.scope is Scope.WINDOWS:
        windows = await window_views(settings.public_url, uids=list(notice.window_uids()))
        if not windows:
            raise Unsendable("none of the windows it lists exists any more")
    if not row.recipients:
        raise Unsendable("the group has no technical contacts")
    starts_thread = (
        notice.opens_thread
        and not await Notification.filter(
            window_id=row.window_id,
            kind=notice.kind,
            id__lt=row.id,
        ).exists()
    )
    return Outgoing(
        notice,
        row.dedupe_key,
        tuple(row.recipients),
        gv,
        tuple(windows),
        starts_thread=starts_thread,
        postpone_url=postpone_url(settings, windows[0], now)
        if notice.scope is Scope.WINDOW and windows[0].state == "planned"
        else "",
    )


async def _close(row: Notification, **values: Any) -> None:
    await Notification.filter(id=row.id).update(**values)


async def _retry_or_fail(
    row: Notification, error: str, now: datetime, max_attempts: int, result: DrainResult
) -> None:
    result.errors.append(f"#{row.id} {row.kind}: {error}")
    if row.attempts >= max_attempts:
        await _close(row, state="failed", last_error=error)
        result.failed += 1
        log.error(
            "notification %s failed for good after %s attempts: %s", row.id, row.attempts, error
        )
    else:
        await _close(row, next_attempt_at=now + backoff(row.attempts), last_error=error)
        result.retried += 1
        log.warning("notification %s attempt %s failed: %s", row.id, row.attempts, error)


async def drain(
    settings: Settings,
    transport: Transport,
    *,
    now: datetime | None = None,
    limit: int | None = None,
) -> DrainResult:
    """Send every due pending row once (or up to ``limit`` rows); returns the counts."""
    fixed = now  # a given ``now`` holds for the whole drain; otherwise each batch reads the clock
    ctx = mail_context(settings)
    result = DrainResult()
    done = 0
    down: str | None = None  # the server is unreachable: the rest of this pass waits
    while down is None and (limit is None or done < limit):
        # a lease counts from its claim: a drain longer than LEASE must not claim rows whose
        # lease has already run out (another mailer would send them again)
        now = fixed or datetime.now(UTC)
        rows = await _claim(now, BATCH if limit is None else min(BATCH, limit - done))
        if not rows:
            break
        done += len(rows)
        for row in rows:
            if down is not None:
                await _retry_or_fail(row, down, now, settings.mail_max_attempts, result)
                continue
            down = await _send_one(row, settings, transport, ctx, now, result)
    return result


async def _send_one(
    row: Notification,
    settings: Settings,
    transport: Transport,
    ctx: MailContext,
    now: datetime,
    result: DrainResult,
) -> str | None:
    """Render and send one claimed row and record how it went. Returns why the mail server
    is unreachable when it is (the rest of the pass then waits), else None."""
    try:
        message = render(await _load(row, settings, now), ctx, now)
        await transport.send(message, list(row.recipients))
    except Skip as exc:
        await _close(row, state="sent", sent_at=now, last_error=f"skipped: {exc}")
        result.skipped += 1
    except Unsendable as exc:
        await _close(row, state="failed", last_error=f"cannot be sent: {exc}")
        result.failed += 1
        result.errors.append(f"#{row.id} {row.kind}: {exc}")
    except PartialDelivery as exc:
        await _close(
            row,
            state="sent",
            sent_at=now,
            message_id=message["Message-ID"],
            last_error=str(exc),
        )
        result.sent += 1
    except DeliveryError as exc:
        await _retry_or_fail(row, str(exc), now, settings.mail_max_attempts, result)
        return str(exc) if exc.unreachable else None
    except Exception as exc:  # a bug rendering one row must not stop the others
        log.exception("notification %s could not be rendered", row.id)
        error = f"{type(exc).__name__}: {exc}"
        await _retry_or_fail(row, error, now, settings.mail_max_attempts, result)
    else:
        await _close(
            row,
            state="sent",
            sent_at=now,
            message_id=message["Message-ID"],
            last_error=None,
        )
        result.sent += 1
    return None


async def enqueue_reminders(now: datetime | None = None) -> int:
    """Queue a reminder for each planned window starting within its group's reminder period.

    One per window and sequence (the outbox dedupe key); none when the group wants none, or
    when the window was scheduled or changed inside the period (that mail was the reminder).
    """
    now = now or datetime.now(UTC)
    horizon = await ResourceGroup.all().order_by("-reminder_minutes").first()
    if horizon is None or horizon.reminder_minutes <= 0:
        return 0
    # Lead times are capped when written; the cap here keeps one bad old row from stopping
    # every group's reminders (and the drain after them) with an overflow.
    windows = await Window.filter(
        state="planned",
        starts_at__gt=now,
        starts_at__lte=now + timedelta(minutes=min(horizon.reminder_minutes, MAX_LEAD_MINUTES)),
    ).select_related("machine__group")
    queued = 0
    for window in windows:
        group = window.machine.group
        remind_at = window.starts_at - timedelta(
            minutes=min(group.reminder_minutes, MAX_LEAD_MINUTES)
        )
        if group.reminder_minutes <= 0 or now < remind_at or window.updated_at >= remind_at:
            continue
        row = await outbox.enqueue(
            WindowReminder(sequence=window.sequence), group=group, window=window
        )
        queued += row is not None
    return queued


async def run_once(settings: Settings, transport: Transport | None = None) -> DrainResult:
    """One mailer pass: queue due reminders, then drain the outbox (`fenster mail send`)."""
    await enqueue_reminders()
    return await run_drain(settings, transport)


async def run_reminders(settings: Settings) -> int:
    """`fenster serve`'s reminder duty (in the leading process only)."""
    return await enqueue_reminders()


async def run_drain(settings: Settings, transport: Transport | None = None) -> DrainResult:
    """Drain the outbox once (`fenster serve` runs this in every process: rows are claimed)."""
    from api.notify.transport import transport_from_settings

    own = transport is None
    transport = transport or transport_from_settings(settings)
    try:
        result = await drain(settings, transport)
    finally:
        if own:
            await transport.close()
    for outcome in MAIL_OUTCOMES:
        MAIL_ATTEMPTS.labels(outcome).inc(getattr(result, outcome))
    return result
