"""Nothing a customer should not see: drafts, VM host names, operators' token names."""

from __future__ import annotations

import json
from datetime import UTC, datetime, time, timedelta
from typing import Any

import httpx

from api.graphql.relay import encode_id
from api.models import Announcement, Notification
from api.scheduling import Policy, occurrences
from tests.graphql.world import World, gql

ALPHA = Policy("Europe/Berlin", time(2, 0), 120, (0, 1, 2, 3, 4, 5, 6))


def m(field: str, input_type: str, body: str = "") -> str:
    return (
        f"mutation($i: {input_type}!) {{ out: {field}(input: $i) {{ __typename {body} "
        "... on ValidationError { fields { field message } } } }"
    )


async def run(client: httpx.AsyncClient, token: str | None, doc: str, value: Any) -> Any:
    out = await gql(client, doc, {"i": value}, token)
    assert "errors" not in out, out
    return out["data"]["out"]


async def test_a_draft_announcement_is_not_a_node(client: httpx.AsyncClient, world: World) -> None:
    draft = await Announcement.create(
        slug="secret-plans-draft", title="Secret plans", body="Not yet."
    )
    doc = "query($i: ID!) { node(id: $i) { id ... on Announcement { title } } }"
    node_id = encode_id("Announcement", draft.id)
    out = await gql(client, doc, {"i": node_id}, world.tokens["customer_a"])
    assert out == {"data": {"node": None}}, out
    # operators write drafts, so they read them (everywhere, as in `announcements`)
    out = await gql(client, doc, {"i": node_id}, world.tokens["admin"])
    assert out == {"data": {"node": {"id": node_id, "title": "Secret plans"}}}, out


async def test_the_host_filter_is_no_probe_for_customers(
    client: httpx.AsyncClient, world: World
) -> None:
    doc = "query($h: String) { machines(filter: {host: $h}) { totalCount } }"
    answers = {
        host: (await gql(client, doc, {"h": host}, world.tokens["customer_a"]))["data"]
        for host in ("host1", "host2", "no-such-host")
    }
    assert set(json.dumps(a) for a in answers.values()) == {'{"machines": {"totalCount": 0}}'}
    out = await gql(client, doc, {"h": "host1"}, world.tokens["admin"])
    assert out["data"]["machines"]["totalCount"] == 1


async def _host_with_two_vms(client: httpx.AsyncClient, world: World) -> None:
    admin = world.tokens["admin"]
    host = {"name": "kvm09", "group": "ops", "kind": "HOST", "cores": 8, "capacity": 1}
    assert (await run(client, admin, m("registerMachine", "RegisterMachineInput"), host))[
        "__typename"
    ] == "Machine"
    for name in ("alpha-x", "alpha-y"):
        vm = {"name": name, "group": "alpha", "host": "kvm09", "cores": 2, "memoryMib": 2048}
        out = await run(client, admin, m("registerMachine", "RegisterMachineInput"), vm)
        assert out["__typename"] == "Machine", out
        queued = {"machine": name, "kind": "REBOOT"}
        out = await run(
            client, world.tokens["customer_a"], m("queueActivity", "QueueActivityInput"), queued
        )
        assert out["__typename"] == "Activity", out


async def test_customers_read_no_host_names_in_errors_or_audit_trails(
    client: httpx.AsyncClient, world: World
) -> None:
    await _host_with_two_vms(client, world)
    now = datetime.now(UTC)
    occ = next(occurrences(ALPHA, now + timedelta(days=3), now + timedelta(days=5)))
    doc = m("scheduleAt", "ScheduleAtInput", "... on Window { reason }")
    value = {"machine": "alpha-x", "startsAt": occ.starts_at.isoformat()}
    first = await run(client, world.tokens["admin"], doc, value)
    assert first["__typename"] == "Window", first
    assert "the operators" in first["reason"] and "admin" not in first["reason"]
    # the host has room for one VM: alpha-y does not fit then
    value = {"machine": "alpha-y", "startsAt": occ.starts_at.isoformat()}
    customer = await run(client, world.tokens["customer_a"], doc, value)
    operator = await run(client, world.tokens["admin"], doc, value)
    assert customer["__typename"] == operator["__typename"] == "ValidationError"
    assert "kvm09" not in json.dumps(customer)
    assert "most machines in maintenance" in json.dumps(customer)
    assert "host kvm09 already has 1 VM in maintenance" in json.dumps(operator)
    trail = (
        "query($n: String!) { machine(name: $n) { auditTrail { nodes { id actor details } } "
        "openActivities { requestedBy params } } }"
    )
    seen = await gql(client, trail, {"n": "alpha-x"}, world.tokens["customer_a"])
    assert "kvm09" not in json.dumps(seen), seen
    events = seen["data"]["machine"]["auditTrail"]["nodes"]
    actors = {e["actor"] for e in events}
    assert actors and "admin:admin" not in actors and "the operators" in actors, actors
    as_operator = await gql(client, trail, {"n": "alpha-x"}, world.tokens["admin"])
    assert "kvm09" in json.dumps(as_operator)
    # node(id) shows each event as the trail does, to whom the trail shows it
    doc = "query($i: ID!) { node(id: $i) { ... on AuditEvent { id actor details } } }"
    for event in events:
        by_id = await gql(client, doc, {"i": event["id"]}, world.tokens["customer_a"])
        assert by_id == {"data": {"node": event}}, by_id
        other = await gql(client, doc, {"i": event["id"]}, world.tokens["customer_b"])
        assert other == {"data": {"node": None}}, other
    operator_events = as_operator["data"]["machine"]["auditTrail"]["nodes"]
    assert "admin:admin" in {e["actor"] for e in operator_events}
    for event in operator_events:
        by_id = await gql(client, doc, {"i": event["id"]}, world.tokens["admin"])
        assert by_id == {"data": {"node": event}}, by_id


async def test_customers_read_agent_logs_without_host_names(
    client: httpx.AsyncClient, world: World
) -> None:
    """An agent's log names the host ("rebooted with host host1"): customers read "its host",
    in the activity's log, the machine's audit trail and the mail; operators read the name."""
    agent = world.tokens["agent_1"]
    due = await gql(client, "{ dueWork { uid activities { id } } }", None, agent)
    window = next(w for w in due["data"]["dueWork"] if w["uid"] == world.ids["window:alpha-web"])
    start = m("startWindow", "StartWindowInput")
    await run(client, agent, start, {"window": window["uid"], "agent": "host1-agent"})
    log = "alpha-web was rebooted with host host1; no second reboot\nhost1: done"
    results = [{"activity": a["id"], "outcome": "DONE", "log": log} for a in window["activities"]]
    finish = m("finishWindow", "FinishWindowInput")
    value = {"window": window["uid"], "results": results, "agent": "host1-agent"}
    assert (await run(client, agent, finish, value))["__typename"] == "Window"

    read = (
        'query { machine(name: "alpha-web") { auditTrail { nodes { actor details } } } '
        'activities(filter: {machine: "alpha-web"}) { nodes { log } } }'
    )
    customer = json.dumps(await gql(client, read, None, world.tokens["customer_a"]))
    assert "host1" not in customer, customer
    assert "alpha-web was rebooted with its host; no second reboot" in customer
    operator = json.dumps(await gql(client, read, None, world.tokens["admin"]))
    assert "rebooted with host host1" in operator
    mail = await Notification.filter(kind="window_completed").values_list("payload", flat=True)
    assert mail and "host1" not in json.dumps(mail), mail
