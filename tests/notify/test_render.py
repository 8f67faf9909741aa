"""Rendering outbox rows into mail: headers, parts, threading, the attached calendar."""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import UTC, datetime
from email import message_from_bytes
from email.message import EmailMessage
from email.policy import default
from email.utils import parsedate_to_datetime

import icalendar
import pytest

from api.calendar.texts import duration_text
from api.calendar.values import ActivityView
from api.notices import UnknownNotice, WindowReminder, WindowScheduled, WindowsDigest, notice_of
from api.notify.render import (
    GroupView,
    MailContext,
    Outgoing,
    message_id,
    render,
    thread_root,
)
from tests.feeds.samples import cancelled, changed, completed, planned, tokyo

CTX = MailContext(
    mail_from="gocept.net maintenance <maintenance@gocept.net>",
    domain="gocept.net",
    public_url="https://fenster.example",
)
GROUP = GroupView(
    name="acme",
    title="ACME Webshop",
    timezone="Europe/Berlin",
    feed_url="https://fenster.example/feeds/acme.ics?token=t0k",
    webcal_url="webcal://fenster.example/feeds/acme.ics?token=t0k",
)
NOW = datetime(2026, 11, 20, 9, 5, tzinfo=UTC)
# A postpone deadline after the sample windows (the samples' own lies before them: no offer).
DEADLINE = datetime(2026, 12, 20, 1, 0, tzinfo=UTC)
TO = ("ops@acme.example", "cto@acme.example")
SETTINGS = {
    "name": "acme",
    "contacts": list(TO),
    "timezone": "Europe/Berlin",
    "window_start": "02:00",
    "window_minutes": 120,
    "weekdays": [1, 3],
    "notice_minutes": 10080,
    "reminder_minutes": 1440,
    "max_postpones": 2,
}


def mail(
    kind: str, *windows: object, payload: dict | None = None, key: str = "", link: str = ""
) -> EmailMessage:
    """The message for an outbox row of ``kind`` whose stored payload is ``payload``."""
    notice = notice_of(kind, payload)
    out = Outgoing(
        notice,
        key or f"{kind}:test",
        TO,
        GROUP,
        tuple(windows),  # type: ignore[arg-type]
        starts_thread=notice.opens_thread,
        postpone_url=link,
    )
    raw = render(out, CTX, NOW).as_bytes()
    parsed = message_from_bytes(raw, policy=default)
    assert isinstance(parsed, EmailMessage)
    return parsed


def text_of(msg: EmailMessage) -> str:
    part = msg.get_body(("plain",))
    assert part is not None
    return part.get_content().replace("\r\n", "\n")


def html_of(msg: EmailMessage) -> str:
    part = msg.get_body(("html",))
    assert part is not None
    return part.get_content()


def calendar_of(msg: EmailMessage) -> icalendar.Calendar:
    [att] = [p for p in msg.iter_attachments() if p.get_content_type() == "text/calendar"]
    assert att.get_param("method") == "PUBLISH"
    assert att.get_filename().endswith(".ics")
    return icalendar.Calendar.from_ical(att.get_content())


