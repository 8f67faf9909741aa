"""Golden files: every notice kind's mail, text and HTML, as rendered from one sample each.

A change to a template or to the wording in api.notify.views shows up here as a diff. After an
intended change, rewrite the files with ``FENSTER_UPDATE_GOLDEN=1`` and review the diff.
"""

from __future__ import annotations

import os
from dataclasses import replace
from datetime import UTC, datetime
from email import message_from_bytes
from email.message import EmailMessage
from email.policy import default
from pathlib import Path

import pytest

from api.calendar.values import ActivityView, WindowView
from api.notices import (
    NOTICES,
    ActivityOutcome,
    AnnouncementPublished,
    GroupSettings,
    GuestDown,
    Notice,
    RolloutAnnounced,
    RolloutDelayed,
    RolloutEvent,
    RolloutHalted,
    WindowCancelled,
    WindowChanged,
    WindowCompleted,
    WindowFailed,
    WindowPostponed,
    WindowReminder,
    WindowScheduled,
    WindowsDigest,
    WindowStuck,
)
from api.notify.render import GroupView, MailContext, Outgoing, render
from tests.feeds.samples import cancelled, changed, completed, planned, tokyo

GOLDEN = Path(__file__).parent / "golden"
CTX = MailContext(
    "gocept.net maintenance <maintenance@gocept.net>", "gocept.net", "https://f.example"
)
GROUP = GroupView(
    "acme",
    "ACME <Webshop> & Co",  # escaped in HTML, as is in text
    "Europe/Berlin",
    "https://f.example/feeds/acme.ics?token=t0k",
    "webcal://f.example/feeds/acme.ics?token=t0k",
)
NOW = datetime(2026, 11, 20, 9, 5, tzinfo=UTC)
DEADLINE = datetime(2026, 12, 20, 1, 0, tzinfo=UTC)
FAILED = replace(
    completed(),
    state="failed",
    activities=(
        ActivityView("system_update", 30, False, state="done", outcome="212 packages"),
        ActivityView(
            "reboot",
            5,
            True,
            state="failed",
            outcome="db02: start: internal error: qemu died; rolled back to the definition "
            "that last booted; 1 start; 48 s",
        ),
    ),
)
DIGEST = (planned(), *(replace(planned(), uid=f"w{i}@f", machine=f"vm{i:02d}") for i in (2, 3)))
SOON = replace(
    planned(),
    starts_at=datetime(2026, 11, 21, 1, 0, tzinfo=UTC),
    ends_at=datetime(2026, 11, 21, 3, 0, tzinfo=UTC),
)

# one sample per kind: the notice and the windows the mailer would load for it
SAMPLES: dict[str, tuple[Notice, tuple[WindowView, ...]]] = {
    "group_settings": (
        GroupSettings("Europe/Berlin", "02:00", 120, (1, 3), 10080, 0, 2, ("ops@acme.example",)),
        (),
    ),
    "window_scheduled": (
        WindowScheduled(0, planned().reason),
        (replace(planned(), postpone_deadline=DEADLINE),),
    ),
    "window_changed": (WindowChanged(1, added=(7,)), (changed(),)),
    "window_postponed": (
        WindowPostponed(1, previous_starts_at=planned().starts_at),
        (replace(changed(), postpone_deadline=DEADLINE),),
    ),
    "window_cancelled": (WindowCancelled(2, "machine <decommissioned>"), (cancelled(),)),
    "window_reminder": (WindowReminder(0), (replace(tokyo(), starts_at=SOON.starts_at),)),
    "window_completed": (
        WindowCompleted(outcome="completed", activities=(ActivityOutcome("reboot", "up"),)),
        (completed(),),
    ),
    "window_failed": (WindowFailed(outcome="failed", message="host agent gave up"), (FAILED,)),
    "windows_digest": (WindowsDigest(tuple(w.uid for w in DIGEST)), DIGEST),
    "announcement": (
        AnnouncementPublished(
            "kernel-2-6-38",
            "Kernel update <on Monday>",
            "We update **Linux** to 2.6.38.\n\n| wave | when |\n|---|---|\n| one | Monday |\n",
        ),
        (),
    ),
    "rollout_announced": (
        RolloutAnnounced(
            "su-2011-08",
            "System updates <next week>",
            "Stability issue **resolved**: Linux 2.6.38.",
            (
                RolloutEvent(1, "Infrastructure", datetime(2026, 12, 7, 6, 0, tzinfo=UTC)),
                RolloutEvent(
                    2, "Representative set", datetime(2026, 12, 7, 18, 0, tzinfo=UTC), ("web01",)
                ),
                RolloutEvent(6, "VM hosts", datetime(2026, 12, 12, 8, 0, tzinfo=UTC), ("web01",)),
            ),
            tuple(w.uid for w in DIGEST[:2]),
        ),
        DIGEST[:2],
    ),
    "rollout_delayed": (
        RolloutDelayed(
            "su-2011-08",
            "System updates <next week>",
            "The preparations uncovered a *stability issue* in the storage system.",
        ),
        (),
    ),
    "window_stuck": (
        WindowStuck(host="kvm07", agent="kvm07/5f2c9a", minutes_over=34),
        (replace(planned(), state="running"),),
    ),
    "guest_down": (
        GuestDown(
            host="kvm07",
            agent="kvm07/5f2c9a",
            guests=("db02: internal error: qemu unexpectedly closed the monitor <stderr>",),
        ),
        (replace(planned(), state="failed"),),
    ),
    "rollout_halted": (
        RolloutHalted(
            "su-2011-08",
            "System updates <next week>",
            "Representative set",
            "2 of 10 updates failed (20%), above the threshold of 5%",
            "system:rollouts",
            ("web01: E: dpkg was interrupted", "db02: exit status 100"),
        ),
        (),
    ),
}


# the signed postpone link the mailer makes for a planned window (api.pages.links)
LINK = "https://f.example/postpone/WyJ3MUBmZW5zdGVyIiwwLDE3OTY2MDUyMDBd.c2lnbmF0dXJl"
LINKS = {"window_scheduled": LINK, "window_postponed": LINK}


def test_every_kind_has_a_golden_sample() -> None:
    assert set(SAMPLES) == set(NOTICES)
    assert {type(notice).kind for notice, _ in SAMPLES.values()} == set(NOTICES)


def _golden(msg: EmailMessage) -> str:
    text = msg.get_body(("plain",))
    markup = msg.get_body(("html",))
    assert text is not None and markup is not None
    attachments = [p.get_filename() for p in msg.iter_attachments()]
    return (
        f"Subject: {msg['Subject']}\nAttachments: {', '.join(attachments) or '-'}\n"
        f"\n---- text/plain\n{text.get_content()}"
        f"\n---- text/html\n{markup.get_content()}"
    ).replace("\r\n", "\n")


@pytest.mark.parametrize("kind", sorted(NOTICES))
def test_mail_matches_golden(kind: str) -> None:
    notice, windows = SAMPLES[kind]
    out = Outgoing(
        notice,
        f"{kind}:golden",
        ("ops@acme.example",),
        GROUP,
        windows,
        postpone_url=LINKS.get(kind, ""),
    )
    raw = render(out, CTX, NOW).as_bytes()
    msg = message_from_bytes(raw, policy=default)
    assert isinstance(msg, EmailMessage)
    got = _golden(msg)
    path = GOLDEN / f"{kind}.txt"
    if os.environ.get("FENSTER_UPDATE_GOLDEN") == "1":
        path.write_text(got)
    assert got == path.read_text()
