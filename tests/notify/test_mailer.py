"""The mailer against real parts: a Maildir on disk and an aiosmtpd server on loopback."""

from __future__ import annotations

import asyncio
import mailbox
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from email import message_from_bytes
from email.policy import default
from pathlib import Path

import icalendar
from tortoise.context import TortoiseContext

from api.app import background_loops, create_app
from api.models import Activity, Notification, ResourceGroup, Window
from api.notices import (
    GroupSettings,
    WindowChanged,
    WindowFailed,
    WindowScheduled,
    WindowsDigest,
)
from api.notify.mailer import (
    BATCH,
    LEASE,
    DrainResult,
    backoff,
    drain,
    enqueue_reminders,
    run_once,
)
from api.notify.render import thread_root
from api.notify.transport import MaildirTransport, SMTPTransport
from api.services import outbox
from api.settings import Settings
from tests.notify.conftest import Inbox, closed_port, start_smtp
from tests.notify.world import make_group, make_window

LIMIT = 20  # seconds: every network test is bounded


async def via_smtp(
    settings: Settings, inbox: Inbox | int, *, now: datetime | None = None
) -> DrainResult:
    """One drain through a fresh SMTP connection to ``inbox`` (or a bare port), closed after."""
    port = inbox if isinstance(inbox, int) else inbox.port
    transport = SMTPTransport("127.0.0.1", port, timeout=5)
    try:
        return await drain(settings, transport, now=now)
    finally:
        await transport.close()


def later(minutes: float) -> datetime:
    """A whole minute ``minutes`` from now (windows start on whole minutes)."""
    return (datetime.now(UTC) + timedelta(minutes=minutes)).replace(second=0, microsecond=0)


def calendar_events(msg: object) -> list[icalendar.Event]:
    [att] = [p for p in msg.iter_attachments() if p.get_content_type() == "text/calendar"]  # type: ignore[attr-defined]
    return icalendar.Calendar.from_ical(att.get_content()).walk("VEVENT")


async def states() -> dict[str, int]:
    rows = await Notification.all().values_list("state", flat=True)
    return {s: list(rows).count(s) for s in set(rows)}


async def test_maildir_is_the_default_and_reads_back(
    db: TortoiseContext, settings: Settings
) -> None:
    group = await make_group()
    await make_window(group, "vm01", later(8 * 24 * 60))
    result = await run_once(settings)
    assert (result.sent, result.retried, result.failed) == (2, 0, 0)
    box = mailbox.Maildir(settings.maildir, create=False)
    messages = [message_from_bytes(box.get_bytes(key), policy=default) for key in box.keys()]
    subjects = sorted(m["Subject"] for m in messages)
    assert subjects[0].startswith("Maintenance scheduled: vm01, ")
    assert subjects[1] == "Maintenance settings of your resource group ACME Webshop"
    assert all(m["To"] == "ops@acme.example, cto@acme.example" for m in messages)
    rows = await Notification.all().order_by("id")
    assert [r.state for r in rows] == ["sent", "sent"]
    assert {r.message_id for r in rows} == {m["Message-ID"] for m in messages}
    assert all(r.sent_at is not None and r.attempts == 1 for r in rows)
    assert (await run_once(settings)).sent == 0  # nothing is sent twice


async def test_smtp_delivery_headers_parts_threading_calendar(
    db: TortoiseContext, settings: Settings, smtp: Inbox
) -> None:
    group = await make_group()
    window = await make_window(group, "vm01", later(8 * 24 * 60))
    window.touch()
    window.starts_at += timedelta(days=7)
    window.ends_at += timedelta(days=7)
    await window.save()
    await outbox.enqueue(WindowChanged(window.sequence), group=group, window=window)
    async with asyncio.timeout(LIMIT):
        result = await via_smtp(settings, smtp)
    assert result.sent == 3
    by_kind = {m["X-Fenster-Kind"]: m for m in smtp.messages()}
    assert set(by_kind) == {"group_settings", "window_scheduled", "window_changed"}
    for env in smtp.received:
        assert env.rcpt_tos == ["ops@acme.example", "cto@acme.example"]
        assert env.mail_from == "maintenance@fenster.invalid"
    first, change = by_kind["window_scheduled"], by_kind["window_changed"]
    root = thread_root(window.uid, settings.mail_domain)
    assert first["Message-ID"] == root
    assert change["In-Reply-To"] == root and change["References"] == root
    assert change["Message-ID"] != root and change["Message-ID"].endswith("@fenster.invalid>")
    assert change.get_body(("plain",)) is not None and change.get_body(("html",)) is not None
    [before] = calendar_events(first)
    [after] = calendar_events(change)
    assert str(before["UID"]) == str(after["UID"]) == window.uid
    # both render the window as it is when the mail goes out: the latest sequence
    assert int(after["SEQUENCE"]) == 1
    assert after.decoded("DTSTART").astimezone(UTC) == window.starts_at
    text = change.get_body(("plain",)).get_content()
    assert "kernel update (to Linux 2.6.38)" in text and "memory resize (to 4096 MiB)" in text