def test_window_scheduled_headers_parts_and_calendar() -> None:
    msg = mail("window_scheduled", replace(planned(), postpone_deadline=DEADLINE))
    assert msg["Subject"] == "Maintenance scheduled: vm01, Tue 01 Dec 2026 02:00 CET"
    [sender] = msg["From"].addresses
    assert (sender.display_name, sender.addr_spec) == (
        "gocept.net maintenance",
        "maintenance@gocept.net",
    )
    assert [a.addr_spec for a in msg["To"].addresses] == list(TO)
    assert parsedate_to_datetime(msg["Date"]) == NOW
    assert msg["Auto-Submitted"] == "auto-generated"
    assert msg.get_content_type() == "multipart/mixed"
    [alternative, attachment] = msg.iter_parts()
    assert alternative.get_content_type() == "multipart/alternative"
    assert [p.get_content_type() for p in alternative.iter_parts()] == ["text/plain", "text/html"]
    assert attachment.get_content_type() == "text/calendar"
    text = text_of(msg)
    for needle in (
        "vm01 (vm)",
        "Tue 01 Dec 2026 02:00 CET to 04:00 CET (Europe/Berlin)",
        "2026-12-01 01:00 to 03:00 UTC",
        "kernel update (Linux 2.6.38): about 15 min, restarts the machine",
        "memory resize (2048 MiB -> 4096 MiB): about 5 min",
        "Expected downtime: up to 20 minutes",
        "Why this slot:     first day of the group's window",
        "postpone the window up to 2 more times",
        "https://fenster.example/graphql",
    ):
        assert needle in text, needle
    assert re.search(
        r"<th style=\"[^\"]+\">Machine</th><td style=\"[^\"]+\">vm01 \(vm\)</td>", html_of(msg)
    )
    cal = calendar_of(msg)
    assert str(cal["METHOD"]) == "PUBLISH"
    [event] = cal.walk("VEVENT")
    assert str(event["UID"]) == planned().uid
    assert int(event["SEQUENCE"]) == 0
    assert event.decoded("DTSTAMP") == NOW
    assert event.decoded("DTSTART").astimezone(UTC) == planned().starts_at


def test_calendar_attachment_keeps_crlf_line_ends() -> None:
    msg = mail("window_scheduled", planned())
    [att] = list(msg.iter_attachments())
    raw = att.get_payload(decode=True)
    assert raw.startswith(b"BEGIN:VCALENDAR\r\nPRODID:")
    assert raw.count(b"\r\n") == raw.count(b"\n")


def test_messages_about_one_window_form_a_thread() -> None:
    first = mail("window_scheduled", planned(), key="window_scheduled:w:0")
    root = thread_root(planned().uid, "gocept.net")
    assert first["Message-ID"] == root
    assert first["In-Reply-To"] is None
    later = [
        mail("window_postponed", changed(), key="window_postponed:w:1"),
        mail("window_reminder", changed(), key="window_reminder:w:1"),
        mail("window_cancelled", cancelled(), key="window_cancelled:w:2"),
    ]
    for msg in later:
        assert msg["In-Reply-To"] == root
        assert msg["References"] == root
        assert msg["Message-ID"].endswith("@gocept.net>")
    ids = {m["Message-ID"] for m in [first, *later]}
    assert len(ids) == 4


def test_message_id_is_stable_per_dedupe_key() -> None:
    assert message_id("window_changed:w:3", "d.example") == message_id(
        "window_changed:w:3", "d.example"
    )
    assert message_id("window_changed:w:3", "d.example") != message_id(
        "window_changed:w:4", "d.example"
    )
    a = mail("window_changed", changed(), key="window_changed:w:1")
    b = mail("window_changed", changed(), key="window_changed:w:1")
    assert a["Message-ID"] == b["Message-ID"] == message_id("window_changed:w:1", "gocept.net")


def test_postponed_names_the_previous_time_and_bumps_sequence() -> None:
    msg = mail(
        "window_postponed",
        replace(changed(), postpone_deadline=DEADLINE),
        payload={"previous_starts_at": "2026-12-01T01:00:00+00:00"},
    )
    assert msg["Subject"] == "Maintenance postponed: vm01, now Tue 08 Dec 2026 02:00 CET"
    text = text_of(msg)
    assert "Previously: Tue 01 Dec 2026 02:00 CET" in text
    assert "postponed to Tue 08 Dec 2026 02:00 CET" in " ".join(text.split())
    assert "once more" in text
    [event] = calendar_of(msg).walk("VEVENT")
    assert int(event["SEQUENCE"]) == 1
    assert str(event["STATUS"]) == "CONFIRMED"


