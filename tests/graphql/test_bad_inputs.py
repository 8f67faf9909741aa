"""Hostile and mistaken input: each gets a typed error, and nothing is written."""

from __future__ import annotations

import base64
import json
from typing import Any

import httpx
import pytest

from api.graphql.relay import encode_id
from api.models import (
    Activity,
    ApiToken,
    AuditEvent,
    Freeze,
    Machine,
    Notification,
    ResourceGroup,
    Window,
)
from tests.graphql.world import World, gql

TABLES = (ResourceGroup, Machine, Activity, Window, Freeze, ApiToken, AuditEvent, Notification)
GROUP = {"name": "gamma", "contacts": ["ops@gamma.example"], "timezone": "UTC"}
VM = {"name": "alpha-new", "group": "alpha", "host": "host1", "cores": 2, "memoryMib": 2048}
DOMAIN = {"name": "alpha-web", "state": "running", "memoryMib": 2048, "vcpus": 2}


def m(field: str, input_type: str) -> str:
    return (
        f"mutation($input: {input_type}!) {{ {field}(input: $input) {{ __typename "
        "... on ValidationError { fields { field message } } } }"
    )


CREATE = m("createGroup", "CreateGroupInput")
UPDATE = m("updateGroupPolicy", "UpdatePolicyInput")
REGISTER = m("registerMachine", "RegisterMachineInput")
CHANGE = m("changeDesired", "ChangeDesiredInput")
QUEUE = m("queueActivity", "QueueActivityInput")
TOKEN = m("createToken", "CreateTokenInput")
INVENTORY = m("reportInventory", "ReportInventoryInput")
FINISH = m("finishWindow", "FinishWindowInput")
DEEP = "{ groups { nodes { " + "machines { nodes { group { " * 5 + "name" + " } } }" * 5 + " } } }"
ALIASES = "{ " + " ".join(f"a{i}: me {{ name }}" for i in range(40)) + " }"
TOKENS = "{ me { " + "name " * 2500 + "} }"

