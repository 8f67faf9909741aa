"""The watchdog: a window still running 30 minutes past its end is flagged once, audited, and
mailed to the operators (not to the customer); customers and operators see the flag."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from tortoise.context import TortoiseContext

from api.graphql.relay import encode_id
from api.models import AuditEvent, Notification, Window
from api.notify.mailer import drain
from api.notify.transport import MaildirTransport
from api.services.watchdog import STUCK_AFTER, flag_stuck
from api.settings import Settings, SettingsError
from tests.graphql.world import World, build_world, gql

OPS = "noc@provider.example, oncall@provider.example"


async def running(world: World, machine: str, ended: timedelta) -> Window:
    """A window of ``machine`` started by an agent, whose end was ``ended`` ago."""
    now = datetime.now(UTC)
    window = await Window.get(uid=world.ids[f"window:{machine}"])
    await Window.filter(id=window.id).update(
        state="running", starts_at=now - ended - timedelta(hours=1), ends_at=now - ended,
        started_at=now - ended - timedelta(hours=1), claimed_by="kvm-a/1f2e",
    )  # fmt: skip
    return await Window.get(id=window.id)


async def test_a_stuck_window_is_flagged_once_and_mailed_to_the_operators(
    db: TortoiseContext, settings: Settings, client: httpx.AsyncClient
) -> None:
    world = await build_world()
    settings = replace(settings, operator_contacts=OPS)
    stuck = await running(world, "alpha-web", STUCK_AFTER + timedelta(minutes=4))
    late = await running(world, "beta-db", STUCK_AFTER - timedelta(minutes=2))  # not yet
    before = await Notification.all().count()

    assert await flag_stuck(settings) == [stuck.uid]
    assert await flag_stuck(settings) == []  # once
    stuck, late = await Window.get(id=stuck.id), await Window.get(id=late.id)
    assert stuck.stuck_at is not None and late.stuck_at is None
    [event] = await AuditEvent.filter(action="window.stuck")
    assert (event.subject_id, event.details["minutes_over"]) == (stuck.id, 34)  # type: ignore[index]
    [note] = await Notification.filter(kind="window_stuck")
    assert note.recipients == ["noc@provider.example", "oncall@provider.example"]
    assert await Notification.all().count() == before + 1  # nothing for the customer

    await drain(settings, MaildirTransport(settings.maildir))
    assert (await Notification.get(kind="window_stuck")).state == "sent"

    query = "query($id: ID!) { node(id: $id) { ... on Window { stuckSince } } }"
    for role in ("admin", "customer_a"):
        out = await gql(client, query, {"id": encode_id("Window", stuck.id)}, world.tokens[role])
        assert out["data"]["node"]["stuckSince"] is not None, (role, out)


async def test_without_operator_contacts_the_window_is_flagged_and_nobody_mailed(
    db: TortoiseContext, settings: Settings
) -> None:
    world = await build_world()
    stuck = await running(world, "alpha-web", STUCK_AFTER + timedelta(minutes=1))
    before = await Notification.all().count()
    assert await flag_stuck(settings) == [stuck.uid]
    assert await Notification.all().count() == before
    assert (await Window.get(id=stuck.id)).stuck_at is not None


def test_operator_contacts_are_checked() -> None:
    with pytest.raises(SettingsError, match="operator_contacts"):
        Settings(operator_contacts="noc@provider.example, not-an-address").validate()
    Settings(operator_contacts="noc@provider.example").validate()
