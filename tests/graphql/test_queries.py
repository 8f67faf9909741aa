"""Every query root field, through the ASGI app, on each database backend."""

from __future__ import annotations

import httpx

from api.graphql.relay import encode_id
from api.models import ResourceGroup
from tests.graphql.world import World, gql


async def test_me_names_the_token_and_its_scope(client: httpx.AsyncClient, world: World) -> None:
    out = await gql(client, "{ me { name role groups host } }", token=world.tokens["customer_a"])
    assert out["data"]["me"] == {
        "name": "cust a",
        "role": "CUSTOMER",
        "groups": ["alpha"],
        "host": None,
    }
    out = await gql(client, "{ me { role host } }", token=world.tokens["agent_1"])
    assert out["data"]["me"] == {"role": "AGENT", "host": "host1"}


async def test_groups_show_policy_preview_feed_machines_and_cost(
    client: httpx.AsyncClient, world: World
) -> None:
    query = """{ groups(first: 10) { totalCount pageInfo { hasNextPage }
      nodes { name title monthlyCost feed { https webcal }
        policy { contacts timezone windowStart windowMinutes weekdays noticeMinutes label
                 freezes { reason } }
        windowPreview(count: 3) { startsAt endsAt localStart localEnd startMoved frozen }
        machines { totalCount nodes { name } } } } }"""
    out = await gql(client, query, token=world.tokens["admin"])
    assert "errors" not in out
    groups = {g["name"]: g for g in out["data"]["groups"]["nodes"]}
    assert set(groups) == {"alpha", "beta", "ops"}
    assert out["data"]["groups"]["totalCount"] == 3
    alpha = groups["alpha"]
    assert alpha["monthlyCost"] == 25  # 2 cores: one beyond the first
    assert groups["beta"]["monthlyCost"] == 75
    assert alpha["policy"]["label"] == "02:00-04:00 Europe/Berlin"
    assert alpha["policy"]["windowStart"] == "02:00"
    token = (await ResourceGroup.get(name="alpha")).feed_token
    assert alpha["feed"]["https"].endswith(f"/feeds/alpha.ics?token={token}")
    assert alpha["feed"]["webcal"].startswith("webcal://")
    preview = alpha["windowPreview"]
    assert len(preview) == 3
    assert all(p["localStart"].endswith(("+01:00", "+02:00")) for p in preview)
    assert all(p["localStart"][11:16] == "02:00" for p in preview)
    assert [m["name"] for m in alpha["machines"]["nodes"]] == ["alpha-web"]
    assert groups["beta"]["policy"]["weekdays"] == [0, 1, 2, 3, 4]


async def test_group_by_name(client: httpx.AsyncClient, world: World) -> None:
    out = await gql(client, '{ group(name: "beta") { name id } }', token=world.tokens["admin"])
    assert out["data"]["group"]["name"] == "beta"
    out = await gql(client, '{ group(name: "nope") { name } }', token=world.tokens["admin"])
    assert out["data"]["group"] is None


async def test_machines_with_filter_host_guests_and_open_work(
    client: httpx.AsyncClient, world: World
) -> None:
    out = await gql(
        client,
        """{ machines(filter: {kind: HOST}) { nodes { name kind guests { name } } } }""",
        token=world.tokens["admin"],
    )
    hosts = {m["name"]: m for m in out["data"]["machines"]["nodes"]}
    assert hosts == {
        "host1": {"name": "host1", "kind": "HOST", "guests": [{"name": "alpha-web"}]},
        "host2": {"name": "host2", "kind": "HOST", "guests": [{"name": "beta-db"}]},
    }
    out = await gql(
        client,
        """{ machine(name: "alpha-web") { name arch monthlyPriceEur host { name }
              group { name } desired { cores memoryMib swapMib kernel }
              observed { cores memoryMib kernel state }
              openActivities { kind state }
              nextWindow { uid state reason sequence local { timezone } }
              auditTrail { totalCount nodes { action actor } } } }""",
        token=world.tokens["admin"],
    )
    m = out["data"]["machine"]
    assert m["host"] == {"name": "host1"} and m["group"] == {"name": "alpha"}
    assert m["desired"] == {"cores": 2, "memoryMib": 2048, "swapMib": 1024, "kernel": "2.6.32"}
    assert m["observed"]["state"] == "running"
    assert sorted(a["kind"] for a in m["openActivities"]) == [
        "KERNEL_UPDATE",
        "REBOOT",
        "SYSTEM_UPDATE",
    ]
    assert m["nextWindow"]["uid"] == world.ids["window:alpha-web"]
    assert m["nextWindow"]["local"]["timezone"] == "Europe/Berlin"
    assert m["auditTrail"]["nodes"][0]["action"] == "machine.register"
    out = await gql(
        client,
        '{ machines(filter: {group: "alpha", nameContains: "WEB"}) { totalCount } }',
        token=world.tokens["admin"],
    )
    assert out["data"]["machines"]["totalCount"] == 1