async def test_port_closed_then_every_message_once_after_recovery(
    db: TortoiseContext, settings: Settings
) -> None:
    group = await make_group()
    for i in range(3):
        await make_window(group, f"vm{i:02d}", later(8 * 24 * 60 + i))
    port = closed_port()
    t0 = datetime.now(UTC)
    async with asyncio.timeout(LIMIT):
        result = await via_smtp(settings, port, now=t0)
    assert (result.sent, result.retried, result.failed) == (0, 4, 0)
    rows = await Notification.all()
    assert all(r.state == "pending" and r.attempts == 1 for r in rows)
    assert all(r.next_attempt_at == t0 + backoff(1) for r in rows)
    assert all("ConnectionRefusedError" in (r.last_error or "") for r in rows)
    # not due yet: a pass right away sends nothing and costs no attempt
    assert (await via_smtp(settings, port, now=t0 + timedelta(seconds=30))).retried == 0

    inbox = Inbox()
    server = await start_smtp(inbox, port)
    try:
        async with asyncio.timeout(LIMIT):
            result = await via_smtp(settings, port, now=t0 + timedelta(minutes=2))
            again = await via_smtp(settings, port, now=t0 + timedelta(hours=3))
    finally:
        server.close()
        await server.wait_closed()
    assert (result.sent, again.sent) == (4, 0)
    ids = [m["Message-ID"] for m in inbox.messages()]
    assert len(ids) == len(set(ids)) == 4
    assert await states() == {"sent": 4}
    assert all(r.attempts == 2 for r in await Notification.all())


async def test_4xx_and_5xx_are_retried_then_delivered_exactly_once(
    db: TortoiseContext, settings: Settings, smtp: Inbox
) -> None:
    group = await make_group()
    await make_window(group, "vm01", later(8 * 24 * 60))
    await make_window(group, "vm02", later(8 * 24 * 60 + 5))
    smtp.data_answers = ["451 4.3.0 greylisted, try later", "554 5.6.0 content rejected"]
    t0 = datetime.now(UTC)
    async with asyncio.timeout(LIMIT):
        first = await via_smtp(settings, smtp, now=t0)
    assert (first.sent, first.retried) == (1, 2)
    errors = sorted(r.last_error or "" for r in await Notification.filter(state="pending"))
    assert errors[0].endswith("answered 451 4.3.0 greylisted, try later")
    assert errors[1].endswith("answered 554 5.6.0 content rejected")
    smtp.rcpt_answers = ["450 4.2.0 mailbox busy"] * 2  # every recipient refused once
    async with asyncio.timeout(LIMIT):
        second = await via_smtp(settings, smtp, now=t0 + timedelta(minutes=1))
        third = await via_smtp(settings, smtp, now=t0 + timedelta(minutes=5))
    assert (second.sent, second.retried) == (1, 1)
    assert (third.sent, third.retried) == (1, 0)
    ids = [m["Message-ID"] for m in smtp.messages()]
    assert len(ids) == len(set(ids)) == 3
    assert await states() == {"sent": 3}


