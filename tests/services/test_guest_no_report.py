"""Guest work that never reports: the watchdog fails it ``guest_report_hours`` after its window
ended and the window's result mail goes, "FAILED", saying so; a late report is refused."""

from __future__ import annotations

import mailbox
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from email import message_from_bytes
from email.policy import default

import httpx
import pytest
from tortoise.context import TortoiseContext

from api.models import Activity, AuditEvent, Machine, Notification, Window
from api.notify.mailer import run_once
from api.services import agents, watchdog
from api.settings import Settings
from tests.graphql.test_guests import RESULTS, report, start, update
from tests.graphql.world import World, build_world

NO_REPORT = "no report from the guest agent within 24 hours after the window ended"


@pytest.fixture
async def world(db: TortoiseContext) -> World:
    return await build_world()


async def finished(world: World, machine: str) -> tuple[Window, Activity]:
    """``machine``'s window with a system update for its guest agent, finished by the host
    agent (its reboot done): the result mail waits for the guest."""
    window = await Window.get(uid=world.ids[f"window:{machine}"])
    a = await update(machine, window_id=window.id, not_before=None)
    host_id = (await Machine.get(name=machine)).host_id
    assert host_id is not None
    await agents.start_window("test", host_id, window.uid)
    reboot = await Activity.get(window_id=window.id, kind="reboot")
    done = [agents.ActivityResult(reboot.id, "done", "rebooted")]
    await agents.finish_window("test", host_id, window.uid, done)
    return await Window.get(id=window.id), a


async def ended(window: Window, ago: timedelta) -> None:
    now = datetime.now(UTC)
    await Window.filter(id=window.id).update(
        starts_at=now - ago - timedelta(hours=1), ends_at=now - ago
    )


async def test_guest_work_without_a_report_fails_and_the_result_mail_says_so(
    client: httpx.AsyncClient, world: World, settings: Settings
) -> None:
    silent, a = await finished(world, "alpha-web")
    await start(client, world, a)  # the guest agent starts it, then is never heard of again
    late, b = await finished(world, "beta-db")  # not yet started either
    results = Notification.filter(kind__in=RESULTS)
    assert not await results.exists()

    await ended(silent, timedelta(hours=24, minutes=1))
    await ended(late, timedelta(hours=23, minutes=59))  # within the bound: it waits
    assert await watchdog.run_periodic(settings) == [silent.uid]
    assert await watchdog.run_periodic(settings) == []  # once
    [mail] = await results
    assert (mail.kind, mail.window_id) == ("window_failed", silent.id)
    assert [x["outcome"] for x in mail.payload["activities"]] == ["done", "failed"]
    a = await Activity.get(id=a.id)
    assert a.state == "failed" and a.exit_code is None and a.finished_at is not None
    assert (await Activity.get(id=b.id)).state == "scheduled"
    [event] = await AuditEvent.filter(action="activity.no_report")
    assert (event.actor, event.subject_id) == (watchdog.ACTOR, a.id)

    # a report arriving now is refused and changes nothing
    refused = await report(client, world, a)
    assert refused["__typename"] == "ValidationError", refused
    assert (await Activity.get(id=a.id)).state == "failed"

    await Notification.exclude(id=mail.id).delete()  # the world's own mail
    assert (await run_once(settings)).sent == 1
    box = mailbox.Maildir(settings.maildir, create=False)
    [body] = [
        message_from_bytes(box.get_bytes(k), policy=default).get_body(("plain",)).get_content()
        for k in box.keys()
    ]
    assert "did not succeed" in body
    assert f"system update: FAILED - {NO_REPORT}" in body

    # beta-db's guest work not started at all: failed the same way once its bound has passed
    await ended(late, timedelta(hours=24, minutes=1))
    assert await watchdog.fail_unreported(settings) == [late.uid]
    assert (await Activity.get(id=b.id)).state == "failed"


async def test_zero_hours_waits_for_ever(
    client: httpx.AsyncClient, world: World, settings: Settings
) -> None:
    window, a = await finished(world, "alpha-web")
    await ended(window, timedelta(days=30))
    never = replace(settings, guest_report_hours=0)
    assert await watchdog.fail_unreported(never) == []
    assert (await Activity.get(id=a.id)).state == "scheduled"
    assert not await Notification.filter(kind__in=RESULTS).exists()
    await start(client, world, a)
    assert (await report(client, world, a))["state"] == "DONE"
    [mail] = await Notification.filter(kind__in=RESULTS)
    assert mail.kind == "window_completed"
