"""GUEST DOWN: a host agent that could not start again a guest that ran before its window says
so in finishWindow (``guestsDown``); the window is flagged at once (``guestDownSince``), the
operators get one mail, and the event is audited. Issue 15, section 1."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import httpx
import pytest
from tortoise.context import TortoiseContext

from api.models import AuditEvent, Notification, Window
from api.notify.mailer import drain
from api.notify.transport import MaildirTransport
from api.settings import Settings
from tests.graphql.world import World, build_world, gql

OPS = "noc@provider.example, oncall@provider.example"
SEL = "... on Window { state guestDownSince }"
ERRORS = "... on ValidationError { fields { field message } }"


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return replace(settings, operator_contacts=OPS)


async def call(
    client: httpx.AsyncClient, world: World, field: str, kind: str, value: dict[str, Any]
) -> dict[str, Any]:
    query = (
        f"mutation($input: {kind}!) {{ {field}(input: $input) {{ __typename {SEL} {ERRORS}"
        " ... on Window { activities { id } } } }"
    )
    out = await gql(client, query, {"input": value}, world.tokens["agent_1"])
    assert "errors" not in out, out
    return dict(out["data"][field])


async def finish(
    client: httpx.AsyncClient, world: World, down: list[dict[str, str]], start: bool = True
) -> dict[str, Any]:
    uid = world.ids["window:alpha-web"]
    if start:
        started = await call(client, world, "startWindow", "StartWindowInput", {"window": uid})
        world.ids["activities"] = [a["id"] for a in started["activities"]]
    results = [
        {"activity": a, "outcome": "FAILED", "log": "GUEST DOWN: alpha-web ..."}
        for a in world.ids["activities"]
    ]
    value = {"window": uid, "results": results, "guestsDown": down}
    return await call(client, world, "finishWindow", "FinishWindowInput", value)


async def test_a_guest_left_down_flags_the_window_and_mails_the_operators_once(
    db: TortoiseContext, settings: Settings, client: httpx.AsyncClient
) -> None:
    world = await build_world()
    down = [{"machine": "alpha-web", "reason": "internal error: qemu died"}]
    out = await finish(client, world, down)
    assert out["state"] == "FAILED" and out["guestDownSince"] is not None
    again = await finish(client, world, down, start=False)  # the agent sends its outcome again
    assert again == out
    [note] = await Notification.filter(kind="guest_down")
    assert note.recipients == ["noc@provider.example", "oncall@provider.example"]
    assert note.payload["guests"] == ["alpha-web: internal error: qemu died"]
    [event] = await AuditEvent.filter(action="window.guest_down")
    window = await Window.get(uid=world.ids["window:alpha-web"])
    assert event.subject_id == window.id
    assert window.guest_down == "alpha-web: internal error: qemu died"
    assert await Notification.filter(kind="window_failed").count() == 1  # and the customer's

    await drain(settings, MaildirTransport(settings.maildir))
    sent = await Notification.get(kind="guest_down")
    assert sent.state == "sent", sent.last_error


async def test_a_guest_down_that_is_not_of_this_host_is_refused_and_changes_nothing(
    db: TortoiseContext, settings: Settings, client: httpx.AsyncClient
) -> None:
    world = await build_world()
    out = await finish(client, world, [{"machine": "beta-db", "reason": "qemu died"}])
    assert out["__typename"] == "ValidationError"
    assert out["fields"][0]["field"] == "guestsDown[0].machine"
    window = await Window.get(uid=world.ids["window:alpha-web"])
    assert (window.state, window.guest_down_at) == ("running", None)
    assert not await Notification.filter(kind__in=["guest_down", "window_failed"]).exists()


async def test_a_window_without_guests_down_is_not_flagged(
    db: TortoiseContext, settings: Settings, client: httpx.AsyncClient
) -> None:
    world = await build_world()
    out = await finish(client, world, [])
    assert (out["state"], out["guestDownSince"]) == ("FAILED", None)
    assert not await Notification.filter(kind="guest_down").exists()
