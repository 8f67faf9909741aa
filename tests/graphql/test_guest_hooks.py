"""Enter and leave hooks over the ASGI app: a host agent asks only its own windows' guests,
and only where a guest agent runs; a guest token sees and answers only its machine's asks,
each ask once; "not yet" is asked again; a postpone follows the group's rules."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx

from api.models import AuditEvent, GuestHook, Machine, ResourceGroup, Window
from api.services.guest_hooks import LEAVE_EXPIRES
from tests.graphql.test_mutations import mutate
from tests.graphql.world import World, gql

HOOK = "... on GuestHook { window phase asks verdict reason kernel }"
ASK = HOOK + " ... on NoGuestAgent { message }"
FACTS = {"kernel": "2.6.38-gentoo", "swapMib": 2048, "cpuModel": "QEMU"}


async def ask(
    client: httpx.AsyncClient, world: World, phase: str = "ENTER", role: str = "agent_1"
) -> dict[str, Any]:
    value = {"window": world.ids["window:alpha-web"], "phase": phase}
    return await mutate(client, world, role, "askGuestHook", "AskGuestHookInput", value, ASK)


async def answer(
    client: httpx.AsyncClient, world: World, asks: int, reply: str, **kw: Any
) -> dict[str, Any]:
    value = {
        "window": world.ids["window:alpha-web"],
        "phase": "ENTER",
        "asks": asks,
        "reply": reply,
        "facts": FACTS,
        **kw,
    }
    return await mutate(
        client, world, "guest_a", "answerGuestHook", "AnswerGuestHookInput", value, HOOK
    )


async def facts(client: httpx.AsyncClient, world: World) -> dict[str, Any]:
    return await mutate(
        client,
        world,
        "guest_a",
        "reportGuestFacts",
        "GuestFactsInput",
        FACTS,
        "... on Machine { name observed { guestKernel guestReportedAt } }",
    )


async def waiting(client: httpx.AsyncClient, world: World, role: str = "guest_a") -> Any:
    return await gql(client, "{ guestHooks { window phase asks } }", token=world.tokens[role])


async def test_ask_answer_once_and_again_after_not_yet(
    client: httpx.AsyncClient, world: World
) -> None:
    uid = world.ids["window:alpha-web"]
    assert (await ask(client, world))["__typename"] == "NoGuestAgent"  # none reported yet
    assert await GuestHook.all().count() == 0
    seen = await facts(client, world)
    observed = seen["observed"]
    assert observed["guestKernel"] == "2.6.38-gentoo" and observed["guestReportedAt"]
    assert (await ask(client, world, role="agent_2"))["__typename"] == "NotFound"
    first = await ask(client, world)
    assert (first["verdict"], first["asks"], first["window"]) == ("ASKED", 1, uid)
    assert (await waiting(client, world))["data"]["guestHooks"] == [
        {"window": uid, "phase": "ENTER", "asks": 1}
    ]
    for role in ("customer_a", "agent_1"):
        out = await waiting(client, world, role)
        assert [e["extensions"]["code"] for e in out["errors"]] == ["PermissionDenied"]
    said = await answer(client, world, 1, "NOT_YET", reason="backup runs")
    assert (said["verdict"], said["reason"]) == ("NOT_YET", "backup runs")
    events = await AuditEvent.filter(action="guest_hook.answer").count()
    assert await answer(client, world, 1, "NOT_YET", reason="backup runs") == said  # no-op
    assert await AuditEvent.filter(action="guest_hook.answer").count() == events
    assert (await answer(client, world, 1, "GO"))["__typename"] == "ValidationError"
    again = await ask(client, world)  # sees the "not yet", and asks again
    assert (again["verdict"], again["reason"], again["asks"]) == ("NOT_YET", "backup runs", 2)
    assert (await ask(client, world))["verdict"] == "ASKED"
    stale = await answer(client, world, 1, "NOT_YET")
    assert [f["field"] for f in stale["fields"]] == ["asks"]
    assert (await answer(client, world, 2, "GO"))["verdict"] == "GO"
    assert (await ask(client, world))["verdict"] == "GO"
    assert (await waiting(client, world))["data"]["guestHooks"] == []
    left = await ask(client, world, "LEAVE")
    assert (left["verdict"], left["phase"]) == ("ASKED", "LEAVE")
    refused = await answer(client, world, 1, "POSTPONE", phase="LEAVE")
    assert [f["field"] for f in refused["fields"]] == ["reply"]


async def test_postpone_moves_the_window_once_then_goes_ahead(
    client: httpx.AsyncClient, world: World
) -> None:
    window = await Window.get(uid=world.ids["window:alpha-web"])
    await facts(client, world)
    await ask(client, world)
    moved = await answer(client, world, 1, "POSTPONE", reason="month end")
    assert moved["verdict"] == "POSTPONED" and "month end" in moved["reason"]
    later = await Window.get(id=window.id)
    assert later.starts_at > window.starts_at and later.postpones == 1
    assert (await ask(client, world))["verdict"] == "POSTPONED"  # not due again yet
    # due again, with no postpone left: the window goes ahead, saying why
    await Window.filter(id=window.id).update(starts_at=window.starts_at)
    vm = await Machine.get(name="alpha-web")
    await ResourceGroup.filter(id=vm.group_id).update(max_postpones=1)
    fresh = await ask(client, world)
    assert (fresh["verdict"], fresh["asks"]) == ("ASKED", 1)
    ahead = await answer(client, world, 1, "POSTPONE")
    assert ahead["verdict"] == "GO" and "cannot move" in ahead["reason"]
    assert (await Window.get(id=window.id)).starts_at == window.starts_at


async def test_an_unanswered_leave_request_expires(client: httpx.AsyncClient, world: World) -> None:
    """The window is over; a guest agent that comes back a day later runs no leave hooks."""
    await facts(client, world)
    uid = world.ids["window:alpha-web"]
    assert (await ask(client, world, "LEAVE"))["verdict"] == "ASKED"
    await Window.filter(uid=uid).update(state="completed")
    listed = (await waiting(client, world))["data"]["guestHooks"]
    assert listed == [{"window": uid, "phase": "LEAVE", "asks": 1}]  # still wanted: just asked
    hook = await GuestHook.get(window__uid=uid, phase="leave")
    hook.asked_at -= LEAVE_EXPIRES + timedelta(minutes=1)
    await hook.save()
    assert (await waiting(client, world))["data"]["guestHooks"] == []
