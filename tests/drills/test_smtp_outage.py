"""Drill (issue 14): the SMTP server is down for ten minutes of simulated time, then back.
Nothing is lost and nothing is sent twice: every queued message is retried with backoff while
the server is away, none fails for good, and each arrives once when it is back."""

from __future__ import annotations

from datetime import timedelta

from tortoise.context import TortoiseContext

from api.models import Notification
from api.notify.mailer import backoff
from api.settings import Settings
from tests.notify.conftest import Inbox, closed_port, start_smtp
from tests.notify.test_mailer import later, via_smtp
from tests.notify.world import make_group, make_window

MESSAGES = 30  # one per window (in several groups, under the digest threshold)


async def test_smtp_down_for_ten_minutes(db: TortoiseContext, settings: Settings) -> None:
    for g in range(MESSAGES // 3):
        group = await make_group(f"g{g:02d}")
        for i in range(3):
            await make_window(group, f"g{g:02d}-vm{i}", later(8 * 24 * 60 + 10 * i))
    queued = await Notification.filter(state="pending").count()
    assert queued >= MESSAGES  # the windows' mail, and each new group's settings summary
    t0 = later(0)
    down = closed_port()  # where the mail server was: nobody answers now

    # ten minutes of outage: the mailer runs every 30 s of simulated time
    tries = 0
    for step in range(0, 10 * 60, 30):
        result = await via_smtp(settings, down, now=t0 + timedelta(seconds=step))
        assert result.sent == 0 and result.failed == 0
        tries += result.retried
    rows = await Notification.all()
    assert all(r.state == "pending" and r.last_error for r in rows)
    attempts = {r.attempts for r in rows}
    # backoff 1, 2, 4 min...: within ten minutes each message was tried 4 times, not 20
    assert attempts == {4}, attempts
    assert tries == 4 * queued
    assert backoff(4) == timedelta(minutes=8)

    # the server is back: within the next backoff every message arrives, exactly once
    inbox = Inbox()
    server = await start_smtp(inbox)
    try:
        back = t0 + timedelta(minutes=10)
        sent = 0
        for step in range(0, 10 * 60, 30):
            sent += (await via_smtp(settings, inbox, now=back + timedelta(seconds=step))).sent
        assert sent == queued
        assert await Notification.filter(state="sent").count() == queued
        ids = [m["Message-ID"] for m in inbox.messages()]
        assert len(ids) == len(set(ids)) == queued
        # later drains send nothing more
        assert (await via_smtp(settings, inbox, now=back + timedelta(hours=1))).sent == 0
        assert len(inbox.received) == queued
    finally:
        server.close()
        await server.wait_closed()