async def test_failed_after_max_attempts_with_last_error_kept(
    db: TortoiseContext, settings: Settings, smtp: Inbox
) -> None:
    settings = replace(settings, mail_max_attempts=3)
    await make_group()
    smtp.data_answers = [f"554 5.7.1 refused ({n})" for n in range(1, 10)]
    now = datetime.now(UTC)
    async with asyncio.timeout(LIMIT):
        for _ in range(3):
            result = await via_smtp(settings, smtp, now=now)
            now += timedelta(hours=7)
    assert (result.failed, result.retried) == (1, 0)
    [row] = await Notification.all()
    assert (row.state, row.attempts) == ("failed", 3)
    assert row.last_error is not None and row.last_error.endswith("554 5.7.1 refused (3)")
    assert smtp.received == []
    async with asyncio.timeout(LIMIT):
        assert (await via_smtp(settings, smtp, now=now + timedelta(days=1))).failed == 0


async def test_same_event_enqueued_twice_sends_one_message(
    db: TortoiseContext, settings: Settings
) -> None:
    group = await make_group()
    window = await make_window(group, "vm01", later(8 * 24 * 60))
    again = WindowScheduled(window.sequence, window.reason)
    assert await outbox.enqueue(again, group=group, window=window) is None
    await run_once(settings)
    box = mailbox.Maildir(settings.maildir, create=False)
    kinds = [
        message_from_bytes(box.get_bytes(k), policy=default)["X-Fenster-Kind"] for k in box.keys()
    ]
    assert sorted(kinds) == ["group_settings", "window_scheduled"]


async def test_digest_is_one_mail_with_one_calendar(
    db: TortoiseContext, settings: Settings
) -> None:
    group = await make_group()
    windows = [
        await make_window(group, f"vm{i:02d}", later(8 * 24 * 60 + 10 * i), notify=False)
        for i in range(6)
    ]
    await outbox.enqueue(
        WindowsDigest(tuple(w.uid for w in windows)),
        group=group,
        dedupe_key="windows_digest:acme:pass-1",
    )
    await Notification.filter(kind="group_settings").update(state="sent")
    result = await run_once(settings)
    assert result.sent == 1
    box = mailbox.Maildir(settings.maildir, create=False)
    [key] = box.keys()
    msg = message_from_bytes(box.get_bytes(key), policy=default)
    assert msg["Subject"].startswith("Maintenance scheduled for 6 machines of ACME Webshop")
    text = msg.get_body(("plain",)).get_content()
    assert all(f"vm{i:02d}" in text for i in range(6))
    assert sorted(str(e["UID"]) for e in calendar_events(msg)) == sorted(w.uid for w in windows)
    assert len(list(msg.iter_attachments())) == 1


async def test_a_row_of_unknown_kind_fails_at_once_and_the_rest_go_out(
    db: TortoiseContext, settings: Settings
) -> None:
    group = await make_group()
    [settings_row] = await Notification.all()
    await Notification.create(
        kind="surprise",
        group=group,
        recipients=["ops@acme.example"],
        payload={},
        dedupe_key="surprise:1",
        next_attempt_at=settings_row.next_attempt_at,
    )
    result = await run_once(settings)
    assert (result.sent, result.failed) == (1, 1)
    bad = await Notification.get(kind="surprise")
    assert (bad.state, bad.last_error) == (
        "failed",
        "cannot be sent: unknown notice kind 'surprise'",
    )


async def test_reminders_once_per_window_and_sequence(
    db: TortoiseContext, settings: Settings
) -> None:
    group = await make_group(reminder_minutes=24 * 60)
    now = datetime.now(UTC)
    due = await make_window(group, "vm01", now + timedelta(hours=20), notify=False)
    early = await make_window(group, "vm02", now + timedelta(hours=30), notify=False)
    fresh = await make_window(group, "vm03", now + timedelta(hours=20), notify=False)
    gone = await make_window(
        group, "vm04", now + timedelta(hours=20), notify=False, state="cancelled"
    )
    long_ago = now - timedelta(days=5)
    await Window.filter(id__in=[due.id, early.id, gone.id]).update(updated_at=long_ago)
    assert fresh.id  # changed inside the reminder period: that mail was the reminder
    assert await enqueue_reminders(now) == 1
    assert await enqueue_reminders(now) == 0
    [row] = await Notification.filter(kind="window_reminder")
    assert row.window_id == due.id  # type: ignore[attr-defined]
    assert row.payload == {"sequence": 0}
    # the window moves before the reminder went out: that reminder is void, a new one is due
    due.touch()
    due.starts_at += timedelta(hours=1)
    due.ends_at += timedelta(hours=1)
    await due.save()
    await Window.filter(id=due.id).update(updated_at=long_ago)
    assert await enqueue_reminders(now) == 1
    await Notification.filter(kind="group_settings").update(state="sent")
    result = await drain(settings, MaildirTransport(settings.maildir))
    assert (result.sent, result.skipped) == (1, 1)
    skipped = await Notification.get(id=row.id)
    assert skipped.state == "sent" and skipped.message_id is None
    assert (skipped.last_error or "").startswith("skipped: ")
    box = mailbox.Maildir(settings.maildir, create=False)
    [key] = box.keys()
    msg = message_from_bytes(box.get_bytes(key), policy=default)
    assert msg["Subject"].startswith("Reminder: maintenance of vm01 starts ")
    text = msg.get_body(("plain",)).get_content()
    assert "starts in 20 hours 59 minutes" in text or "starts in 21 hours." in text


