"""What operators watch of a running rollout, through GraphQL over the ASGI app: each wave's
counts (done, running, failed, pending) and gate verdict, the next event and its time, and the
timeline (``rolloutEvents``) written where each transition happens. Customers see neither."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from tortoise.context import TortoiseContext

from api.models import ResourceGroup
from api.services import guests, tokens
from api.services.rollout_changes import resume_rollout
from api.settings import Settings
from tests.graphql.world import gql
from tests.services.test_rollout_engine import announced, engine, report, updates

PROGRESS = """query($name: String!) {
  rollouts(first: 1) { nodes { name state progress {
    nextKind nextAt nextWave
    waves { name state total done running failed pending skipped verdict reason } } } }
  rolloutEvents(name: $name) { at kind actor wave reason } }"""


@pytest.fixture
def ops(settings: Settings) -> Settings:
    return replace(settings, site_timezone="Europe/Berlin", operator_contacts="noc@x.example")


def _instant(text: str) -> datetime:
    return datetime.fromisoformat(text).astimezone(UTC)


async def _watch(client: httpx.AsyncClient, token: str) -> dict[str, Any]:
    out = await gql(client, PROGRESS, {"name": "su"}, token)
    assert "errors" not in out, out
    return dict(out["data"])


async def test_wave_progress_verdicts_next_event_and_timeline(
    db: TortoiseContext, ops: Settings, client: httpx.AsyncClient
) -> None:
    r, waves = await announced(ops)
    infra, rep, third, *_ = waves
    admin = (await tokens.create_token("test", name="admin", role="admin"))[1]

    seen = await _watch(client, admin)
    node = seen["rollouts"]["nodes"][0]["progress"]
    assert node["nextKind"] == "WAVE_START" and node["nextWave"] == infra.name
    assert _instant(node["nextAt"]) == infra.starts_at
    assert {w["verdict"] for w in node["waves"]} == {"NOT_STARTED"}
    assert [e["kind"] for e in seen["rolloutEvents"]] == ["CREATED", "ANNOUNCED"]

    await engine(ops, infra.starts_at)
    await report(await updates(r, infra), infra.starts_at + timedelta(minutes=5))
    await engine(ops, rep.starts_at)
    acts = await updates(r, rep)
    at = rep.starts_at + timedelta(minutes=10)
    failed = await report(acts[:3], at, failing=2)
    for a in acts[3:5]:  # two started by their guest agents, not yet reported
        await guests.start_update("guest:test", a.machine_id, a.id, now=at)

    node = (await _watch(client, admin))["rollouts"]["nodes"][0]["progress"]
    w0, w1 = node["waves"][:2]
    assert (w0["verdict"], w0["done"], w0["total"]) == ("PASSED", w0["total"], w0["total"])
    started = min(2, max(0, len(acts) - 3))
    assert (w1["total"], w1["done"], w1["failed"]) == (len(acts), 1, 2)
    assert (w1["running"], w1["pending"]) == (started, len(acts) - 3 - started)
    assert w1["verdict"] == "FAILING" and "2 of" in w1["reason"]
    assert node["nextKind"] == "GATE" and node["nextWave"] == rep.name
    assert _instant(node["nextAt"]) == rep.starts_at + timedelta(minutes=rep.soak_minutes)

    # the gate fails: halted by the engine, nothing next without an operator
    await engine(ops, rep.starts_at + timedelta(minutes=rep.soak_minutes))
    seen = await _watch(client, admin)
    node = seen["rollouts"]["nodes"][0]["progress"]
    assert node["waves"][1]["verdict"] == "FAILED" and node["nextKind"] is None
    kinds = [(e["kind"], e["actor"], e["wave"]) for e in seen["rolloutEvents"]]
    assert kinds[2:] == [
        ("WAVE_STARTED", "system:rollouts", infra.name),
        ("GATE_PASSED", "system:rollouts", infra.name),
        ("WAVE_STARTED", "system:rollouts", rep.name),
        ("GATE_FAILED", "system:rollouts", rep.name),
        ("HALTED", "system:rollouts", rep.name),
    ]
    assert all(f"- {m}:" in seen["rolloutEvents"][-1]["reason"] for m in failed)

    # an operator resumes: who did it is on the timeline; the halted wave runs again from now
    now = rep.starts_at + timedelta(hours=2)
    await resume_rollout("admin:ops", r, [], now=now, settings=ops)
    seen = await _watch(client, admin)
    assert (seen["rolloutEvents"][-1]["kind"], seen["rolloutEvents"][-1]["actor"]) == (
        "RESUMED",
        "admin:ops",
    )
    node = seen["rollouts"]["nodes"][0]["progress"]
    again = node["waves"][1]  # the failures before the resume were seen: not counted again
    assert (again["failed"], again["done"]) == (0, 3)
    assert again["verdict"] == "FAILING" and "failed" not in again["reason"]  # unfinished only
    assert node["nextKind"] == "GATE" and _instant(node["nextAt"]) == now + timedelta(
        minutes=rep.soak_minutes
    )
    assert third.name in [w["name"] for w in node["waves"]]


async def test_customers_see_neither_progress_nor_timeline(
    db: TortoiseContext, ops: Settings, client: httpx.AsyncClient
) -> None:
    await announced(ops)
    acme = await ResourceGroup.get(name="acme")
    customer = (await tokens.create_token("test", name="c", role="customer", groups=[acme]))[1]
    out = await gql(client, PROGRESS, {"name": "su"}, customer)
    assert out["data"] is None or out["data"].get("rolloutEvents") is None
    assert "PermissionDenied" in str(out["errors"]) or "may not" in str(out["errors"])
    alone = await gql(client, "{ rollouts { nodes { name progress { nextKind } } } }", {}, customer)
    assert alone["data"]["rollouts"]["nodes"][0]["progress"] is None