async def test_customer_sees_its_vm_but_not_the_providers_host(
    client: httpx.AsyncClient, world: World
) -> None:
    out = await gql(
        client,
        '{ machine(name: "alpha-web") { host { name } group { name } } }',
        token=world.tokens["customer_a"],
    )
    assert out["data"]["machine"] == {"host": None, "group": {"name": "alpha"}}


async def test_windows_in_utc_and_group_local_time(client: httpx.AsyncClient, world: World) -> None:
    out = await gql(
        client,
        """{ windows(group: "beta", state: PLANNED) { nodes { uid startsAt endsAt state reason
             sequence local { timezone startsAt endsAt } machine { name }
             activities { kind state } } } }""",
        token=world.tokens["admin"],
    )
    [w] = out["data"]["windows"]["nodes"]
    assert w["uid"] == world.ids["window:beta-db"]
    assert w["startsAt"].endswith("+00:00")
    assert w["local"]["timezone"] == "America/New_York"
    assert w["local"]["startsAt"][-6:] in ("-05:00", "-04:00")
    assert w["activities"] == [{"kind": "REBOOT", "state": "SCHEDULED"}]
    out = await gql(
        client,
        '{ windows(from: "2000-01-01T00:00:00Z", to: "2000-01-02T00:00:00Z") { totalCount } }',
        token=world.tokens["admin"],
    )
    assert out["data"]["windows"]["totalCount"] == 0


async def test_activities_filter(client: httpx.AsyncClient, world: World) -> None:
    out = await gql(
        client,
        "{ activities(filter: {state: QUEUED}) "
        "{ nodes { kind machine { name } window { uid } } } }",
        token=world.tokens["admin"],
    )
    assert out["data"]["activities"]["nodes"] == [
        {"kind": "SYSTEM_UPDATE", "machine": {"name": "alpha-web"}, "window": None}
    ]


async def test_catalog_rollouts_and_audit(client: httpx.AsyncClient, world: World) -> None:
    out = await gql(
        client,
        """{ rollouts { nodes { name state waves { name selector } } }
             announcements { nodes { slug title body } }
             packages(name: "linux") { nodes { name version sha256 } }
             auditEvents(subject: {type: "machine", name: "host1"}) { nodes { action } } }""",
        token=world.tokens["admin"],
    )
    d = out["data"]
    assert d["rollouts"]["nodes"] == [
        {
            "name": "r2011",
            "state": "draft",
            "waves": [{"name": "infrastructure", "selector": "infrastructure"}],
        }
    ]
    assert d["announcements"]["nodes"][0]["slug"] == "updates"
    assert d["packages"]["nodes"] == [{"name": "linux", "version": "2.6.38", "sha256": "a" * 64}]
    assert d["auditEvents"]["nodes"] == [{"action": "machine.register"}]


async def test_node_by_global_id(client: httpx.AsyncClient, world: World) -> None:
    group = await ResourceGroup.get(name="alpha")
    query = "query($id: ID!) { node(id: $id) { __typename id ... on Group { name } } }"
    out = await gql(
        client, query, {"id": encode_id("Group", group.id)}, token=world.tokens["admin"]
    )
    assert out["data"]["node"]["name"] == "alpha"
    out = await gql(client, query, {"id": "bm90IGFuIGlk"}, token=world.tokens["admin"])
    assert out["data"]["node"] is None


async def test_pagination_walks_every_group_once(client: httpx.AsyncClient, world: World) -> None:
    seen, after = [], None
    while True:
        out = await gql(
            client,
            "query($after: String) { groups(first: 1, after: $after) { totalCount "
            "pageInfo { hasNextPage endCursor } edges { cursor node { name } } } }",
            {"after": after},
            token=world.tokens["admin"],
        )
        page = out["data"]["groups"]
        seen += [e["node"]["name"] for e in page["edges"]]
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]
    assert seen == ["alpha", "beta", "ops"]


async def test_due_work_lists_the_agents_own_windows(
    client: httpx.AsyncClient, world: World
) -> None:
    query = "{ dueWork { uid machine { name } activities { id kind state } } }"
    out = await gql(client, query, token=world.tokens["agent_1"])
    assert [w["uid"] for w in out["data"]["dueWork"]] == [world.ids["window:alpha-web"]]
    out = await gql(client, query, token=world.tokens["agent_2"])
    assert [w["machine"]["name"] for w in out["data"]["dueWork"]] == ["beta-db"]


async def test_agents_do_not_read_audit_trails(client: httpx.AsyncClient, world: World) -> None:
    query = "{ dueWork { machine { name auditTrail { totalCount } } } }"
    out = await gql(client, query, token=world.tokens["agent_1"])
    [window] = out["data"]["dueWork"]
    assert window["machine"]["auditTrail"]["totalCount"] == 0
    trail = '{ machine(name: "alpha-web") { auditTrail { totalCount } } }'
    out = await gql(client, trail, token=world.tokens["customer_a"])
    assert out["data"]["machine"]["auditTrail"]["totalCount"] > 0