async def test_completed_and_failed_rows_list_outcomes(
    db: TortoiseContext, settings: Settings
) -> None:
    group = await make_group()
    window = await make_window(
        group, "vm01", later(-180), notify=False, kinds=("system_update", "reboot")
    )
    acts = await Activity.filter(window=window).order_by("id")
    await Activity.filter(id=acts[0].id).update(state="done", log="fetching\n212 packages updated")
    await Activity.filter(id=acts[1].id).update(state="failed", log="no heartbeat after 600 s")
    await Window.filter(id=window.id).update(state="failed")
    await outbox.enqueue(WindowFailed(message="gave up"), group=group, window=window)
    await Notification.filter(kind="group_settings").update(state="sent")
    assert (await run_once(settings)).sent == 1
    box = mailbox.Maildir(settings.maildir, create=False)
    [key] = box.keys()
    msg = message_from_bytes(box.get_bytes(key), policy=default)
    assert msg["Subject"] == "Maintenance FAILED: vm01"
    assert msg["In-Reply-To"] == thread_root(window.uid, settings.mail_domain)
    text = msg.get_body(("plain",)).get_content()
    assert "system update: done - 212 packages updated" in text
    assert "reboot: FAILED - no heartbeat after 600 s" in text


async def test_an_outcome_shows_the_agents_summary_line(
    db: TortoiseContext, settings: Settings
) -> None:
    group = await make_group()
    window = await make_window(group, "vm01", later(-180), notify=False, kinds=("reboot",))
    log = (
        "stop: machine=vm01 wanted=shut off found=running action=shutdown\n"
        "summary: vm01: start: qemu died; rolled back to the definition that last "
        "booted; 1 start; 48 s\n"
        "resumed after libvirt came back (1 time(s))"
    )
    await Activity.filter(window=window).update(state="failed", log=log)
    await Window.filter(id=window.id).update(state="failed")
    await outbox.enqueue(WindowFailed(), group=group, window=window)
    await Notification.filter(kind="group_settings").update(state="sent")
    assert (await run_once(settings)).sent == 1
    box = mailbox.Maildir(settings.maildir, create=False)
    [key] = box.keys()
    text = message_from_bytes(box.get_bytes(key), policy=default).get_body(("plain",))
    assert (
        "reboot: FAILED - vm01: start: qemu died; rolled back to the definition that "
        "last booted; 1 start; 48 s" in " ".join(text.get_content().split())
    )


async def test_row_whose_window_is_gone_fails_at_once(
    db: TortoiseContext, settings: Settings
) -> None:
    group = await make_group()
    window = await make_window(group, "vm01", later(8 * 24 * 60))
    await Activity.filter(window=window).delete()
    await window.delete()
    result = await run_once(settings)
    assert (result.sent, result.failed) == (1, 1)
    row = await Notification.get(kind="window_scheduled")
    assert row.state == "failed" and row.last_error == "cannot be sent: its window no longer exists"


async def test_concurrent_mailers_send_each_row_once(
    db: TortoiseContext, settings: Settings, smtp: Inbox
) -> None:
    group = await make_group()
    for i in range(12):
        await make_window(group, f"vm{i:02d}", later(8 * 24 * 60 + i))
    async with asyncio.timeout(LIMIT):
        results = await asyncio.gather(*(via_smtp(settings, smtp) for _ in range(3)))
    assert sum(r.sent for r in results) == 13
    ids = [m["Message-ID"] for m in smtp.messages()]
    assert len(ids) == len(set(ids)) == 13


