"""The mailer reads what the scheduler writes: single windows and a digest, one pass."""

from __future__ import annotations

import mailbox
from dataclasses import replace
from datetime import UTC, datetime, time
from email import message_from_bytes
from email.policy import default

import icalendar
from tortoise.context import TortoiseContext

from api.models import Activity, Machine, Notification, ResourceGroup
from api.notify.mailer import drain
from api.notify.render import thread_root
from api.notify.transport import MaildirTransport
from api.services.scheduling import run_pass
from api.settings import Settings

NOW = datetime(2026, 11, 23, tzinfo=UTC)


async def group_with_vms(name: str, vms: int) -> ResourceGroup:
    group = await ResourceGroup.create(
        name=name,
        title=name.title(),
        contacts=[f"ops@{name}.example"],
        timezone="Europe/Berlin",
        window_start=time(2, 0),
        window_minutes=120,
    )
    host = await Machine.create(name=f"{name}-kvm", kind="host", group=group, capacity=10)
    for i in range(vms):
        vm = await Machine.create(name=f"{name}-vm{i}", kind="vm", group=group, host=host)
        await Activity.create(
            machine=vm,
            kind="kernel_update",
            estimate_minutes=15,
            params={"kernel": "2.6.38"},
            requested_at=NOW,
        )
    return group


async def test_scheduler_rows_become_mail(db: TortoiseContext, settings: Settings) -> None:
    settings = replace(settings, digest_threshold=5)
    await group_with_vms("big", 6)
    await group_with_vms("small", 2)
    report = await run_pass(settings, now=NOW)
    assert len(report.created) == 8
    kinds = sorted(await Notification.all().values_list("kind", flat=True))
    assert kinds == ["window_scheduled", "window_scheduled", "windows_digest"]

    result = await drain(settings, MaildirTransport(settings.maildir))
    assert (result.sent, result.retried, result.failed) == (3, 0, 0)
    box = mailbox.Maildir(settings.maildir, create=False)
    mails = [message_from_bytes(box.get_bytes(k), policy=default) for k in box.keys()]
    [digest] = [m for m in mails if m["X-Fenster-Kind"] == "windows_digest"]
    assert digest["To"] == "ops@big.example"
    assert digest["Subject"].startswith("Maintenance scheduled for 6 machines of Big")
    [att] = list(digest.iter_attachments())
    events = icalendar.Calendar.from_ical(att.get_content()).walk("VEVENT")
    assert sorted(str(e["SUMMARY"]) for e in events) == [
        f"Maintenance: big-vm{i} - kernel update" for i in range(6)
    ]
    singles = [m for m in mails if m["X-Fenster-Kind"] == "window_scheduled"]
    assert {m["To"] for m in singles} == {"ops@small.example"}
    for m in singles:
        assert m["Message-ID"] == thread_root(m["X-Fenster-Window"], settings.mail_domain)
        text = m.get_body(("plain",)).get_content()
        assert "kernel update (to Linux 2.6.38): about 15 min, restarts the machine" in text