# (id, role, document, input or variables, expected __typename / error code, field named)
CASES: list[tuple[str, str, str, dict[str, Any], str, str | None]] = [
    (
        "unknown timezone",
        "admin",
        CREATE,
        {**GROUP, "timezone": "Mars/Olympus_Mons"},
        "ValidationError",
        "timezone",
    ),
    (
        "0 h window",
        "admin",
        CREATE,
        {**GROUP, "windowMinutes": 0},
        "ValidationError",
        "windowMinutes",
    ),
    (
        "25 h window",
        "admin",
        CREATE,
        {**GROUP, "windowMinutes": 25 * 60},
        "ValidationError",
        "windowMinutes",
    ),
    (
        "double @ address",
        "admin",
        CREATE,
        {**GROUP, "contacts": ["ops@@gamma.example"]},
        "ValidationError",
        "contacts[0]",
    ),
    (
        "address without @",
        "admin",
        CREATE,
        {**GROUP, "contacts": ["ops.gamma.example"]},
        "ValidationError",
        "contacts[0]",
    ),
    (
        "address with space",
        "admin",
        CREATE,
        {**GROUP, "contacts": ["o ps@gamma.example"]},
        "ValidationError",
        "contacts[0]",
    ),
    (
        "address without dotted domain",
        "admin",
        CREATE,
        {**GROUP, "contacts": ["ops@localhost"]},
        "ValidationError",
        "contacts[0]",
    ),
    ("no contacts", "admin", CREATE, {**GROUP, "contacts": []}, "ValidationError", "contacts"),
    (
        "SQL in a name",
        "admin",
        CREATE,
        {**GROUP, "name": "x'; DROP TABLE machine; --"},
        "ValidationError",
        "name",
    ),
    (
        "HTML in a name",
        "admin",
        CREATE,
        {**GROUP, "name": "<script>alert(1)</script>"},
        "ValidationError",
        "name",
    ),
    (
        "fullwidth unicode name",
        "admin",
        CREATE,
        {**GROUP, "name": "\uff47\uff41\uff4d\uff4d\uff41"},
        "ValidationError",
        "name",
    ),
    (
        "zero-width space in name",
        "admin",
        CREATE,
        {**GROUP, "name": "gam\u200bma"},
        "ValidationError",
        "name",
    ),
    (
        "RTL override in address",
        "admin",
        CREATE,
        {**GROUP, "contacts": ["ops\u202e@gamma.example"]},
        "ValidationError",
        "contacts[0]",
    ),
    ("weekday 7", "admin", CREATE, {**GROUP, "weekdays": [7]}, "ValidationError", "weekdays"),
    ("no weekdays", "admin", CREATE, {**GROUP, "weekdays": []}, "ValidationError", "weekdays"),
    (
        "window start 25:00",
        "admin",
        CREATE,
        {**GROUP, "windowStart": "25:00"},
        "ValidationError",
        "windowStart",
    ),
    (
        "negative notice",
        "admin",
        CREATE,
        {**GROUP, "noticeMinutes": -1},
        "ValidationError",
        "noticeMinutes",
    ),
    ("duplicate group", "admin", CREATE, {**GROUP, "name": "alpha"}, "ValidationError", "name"),
    (
        "unknown group",
        "customer_a",
        UPDATE,
        {"group": "nope", "windowMinutes": 60},
        "NotFound",
        None,
    ),
    (
        "SQL in a timezone",
        "customer_a",
        UPDATE,
        {"group": "alpha", "timezone": "UTC' OR '1'='1"},
        "ValidationError",
        "timezone",
    ),
    (
        "null contacts",
        "customer_a",
        UPDATE,
        {"group": "alpha", "contacts": None},
        "ValidationError",
        "contacts",
    ),
    (
        "freeze ends before it starts",
        "customer_a",
        UPDATE,
        {
            "group": "alpha",
            "freezes": [{"startsAt": "2030-01-02T00:00:00Z", "endsAt": "2030-01-01T00:00:00Z"}],
        },
        "ValidationError",
        "freezes[0].endsAt",
    ),
    ("13 cores", "admin", REGISTER, {**VM, "cores": 13}, "ValidationError", "cores"),
    (
        "i686 with 8 GiB",
        "admin",
        REGISTER,
        {**VM, "arch": "I686", "memoryMib": 8192},
        "ValidationError",
        "memoryMib",
    ),
    (
        "VM swap under 1 GiB",
        "admin",
        REGISTER,
        {**VM, "swapMib": 512},
        "ValidationError",
        "swapMib",
    ),
    ("VM without host", "admin", REGISTER, {**VM, "host": None}, "ValidationError", "host"),
    ("VM on a VM", "admin", REGISTER, {**VM, "host": "beta-db"}, "ValidationError", "host"),
    ("unknown host", "admin", REGISTER, {**VM, "host": "host9"}, "NotFound", None),
    ("unknown group for machine", "admin", REGISTER, {**VM, "group": "zeta"}, "NotFound", None),
    (
        "change to 13 cores",
        "customer_a",
        CHANGE,
        {"machine": "alpha-web", "cores": 13},
        "ValidationError",
        "cores",
    ),
    (
        "SQL in a machine name",
        "customer_a",
        CHANGE,
        {"machine": "alpha-web' OR '1'='1", "cores": 2},
        "NotFound",
        None,
    ),
    (
        "another group's machine",
        "customer_a",
        CHANGE,
        {"machine": "beta-db", "cores": 2},
        "NotFound",
        None,
    ),
    (
        "HTML redundancy tag",
        "customer_a",
        m("setRedundancy", "SetRedundancyInput"),
        {"machine": "alpha-web", "redundancy": "<b>web</b>"},
        "ValidationError",
        "redundancy",
    ),
    (
        "estimate over a day",
        "customer_a",
        QUEUE,
        {"machine": "alpha-web", "kind": "REBOOT", "estimateMinutes": 5000},
        "ValidationError",
        "estimateMinutes",
    ),
    (
        "host reboot of a VM",
        "admin",
        QUEUE,
        {"machine": "alpha-web", "kind": "HOST_REBOOT"},
        "ValidationError",
        "kind",
    ),
    (
        "params not an object",
        "customer_a",
        QUEUE,
        {"machine": "alpha-web", "kind": "REBOOT", "params": [1, 2]},
        "ValidationError",
        "params",
    ),
    (
        "malformed global id",
        "customer_a",
        m("cancelActivity", "CancelActivityInput"),
        {"activity": "%%%not-base64"},
        "NotFound",
        None,
    ),
    (
        "customer token without groups",
        "admin",
        TOKEN,
        {"name": "x", "role": "CUSTOMER"},
        "ValidationError",
        "groups",
    ),
    (
        "agent token on a VM",
        "admin",
        TOKEN,
        {"name": "x", "role": "AGENT", "host": "alpha-web"},
        "ValidationError",
        "host",
    ),
    # a bad domain in an inventory report is rejected alone: tests/graphql/test_inventory.py
    (
        "NUL in a title",
        "customer_a",
        UPDATE,
        {"group": "alpha", "title": "a\x00b"},
        "ValidationError",
        "title",
    ),
    (
        "NUL in activity params",
        "customer_a",
        QUEUE,
        {"machine": "alpha-web", "kind": "REBOOT", "params": {"note": "x\x00"}},
        "ValidationError",
        "params.note",
    ),
    (
        "NUL in a cancel reason",
        "admin",
        m("cancelWindow", "CancelWindowInput"),
        {"window": "WINDOW", "reason": "x\x00"},
        "ValidationError",
        "reason",
    ),
    (
        "NUL in an agent's log",
        "agent_1",
        FINISH,
        {
            "window": "WINDOW",
            "results": [{"activity": encode_id("Activity", 1), "outcome": "DONE", "log": "\x00"}],
        },
        "ValidationError",
        "results[0].log",
    ),
    (
        "a start past any database's year",
        "customer_a",
        m("scheduleAt", "ScheduleAtInput"),
        {"machine": "alpha-web", "startsAt": "9999-12-31T23:00:00Z"},
        "ValidationError",
        "startsAt",
    ),
    (
        "an instant before year 1 in UTC",
        "customer_a",
        QUEUE,
        {"machine": "alpha-web", "kind": "REBOOT", "notBefore": "0001-01-01T00:00:00+14:00"},
        "ValidationError",
        "notBefore",
    ),
    (
        "a freeze to the end of time",
        "customer_a",
        UPDATE,
        {
            "group": "alpha",
            "freezes": [
                {"startsAt": "2030-01-01T00:00:00Z", "endsAt": "9999-12-31T23:59:00-12:00"}
            ],
        },
        "ValidationError",
        "freezes[0].endsAt",
    ),
    (
        "a forced host reboot in 9999",
        "admin",
        m("forceHostReboot", "ForceHostRebootInput"),
        {"host": "host1", "startsAt": "9999-12-31T23:00:00Z"},
        "ValidationError",
        "startsAt",
    ),
    (
        "a title longer than its column",
        "customer_a",
        UPDATE,
        {"group": "alpha", "title": "x" * 201},
        "ValidationError",
        "title",
    ),
    (
        "a line break in a title (mail subjects carry it)",
        "admin",
        CREATE,
        {**GROUP, "title": "Gamma\r\nBcc: all@evil.example"},
        "ValidationError",
        "title",
    ),
    (
        "activity params of a megabyte",
        "customer_a",
        QUEUE,
        {"machine": "alpha-web", "kind": "REBOOT", "params": {"note": "x" * 1_000_000}},
        "ValidationError",
        "params",
    ),
    (
        "a customer token without groups or name (both named)",
        "admin",
        TOKEN,
        {"name": "", "role": "CUSTOMER"},
        "ValidationError",
        "name",
    ),
    (
        "an activity ID past any database integer",
        "customer_a",
        m("cancelActivity", "CancelActivityInput"),
        {"activity": base64.urlsafe_b64encode(b"Activity:" + b"9" * 30).decode()},
        "NotFound",
        None,
    ),
    (
        "a token ID past any database integer",
        "admin",
        m("revokeToken", "RevokeTokenInput"),
        {"token": base64.urlsafe_b64encode(b"Token:" + b"9" * 30).decode()},
        "NotFound",
        None,
    ),
    (
        "a reminder 4,000 years ahead (stopped every group's reminders and mail)",
        "customer_a",
        UPDATE,
        {"group": "alpha", "reminderMinutes": 2**31 - 1},
        "ValidationError",
        "reminderMinutes",
    ),
    (
        "a notice of 4,000 years",
        "admin",
        CREATE,
        {**GROUP, "noticeMinutes": 2**31 - 1},
        "ValidationError",
        "noticeMinutes",
    ),
    (
        "a memory resize past the seed's limits, queued around changeDesired",
        "customer_a",
        QUEUE,
        {"machine": "alpha-web", "kind": "MEMORY_RESIZE", "params": {"memory_mib": 1048576}},
        "ValidationError",
        "kind",
    ),
    (
        "32 cores queued around changeDesired",
        "customer_a",
        QUEUE,
        {"machine": "alpha-web", "kind": "CPU_CHANGE", "params": {"cores": 32}},
        "ValidationError",
        "kind",
    ),
    (
        "a kernel path of the agent's host, queued around changeDesired",
        "customer_a",
        QUEUE,
        {
            "machine": "alpha-web",
            "kind": "KERNEL_UPDATE",
            "params": {"kernel": "../../var/lib/libvirt/images/beta-db"},
        },
        "ValidationError",
        "kind",
    ),
    (
        "a desired kernel that is a path on the agent's host",
        "customer_a",
        CHANGE,
        {"machine": "alpha-web", "kernel": "../../var/lib/libvirt/images/beta-db"},
        "ValidationError",
        "kernel",
    ),
    (
        "a desired kernel longer than its column",
        "customer_a",
        CHANGE,
        {"machine": "alpha-web", "kernel": "2." + "6" * 100},
        "ValidationError",
        "kernel",
    ),
    (
        "a registered kernel with a shell command",
        "admin",
        REGISTER,
        {**VM, "kernel": "2.6.38; reboot"},
        "ValidationError",
        "kernel",
    ),
    (
        "control characters in state",
        "agent_1",
        INVENTORY,
        {"state": "run\x00ning"},
        "ValidationError",
        "state",
    ),
    (
        "finish before start",
        "agent_1",
        FINISH,
        {"window": "WINDOW", "results": []},
        "ValidationError",
        "window",
    ),
    (
        "unknown window",
        "agent_1",
        FINISH,
        {"window": "nope@fenster", "results": []},
        "NotFound",
        None,
    ),
]
QUERY_CASES: list[tuple[str, str, dict[str, Any], str, str | None]] = [
    ("oversized page", "{ groups(first: 101) { totalCount } }", {}, "ValidationError", "first"),
    (
        "oversized machine page",
        "{ machines(first: 1001) { totalCount } }",
        {},
        "ValidationError",
        "first",
    ),
    ("zero page", "{ activities(first: 0) { totalCount } }", {}, "ValidationError", "first"),
    ("forged cursor", '{ groups(after: "b3Bz") { totalCount } }', {}, "ValidationError", "after"),
    (
        "cursor past any database integer",
        '{ groups(after: "'
        + base64.urlsafe_b64encode(b"o:" + b"9" * 30).decode()
        + '") { totalCount } }',
        {},
        "ValidationError",
        "after",
    ),
    (
        "huge preview",
        '{ group(name: "alpha") { windowPreview(count: 1000) { startsAt } } }',
        {},
        "ValidationError",
        "count",
    ),
    (
        "window range backwards",
        '{ windows(from: "2030-01-02T00:00:00Z", to: "2030-01-01T00:00:00Z") { totalCount } }',
        {},
        "ValidationError",
        "to",
    ),
    (
        "NUL in a looked-up name",
        '{ machine(name: "alpha-web\\u0000") { name } }',
        {},
        "ValidationError",
        "name",
    ),
    (
        "window range from before year 1 in UTC",
        '{ windows(from: "0001-01-01T00:00:00+14:00") { totalCount } }',
        {},
        "ValidationError",
        "from",
    ),
    ("deep query", DEEP, {}, "BAD_QUERY", None),
    ("alias bomb", ALIASES, {}, "BAD_QUERY", None),
    ("token bomb", TOKENS, {}, "BAD_QUERY", None),
    ("unknown field", "{ groups { nodes { password } } }", {}, "BAD_QUERY", None),
    ("syntax error", "{ groups { ", {}, "BAD_QUERY", None),
]


