"""Every ```graphql example in docs/graphql.md runs, in order, against the demo world."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx

from api.demo import load_demo
from api.graphql.relay import encode_id
from api.models import Activity, Machine, ResourceGroup, Window
from api.services import tokens
from tests.graphql.world import gql

DOC = Path(__file__).resolve().parents[2] / "docs" / "graphql.md"
BLOCK = re.compile(r"```graphql\n(.*?)```(?:\s*\n\s*answers\s*\n\s*```json\n(.*?)```)?", re.S)
ERRORS = {"ValidationError", "NotFound", "PermissionDenied"}


def examples() -> list[tuple[str, str | None]]:
    return [(m.group(1), m.group(2)) for m in BLOCK.finditer(DOC.read_text())]


def header(doc: str, key: str) -> str | None:
    found = re.search(rf"^# {key}: (.+)$", doc, re.M)
    return found.group(1).strip() if found else None


async def demo_tokens() -> dict[str, str]:
    acme = await ResourceGroup.get(name="acme")
    kvm01 = await Machine.get(name="kvm01")
    web01 = await Machine.get(name="acme-web01")
    return {
        "admin": (await tokens.create_token("docs", name="docs admin", role="admin"))[1],
        "customer acme": (
            await tokens.create_token("docs", name="acme", role="customer", groups=[acme])
        )[1],
        "agent kvm01": (await tokens.create_token("docs", name="kvm01", role="agent", host=kvm01))[
            1
        ],
        "guest acme-web01": (
            await tokens.create_token("docs", name="web01", role="guest", machine=web01)
        )[1],
    }


async def due_window() -> tuple[Window, Activity]:
    """A window on kvm01's acme-web01 that has begun, carrying its kernel update."""
    vm = await Machine.get(name="acme-web01")
    now = datetime.now(UTC)
    window = await Window.create(
        machine=vm,
        starts_at=now - timedelta(minutes=1),
        ends_at=now + timedelta(hours=2),
        reason="docs example",
    )
    # the demo's system update has taken it into its activation window
    activity = await Activity.get(
        machine=vm, kind="kernel_update", state__in=["queued", "scheduled"]
    )
    activity.state, activity.window = "scheduled", window
    await activity.save()
    # ... once its system update of that rollout is done (until then the window waits)
    await Activity.filter(
        machine=vm,
        kind="system_update",
        rollout_id=activity.rollout_id,  # type: ignore[attr-defined]
    ).update(state="done")
    return window, activity


def test_the_page_has_examples_for_reading_changing_and_agents() -> None:
    docs = [doc for doc, _ in examples()]
    assert len(docs) >= 14
    for name in (
        "dueWork",
        "startWindow",
        "finishWindow",
        "changeDesired",
        "createToken",
        "guestWork",
        "reportGuestUpdate",
    ):
        assert any(name in d for d in docs), name


async def test_examples_run(client: httpx.AsyncClient, db: object) -> None:
    await load_demo()
    secrets = await demo_tokens()
    window, activity = await due_window()
    update = await Activity.create(  # a rollout's system update, its wave begun
        machine=await Machine.get(name="acme-web01"),
        kind="system_update",
        state="scheduled",
        not_before=datetime.now(UTC) - timedelta(minutes=1),
        requested_by="docs",
    )
    variables = {
        "StartUpdate": {"activity": encode_id("Activity", update.id)},
        "ReportUpdate": {"activity": encode_id("Activity", update.id)},
        "Start": {"window": window.uid},
        "Finish": {"window": window.uid, "activity": encode_id("Activity", activity.id)},
    }
    for doc, answer in examples():
        name = re.search(r"^(?:query|mutation) (\w+)", doc, re.M)
        assert name, doc
        token = header(doc, "token")
        assert token in secrets, doc
        out = await gql(client, doc, variables.get(name.group(1), {}), secrets[token])
        assert "errors" not in out, (name.group(1), out)
        for value in out["data"].values():
            assert value not in (None, []), (name.group(1), out)
            if isinstance(value, dict) and "__typename" in value:
                expected = header(doc, "expect")
                if expected is None:
                    assert value["__typename"] not in ERRORS, (name.group(1), value)
                else:
                    assert value["__typename"] == expected, (name.group(1), value)
        if answer is not None:
            assert out["data"] == json.loads(answer), name.group(1)
    finished = await Window.get(id=window.id)
    assert finished.state == "completed"
