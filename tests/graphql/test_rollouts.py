"""Rollouts through GraphQL: operators create and preview; customers may not; nothing written."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx

from api.models import AuditEvent, Rollout, Wave, Window
from tests.graphql.test_mutations import mutate
from tests.graphql.world import World, gql


def waves(start: datetime) -> list[dict[str, object]]:
    return [
        {"name": "all VMs", "selector": "REST", "startsAt": start.isoformat(), "soakMinutes": 60},
        {"name": "hosts", "selector": "HOSTS", "startsAt": (start + timedelta(days=2)).isoformat()},
    ]


async def test_operators_create_and_preview_customers_may_not(
    client: httpx.AsyncClient, world: World
) -> None:
    start = datetime.now(UTC) + timedelta(days=20)
    value = {"name": "su-gql", "title": "System update", "kernel": "2.6.38", "waves": waves(start)}
    denied = await mutate(client, world, "customer_a", "createRollout", "CreateRolloutInput", value)
    assert denied["__typename"] == "PermissionDenied"
    assert not await Rollout.filter(name="su-gql").exists()
    made = await mutate(
        client,
        world,
        "admin",
        "createRollout",
        "CreateRolloutInput",
        value,
        "... on Rollout { name state kernel waves { selector soakMinutes } }",
    )
    assert made == {
        "__typename": "Rollout",
        "name": "su-gql",
        "state": "draft",
        "kernel": "2.6.38",
        "waves": [{"selector": "rest", "soakMinutes": 60}, {"selector": "hosts", "soakMinutes": 0}],
    }
    before = (await Window.all().count(), await AuditEvent.all().count(), await Wave.all().count())
    out = await mutate(
        client,
        world,
        "admin",
        "previewRollout",
        "PreviewRolloutInput",
        {"name": "su-gql"},
        "... on RolloutPreview { waves { selector machines perGroup { name count } }"
        " activations { machine wave startsAt } hostReboots { machine host }"
        " conflicts { kind group } lateGroups load { host day vms } }",
    )
    assert out["__typename"] == "RolloutPreview", out
    assert [(w["selector"], w["machines"]) for w in out["waves"]] == [("REST", 2), ("HOSTS", 2)]
    assert sorted(a["machine"] for a in out["activations"]) == ["alpha-web", "beta-db"]
    assert sorted(h["machine"] for h in out["hostReboots"]) == [
        "alpha-web",
        "beta-db",
        "host1",
        "host2",
    ]
    after = (await Window.all().count(), await AuditEvent.all().count(), await Wave.all().count())
    assert after == before  # a preview writes nothing


async def test_bad_waves_come_back_as_one_validation_error(
    client: httpx.AsyncClient, world: World
) -> None:
    past = datetime.now(UTC) - timedelta(days=1)
    bad = waves(past)
    bad[1]["startsAt"] = past.isoformat()  # out of order too
    bad[0]["failureThreshold"] = 2.0
    out = await mutate(
        client,
        world,
        "admin",
        "createRollout",
        "CreateRolloutInput",
        {"name": "su-bad", "title": "S", "waves": bad},
    )
    assert out["__typename"] == "ValidationError"
    assert {f["field"] for f in out["fields"]} == {
        "waves[0].startsAt",
        "waves[0].failureThreshold",
        "waves[1].startsAt",
    }
    assert not await Rollout.filter(name="su-bad").exists()
    missing = await mutate(
        client, world, "admin", "previewRollout", "PreviewRolloutInput", {"name": "nope"}
    )
    assert missing["__typename"] == "NotFound"


async def test_announce_once_then_refused(client: httpx.AsyncClient, world: World) -> None:
    start = datetime.now(UTC) + timedelta(days=20)
    value = {"name": "su-ann", "title": "S", "waves": waves(start)}
    await mutate(client, world, "admin", "createRollout", "CreateRolloutInput", value)
    denied = await mutate(
        client, world, "customer_a", "announceRollout", "AnnounceRolloutInput", {"name": "su-ann"}
    )
    assert denied["__typename"] == "PermissionDenied"
    out = await mutate(
        client,
        world,
        "admin",
        "announceRollout",
        "AnnounceRolloutInput",
        {"name": "su-ann"},
        "... on Rollout { state announcedAt }",
    )
    assert out["__typename"] == "Rollout" and out["state"] == "announced", out
    windows = await Window.all().count()
    again = await mutate(
        client, world, "admin", "announceRollout", "AnnounceRolloutInput", {"name": "su-ann"}
    )
    assert again["__typename"] == "ValidationError" and "announced" in str(again["fields"])
    assert await Window.all().count() == windows


async def test_customers_see_only_their_machines_of_announced_rollouts(
    client: httpx.AsyncClient, world: World
) -> None:
    start = datetime.now(UTC) + timedelta(days=20)
    value = {"name": "su-seen", "title": "S", "waves": waves(start)}
    await mutate(client, world, "admin", "createRollout", "CreateRolloutInput", value)
    query = (
        "{ rollouts { nodes { name machines { nodes { machine wave } }"
        " windows { nodes { machine { name } } } updates { title } timeline { action } } } }"
    )

    async def seen(role: str) -> list[dict[str, object]]:
        out = await gql(client, query, {}, world.tokens[role])
        assert "errors" not in out, out
        return [n for n in out["data"]["rollouts"]["nodes"] if n["name"] == "su-seen"]

    assert await seen("customer_a") == []  # a draft is the operators'
    await mutate(
        client,
        world,
        "admin",
        "announceRollout",
        "AnnounceRolloutInput",
        {"name": "su-seen", "force": True},
    )
    await mutate(
        client,
        world,
        "admin",
        "postRolloutUpdate",
        "PostRolloutUpdateInput",
        {"name": "su-seen", "body": "Going well.", "title": "Day one"},
    )
    [a] = await seen("customer_a")
    assert a["machines"]["nodes"] == [{"machine": "alpha-web", "wave": 1}]
    assert {w["machine"]["name"] for w in a["windows"]["nodes"]} == {"alpha-web"}
    assert a["updates"] == [{"title": "Day one"}] and a["timeline"] == []
    [b] = await seen("customer_b")
    assert b["machines"]["nodes"] == [{"machine": "beta-db", "wave": 1}]
    [op] = await seen("admin")
    assert {m["machine"] for m in op["machines"]["nodes"]} == {
        "alpha-web",
        "beta-db",
        "host1",
        "host2",
    }
    assert [e["action"] for e in op["timeline"]] == [
        "rollout.create",
        "rollout.announce",
        "rollout.update",
    ]