def test_cancelled_keeps_uid_and_says_cancelled() -> None:
    msg = mail("window_cancelled", cancelled(), payload={"reason": "machine decommissioned"})
    assert msg["Subject"].startswith("Maintenance cancelled: vm01")
    assert "Reason: machine decommissioned" in text_of(msg)
    [event] = calendar_of(msg).walk("VEVENT")
    assert str(event["UID"]) == planned().uid
    assert str(event["STATUS"]) == "CANCELLED"
    assert int(event["SEQUENCE"]) == 2


def test_reminder_says_how_soon_and_has_no_attachment() -> None:
    soon = replace(
        planned(),
        starts_at=datetime(2026, 11, 21, 1, 0, tzinfo=UTC),
        ends_at=datetime(2026, 11, 21, 3, 0, tzinfo=UTC),
    )
    msg = mail("window_reminder", soon)
    assert "starts in 15 hours 55 minutes" in text_of(msg)
    assert msg.get_content_type() == "multipart/alternative"
    assert list(msg.iter_attachments()) == []


def test_completed_and_failed_list_each_outcome() -> None:
    ok = text_of(mail("window_completed", completed()))
    assert "system update: done - 212 packages" in ok
    assert "reboot: done - up after 41 s" in ok
    broken = replace(
        completed(),
        state="failed",
        activities=(
            ActivityView("system_update", 30, False, state="done", outcome="212 packages"),
            ActivityView("reboot", 5, True, state="failed", outcome="no heartbeat after 600 s"),
        ),
    )
    msg = mail("window_failed", broken, payload={"message": "host agent gave up"})
    assert msg["Subject"] == "Maintenance FAILED: db02"
    text = text_of(msg)
    assert "reboot: FAILED - no heartbeat after 600 s" in text
    assert "Note from the agent: host agent gave up" in text
    assert "<li>reboot: FAILED - no heartbeat after 600 s</li>" in html_of(msg)
    assert "<p>Note from the agent: host agent gave up</p>" in html_of(msg)


def test_group_settings_show_the_values_used() -> None:
    msg = mail("group_settings", payload=SETTINGS, key="group_settings:1:x")
    assert msg["Subject"] == "Maintenance settings of your resource group ACME Webshop"
    assert msg["In-Reply-To"] is None
    text = text_of(msg)
    for needle in (
        "Technical contacts: ops@acme.example, cto@acme.example",
        "Time zone:          Europe/Berlin",
        "Maintenance window: 02:00-04:00 local time (2 hours), Tue, Thu",
        "Notice period:      7 days before any maintenance",
        "Reminder:           1 day before a window starts",
        "Postponements:      up to 2 per window",
        "webcal://fenster.example/feeds/acme.ics?token=t0k",
    ):
        assert needle in text, needle
    assert list(msg.iter_attachments()) == []


def test_digest_lists_every_window_with_one_calendar() -> None:
    others = [replace(planned(), uid=f"w{i}@fenster", machine=f"vm{i:02d}") for i in range(2, 9)]
    msg = mail("windows_digest", planned(), *others)
    assert msg["Subject"].startswith("Maintenance scheduled for 8 machines of ACME Webshop")
    text = text_of(msg)
    for i in range(1, 9):
        assert f"vm{i:02d}" in text
    events = calendar_of(msg).walk("VEVENT")
    assert sorted(str(e["UID"]) for e in events) == sorted(
        [planned().uid] + [w.uid for w in others]
    )
    assert len([p for p in msg.iter_attachments()]) == 1


def test_html_escapes_what_customers_and_agents_wrote() -> None:
    nasty = replace(planned(), reason="<script>alert(1)</script> & more")
    html = html_of(mail("window_scheduled", nasty))
    assert "<script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt; &amp; more" in html


def test_forced_window_cannot_be_postponed() -> None:
    text = text_of(mail("window_scheduled", tokyo()))
    assert "set by our operators and cannot be postponed" in text
    assert "Sat 02 Jan 2027" not in text and "Fri 01 Jan 2027 01:00 JST" in text