async def counts() -> list[int]:
    return [await model.all().count() for model in TABLES]


def test_there_are_at_least_thirty_cases() -> None:
    assert len(CASES) + len(QUERY_CASES) >= 30


@pytest.mark.parametrize(
    ("role", "doc", "value", "typename", "field"), [pytest.param(*c[1:], id=c[0]) for c in CASES]
)
async def test_bad_mutation_input(
    client: httpx.AsyncClient,
    world: World,
    role: str,
    doc: str,
    value: dict[str, Any],
    typename: str,
    field: str | None,
) -> None:
    if value.get("window") == "WINDOW":
        value = {**value, "window": world.ids["window:alpha-web"]}
    before = await counts()
    out = await gql(client, doc, {"input": value}, world.tokens[role])
    assert "errors" not in out, out
    [payload] = out["data"].values()
    assert payload["__typename"] == typename, payload
    if field is not None:
        assert field in [f["field"] for f in payload["fields"]], payload
    assert await counts() == before


@pytest.mark.parametrize(
    ("doc", "variables", "code", "field"), [pytest.param(*c[1:], id=c[0]) for c in QUERY_CASES]
)
async def test_bad_query(
    client: httpx.AsyncClient,
    world: World,
    doc: str,
    variables: dict[str, Any],
    code: str,
    field: str | None,
) -> None:
    before = await counts()
    out = await gql(client, doc, variables, world.tokens["admin"])
    assert out.get("errors"), out
    error = out["errors"][0]
    assert error["extensions"]["code"] == code, out
    if field is not None:
        assert [f["field"] for f in error["extensions"]["fields"]] == [field]
    assert "Traceback" not in str(out)
    assert await counts() == before