def test_backoff_doubles_and_is_capped() -> None:
    assert [backoff(n).total_seconds() / 60 for n in range(1, 6)] == [1, 2, 4, 8, 16]
    assert backoff(30) == timedelta(hours=6)


async def test_maildir_unwritable_is_retried(
    db: TortoiseContext, settings: Settings, tmp_path: Path
) -> None:
    await make_group()
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("a file where the Maildir should be")
    result = await drain(settings, MaildirTransport(blocker))
    assert (result.sent, result.retried) == (0, 1)
    [row] = await Notification.all()
    assert row.state == "pending" and "maildir" in (row.last_error or "")


async def test_the_app_runs_the_mailer_in_the_background(
    db: TortoiseContext, settings: Settings
) -> None:
    await make_group()
    app = create_app(replace(settings, mail_interval=1), manage_db=False)
    async with app.router.lifespan_context(app):
        for _ in range(200):  # at most 10 s
            if await Notification.filter(state="sent").exists():
                break
            await asyncio.sleep(0.05)
    assert len(mailbox.Maildir(settings.maildir, create=False)) == 1


def test_interval_zero_disables_the_background_mailer(settings: Settings) -> None:
    loops = {d.name: d.every for d in background_loops(replace(settings, mail_interval=0))}
    assert loops["mailer"] == loops["reminders"] == 0


async def test_unreachable_server_ends_the_pass_after_one_try(
    db: TortoiseContext, settings: Settings
) -> None:
    group = await make_group()
    for i in range(60):  # more than one claim batch
        await make_window(group, f"vm{i:02d}", later(8 * 24 * 60 + i))
    async with asyncio.timeout(LIMIT):
        result = await via_smtp(settings, closed_port())
    assert result.retried == 50  # one batch claimed, one connection tried, the pass ends
    assert len({e.split(": ", 1)[1] for e in result.errors}) == 1
    assert await Notification.filter(attempts=0).count() == 11


class _LeaseWatcher:
    """A transport that notes how much of its lease the row being sent still holds, and takes
    a second over the first message (as a slow SMTP server would)."""

    name = "lease-watcher"

    def __init__(self) -> None:
        self.left: list[timedelta] = []

    async def send(self, message: object, recipients: list[str]) -> None:
        held = await Notification.filter(state="pending", attempts=1).values_list(
            "next_attempt_at", flat=True
        )
        self.left.append(min(held) - datetime.now(UTC))
        if len(self.left) == 1:
            await asyncio.sleep(1.0)

    async def close(self) -> None:
        return None


async def test_a_later_batch_gets_a_full_lease(db: TortoiseContext, settings: Settings) -> None:
    """Leases count from when a batch is claimed, not from when the drain began: otherwise a
    drain longer than LEASE claims rows whose lease has already run out, and another mailer
    sends them a second time."""
    group = await make_group()
    [first] = await Notification.all()
    for i in range(BATCH):
        notice = GroupSettings.from_payload(first.payload)
        await outbox.enqueue(notice, group=group, dedupe_key=f"k{i}")
    watcher = _LeaseWatcher()
    result = await drain(settings, watcher)
    assert result.sent == BATCH + 1
    assert watcher.left[BATCH] > LEASE - timedelta(seconds=0.5)


async def test_one_group_with_an_absurd_old_reminder_does_not_stop_the_others(
    db: TortoiseContext, settings: Settings
) -> None:
    now = datetime.now(UTC)
    ours = await make_group(reminder_minutes=24 * 60)
    odd = await make_group("odd", reminder_minutes=24 * 60)
    due = await make_window(ours, "vm01", now + timedelta(hours=20), notify=False)
    await make_window(odd, "vm02", now + timedelta(hours=20), notify=False)
    await Window.filter().update(updated_at=now - timedelta(days=5))
    # a row from before lead times were capped at 366 days (bypassing today's validation)
    await ResourceGroup.filter(id=odd.id).update(reminder_minutes=2**31 - 1)
    assert await enqueue_reminders(now) == 1
    [row] = await Notification.filter(kind="window_reminder")
    assert row.window_id == due.id  # type: ignore[attr-defined]