def test_window_kinds_need_exactly_one_window() -> None:
    with pytest.raises(ValueError, match="exactly one window"):
        render(Outgoing(WindowScheduled(), "k", TO, GROUP, ()), CTX, NOW)
    with pytest.raises(ValueError, match="exactly one window"):
        render(Outgoing(WindowReminder(), "k", TO, GROUP, (planned(), changed())), CTX, NOW)
    with pytest.raises(ValueError, match="at least one window"):
        render(Outgoing(WindowsDigest(), "k", TO, GROUP, ()), CTX, NOW)
    with pytest.raises(UnknownNotice, match="unknown notice kind 'surprise'"):
        mail("surprise")


def test_duration_text() -> None:
    assert duration_text(10080) == "7 days"
    assert duration_text(1440) == "1 day"
    assert duration_text(90) == "1 hour 30 minutes"
    assert duration_text(1) == "1 minute"
    assert duration_text(0) == "0 minutes"


def test_long_subject_stays_on_one_header_line() -> None:
    group = replace(GROUP, title="The Very Long Named Customer Group of ACME Webshop Inc.")
    out = Outgoing(WindowsDigest(), "d", TO, group, (planned(), completed()))
    raw = render(out, CTX, NOW).as_bytes()
    subject = (
        "Maintenance scheduled for 2 machines of The Very Long Named Customer Group of "
        "ACME Webshop Inc., from Sun 25 Oct 2026 02:00 CEST"
    )
    assert f"Subject: {subject}\r\n".encode() in raw
    assert message_from_bytes(raw, policy=default)["Subject"] == subject


def test_changed_by_added_work_says_so() -> None:
    text = text_of(mail("window_changed", changed(), payload={"added": [7], "sequence": 1}))
    assert "more work has been added to the maintenance window for vm01" in " ".join(text.split())


def test_no_postpone_offer_when_the_deadline_is_not_after_the_window() -> None:
    """Every later window starts past the deadline, so a customer's postpone is refused."""
    w = replace(planned(), postpones=0, postpone_deadline=planned().starts_at)
    text = " ".join(text_of(mail("window_scheduled", w)).split())
    assert "You can postpone" not in text
    assert "cannot be postponed any more: its postpone deadline" in text


def test_cancelled_promises_no_downtime() -> None:
    """'Nothing will happen at this time' must not be followed by an expected downtime."""
    text = text_of(mail("window_cancelled", cancelled(), payload={"reason": "not needed"}))
    assert "Nothing will happen at this time" in text
    assert "Expected downtime" not in text


def test_work_that_restarts_nothing_promises_no_downtime() -> None:
    """Not 'Expected downtime: up to 0 minutes'."""
    w = replace(planned(), activities=(ActivityView("system_update", 30, False),))
    msg = mail("window_scheduled", w)
    assert "Expected downtime: none, the machine keeps running" in text_of(msg)
    assert "0 minutes" not in text_of(msg)
    assert re.search(r"<td style=\"[^\"]*\">none, the machine keeps running</td>", html_of(msg))


LINK = "https://fenster.example/postpone/WyJ3MUBmZW5zdGVyIiwwLDE3OTY2MDUyMDBd.c2lnbmF0dXJl"


@pytest.mark.parametrize(
    "kind", ["window_scheduled", "window_changed", "window_postponed", "window_reminder"]
)
def test_postpone_link_in_both_parts(kind: str) -> None:
    window = replace(planned(), postpone_deadline=DEADLINE)
    payload = {"sequence": 0, "previous_starts_at": window.starts_at.isoformat()}
    msg = mail(kind, window, payload=payload, link=LINK)
    assert f"\n  {LINK}\n" in text_of(msg)  # alone on its line: mail readers make it a link
    assert f'href="{LINK}"' in html_of(msg) and "Postpone this window</a>" in html_of(msg)
    assert "no login needed" in text_of(msg)
    # a window the customer cannot postpone gets no link, whatever the mailer passes
    for cannot in (replace(window, forced=True), replace(window, postpones=2, max_postpones=2)):
        assert LINK not in mail(kind, cannot, payload=payload, link=LINK).as_string()