def test_internal_errors_are_masked() -> None:
    """An unexpected exception reaches the client as 'Unexpected error.' and nothing more."""
    from graphql import GraphQLError

    from api.graphql.schema import PublicErrors

    bug = GraphQLError(
        "secret connection string postgres://admin:hunter2@db",
        path=["groups"],
        original_error=RuntimeError("postgres://admin:hunter2@db"),
    )
    [shown] = PublicErrors()._process_errors([bug])
    assert shown.message == "Unexpected error."
    assert shown.extensions == {"code": "INTERNAL"}
    assert "hunter2" not in str(shown.formatted)


async def test_activity_ids_of_another_type_are_not_found(
    client: httpx.AsyncClient, world: World
) -> None:
    group_id = encode_id("Group", world.ids["group:alpha"])
    out = await gql(
        client,
        "mutation($i: CancelActivityInput!) { cancelActivity(input: $i) { __typename } }",
        {"i": {"activity": group_id}},
        world.tokens["admin"],
    )
    assert out["data"]["cancelActivity"]["__typename"] == "NotFound"


@pytest.mark.parametrize("depth", [100, 100_000])
async def test_deeply_nested_json_is_a_bad_request(
    client: httpx.AsyncClient, world: World, depth: int
) -> None:
    """Nesting deep enough to exhaust Python's recursion (in the JSON parser or anywhere after
    it) is refused as a client error, with nothing written."""
    query = (
        "mutation($p: JSON) { queueActivity(input: "
        '{machine: "alpha-web", kind: REBOOT, params: $p}) { __typename } }'
    )
    nested = "[" * depth + "]" * depth
    body = '{"query": ' + json.dumps(query) + ', "variables": {"p": {"a": ' + nested + "}}}"
    before = await counts()
    response = await client.post(
        "/graphql",
        content=body,
        headers={
            "Authorization": f"Bearer {world.tokens['customer_a']}",
            "Content-Type": "application/json",
        },
    )
    assert response.status_code == 400, response.text[:300]
    assert "nested" in response.text
    assert await counts() == before


async def test_policy_and_freeze_errors_are_named_together(
    client: httpx.AsyncClient, world: World
) -> None:
    value = {
        "group": "alpha",
        "timezone": "Mars/Olympus_Mons",
        "freezes": [{"startsAt": "2030-01-02T00:00:00Z", "endsAt": "2030-01-01T00:00:00Z"}],
    }
    before = await counts()
    out = await gql(client, UPDATE, {"input": value}, world.tokens["customer_a"])
    payload = out["data"]["updateGroupPolicy"]
    assert payload["__typename"] == "ValidationError"
    assert sorted(f["field"] for f in payload["fields"]) == ["freezes[0].endsAt", "timezone"]
    assert await counts() == before


async def test_node_of_an_id_past_any_database_integer_is_null(
    client: httpx.AsyncClient, world: World
) -> None:
    huge = base64.urlsafe_b64encode(b"Group:" + b"9" * 30).decode()
    out = await gql(
        client, "query($i: ID!) { node(id: $i) { id } }", {"i": huge}, world.tokens["admin"]
    )
    assert out == {"data": {"node": None}}


async def test_oversized_body_is_refused_before_it_is_read(
    client: httpx.AsyncClient, world: World
) -> None:
    before = await counts()
    value = {"machine": "alpha-web", "kind": "REBOOT", "params": {"note": "x" * 2_000_000}}
    body = json.dumps({"query": QUEUE, "variables": {"input": value}})
    headers = {
        "Authorization": f"Bearer {world.tokens['customer_a']}",
        "Content-Type": "application/json",
    }
    response = await client.post("/graphql", content=body, headers=headers)
    assert response.status_code == 413
    assert "larger than 1048576 bytes" in response.text
    assert await counts() == before
    # without a Content-Length, the bytes that arrive are counted

    async def chunks():  # type: ignore[no-untyped-def]
        for i in range(0, len(body), 65536):
            yield body[i : i + 65536].encode()

    streamed = await client.post("/graphql", content=chunks(), headers=headers)
    assert streamed.status_code == 413
    assert await counts() == before
