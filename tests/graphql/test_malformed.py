"""Malformed requests and over-long keys: each is a clear client error, never INTERNAL or 500."""

from __future__ import annotations

import json
import logging
from typing import Any

import httpx
import pytest

from api.models import AuditEvent, ResourceGroup
from api.models.tokens import ACTOR_MAX_LENGTH, ApiToken, hash_secret, new_secret
from tests.graphql.test_bad_inputs import counts
from tests.graphql.world import World, gql

LONG = "a" * 64  # names are DNS labels: at most 63 characters
LONG_UID = "u" * 81  # window uids: at most 80
LONG_TYPE = "t" * 33  # audit subject types: at most 32
LONG_SLUG = "s" * 101  # announcement slugs: at most 100 (found by make fuzz)


def mutation(field: str, input_type: str, value: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    doc = f"mutation($i: {input_type}!) {{ out: {field}(input: $i) {{ __typename }} }}"
    return doc, {"i": value}


# (id, role, document, variables): every lookup by a client-given key
LOOKUPS: list[tuple[str, str, str, dict[str, Any]]] = [
    ("group", "admin", "query($k: String!) { out: group(name: $k) { name } }", {"k": LONG}),
    ("machine", "admin", "query($k: String!) { out: machine(name: $k) { name } }", {"k": LONG}),
    (
        "updateGroupPolicy",
        "customer_a",
        *mutation("updateGroupPolicy", "UpdatePolicyInput", {"group": LONG}),
    ),
    (
        "rotateFeedToken",
        "admin",
        *mutation("rotateFeedToken", "RotateFeedTokenInput", {"group": LONG}),
    ),
    (
        "registerMachine group",
        "admin",
        *mutation(
            "registerMachine",
            "RegisterMachineInput",
            {"name": "new", "group": LONG, "kind": "HOST"},
        ),
    ),
    (
        "registerMachine host",
        "admin",
        *mutation(
            "registerMachine",
            "RegisterMachineInput",
            {"name": "new", "group": "alpha", "host": LONG},
        ),
    ),
    (
        "changeDesired",
        "admin",
        *mutation("changeDesired", "ChangeDesiredInput", {"machine": LONG, "cores": 2}),
    ),
    (
        "setAutoSchedule",
        "admin",
        *mutation(
            "setAutoSchedule", "SetAutoScheduleInput", {"machine": LONG, "autoSchedule": True}
        ),
    ),
    (
        "setRepresentative",
        "admin",
        *mutation(
            "setRepresentative", "SetRepresentativeInput", {"machine": LONG, "representative": True}
        ),
    ),
    (
        "setRedundancy",
        "admin",
        *mutation("setRedundancy", "SetRedundancyInput", {"machine": LONG, "redundancy": "web"}),
    ),
    (
        "queueActivity",
        "customer_a",
        *mutation("queueActivity", "QueueActivityInput", {"machine": LONG, "kind": "REBOOT"}),
    ),
    (
        "scheduleAt",
        "admin",
        *mutation(
            "scheduleAt", "ScheduleAtInput", {"machine": LONG, "startsAt": "2030-01-01T02:00:00Z"}
        ),
    ),
    (
        "postponeWindow",
        "customer_a",
        *mutation("postponeWindow", "PostponeWindowInput", {"window": LONG_UID}),
    ),
    ("cancelWindow", "admin", *mutation("cancelWindow", "CancelWindowInput", {"window": LONG_UID})),
    (
        "forceHostReboot",
        "admin",
        *mutation(
            "forceHostReboot",
            "ForceHostRebootInput",
            {"host": LONG, "startsAt": "2030-01-01T02:00:00Z"},
        ),
    ),
    (
        "createToken group",
        "admin",
        *mutation(
            "createToken", "CreateTokenInput", {"name": "t", "role": "CUSTOMER", "groups": [LONG]}
        ),
    ),
    (
        "createToken host",
        "admin",
        *mutation("createToken", "CreateTokenInput", {"name": "t", "role": "AGENT", "host": LONG}),
    ),
    (
        "updateAnnouncement",
        "admin",
        *mutation("updateAnnouncement", "UpdateAnnouncementInput", {"slug": LONG_SLUG}),
    ),
    (
        "publishAnnouncement",
        "admin",
        *mutation("publishAnnouncement", "PublishAnnouncementInput", {"slug": LONG_SLUG}),
    ),
    ("startWindow", "agent_1", *mutation("startWindow", "StartWindowInput", {"window": LONG_UID})),
    (
        "finishWindow",
        "agent_1",
        *mutation("finishWindow", "FinishWindowInput", {"window": LONG_UID, "results": []}),
    ),
]
# lists filtered by a key: empty
FILTERS: list[tuple[str, str, dict[str, Any]]] = [
    ("windows group", "query($k: String) { out: windows(group: $k) { totalCount } }", {"k": LONG}),
    (
        "machines group",
        "query($k: String) { out: machines(filter: {group: $k}) { totalCount } }",
        {"k": LONG},
    ),
    (
        "machines host",
        "query($k: String) { out: machines(filter: {host: $k}) { totalCount } }",
        {"k": LONG},
    ),
    (
        "machines nameContains",
        "query($k: String) { out: machines(filter: {nameContains: $k}) { totalCount } }",
        {"k": LONG},
    ),
    (
        "activities machine",
        "query($k: String) { out: activities(filter: {machine: $k}) { totalCount } }",
        {"k": LONG},
    ),
    (
        "activities group",
        "query($k: String) { out: activities(filter: {group: $k}) { totalCount } }",
        {"k": LONG},
    ),
    ("packages", "query($k: String) { out: packages(name: $k) { totalCount } }", {"k": "p" * 101}),
    (
        "audit type",
        'query($t: String!) { out: auditEvents(subject: {type: $t, name: "x"}) { totalCount } }',
        {"t": LONG_TYPE},
    ),
    (
        "audit name",
        'query($n: String!) { out: auditEvents(subject: {type: "machine", name: $n}) '
        "{ totalCount } }",
        {"n": "n" * 201},
    ),
]


@pytest.mark.parametrize(
    ("role", "doc", "variables"), [pytest.param(*c[1:], id=c[0]) for c in LOOKUPS]
)
async def test_a_key_longer_than_its_column_is_not_found(
    client: httpx.AsyncClient,
    world: World,
    caplog: pytest.LogCaptureFixture,
    role: str,
    doc: str,
    variables: dict[str, Any],
) -> None:
    before = await counts()
    out = await gql(client, doc, variables, world.tokens[role])
    assert "errors" not in out, out
    found = out["data"]["out"]
    assert found is None or found["__typename"] == "NotFound", out
    assert await counts() == before
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


@pytest.mark.parametrize(("doc", "variables"), [pytest.param(*c[1:], id=c[0]) for c in FILTERS])
async def test_a_filter_longer_than_its_column_matches_nothing(
    client: httpx.AsyncClient, world: World, doc: str, variables: dict[str, Any]
) -> None:
    out = await gql(client, doc, variables, world.tokens["admin"])
    assert out == {"data": {"out": {"totalCount": 0}}}


# (id, input): a key inside a write's input that names no row, reported on its field
NAMED_IN_INPUT: list[tuple[str, str, str, dict[str, Any], str]] = [
    (
        "createAnnouncement rollout",
        "createAnnouncement",
        "CreateAnnouncementInput",
        {"slug": "new", "title": "New", "body": "x", "rollout": LONG},
        "rollout",
    ),
    (
        "updateAnnouncement rollout",
        "updateAnnouncement",
        "UpdateAnnouncementInput",
        {"slug": "draft", "rollout": LONG},
        "rollout",
    ),
    (
        "publishAnnouncement groups",
        "publishAnnouncement",
        "PublishAnnouncementInput",
        {"slug": "draft", "groups": ["alpha", LONG]},
        "groups",
    ),
    (
        "importPackages name",
        "importPackages",
        "ImportPackagesInput",
        {"packages": [{"name": "p" * 300, "version": "1", "sha256": "0" * 64}]},
        "rows[0].name",
    ),
]


@pytest.mark.parametrize(
    ("field", "input_type", "value", "where"),
    [pytest.param(*c[1:], id=c[0]) for c in NAMED_IN_INPUT],
)
async def test_a_name_longer_than_its_column_in_an_input_is_a_validation_error(
    client: httpx.AsyncClient,
    world: World,
    caplog: pytest.LogCaptureFixture,
    field: str,
    input_type: str,
    value: dict[str, Any],
    where: str,
) -> None:
    before = await counts()
    doc = (
        f"mutation($i: {input_type}!) {{ out: {field}(input: $i) "
        "{ __typename ... on ValidationError { fields { field } } } }"
    )
    out = await gql(client, doc, {"i": value}, world.tokens["admin"])
    assert out == {"data": {"out": {"__typename": "ValidationError", "fields": [{"field": where}]}}}
    assert await counts() == before
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


async def test_a_feed_name_longer_than_a_group_name_is_404(
    client: httpx.AsyncClient, world: World
) -> None:
    response = await client.get(f"/feeds/{LONG}.ics", params={"token": "x" * 43})
    assert response.status_code == 404


BAD_BODIES = [
    pytest.param(b"null", "application/json", "JSON object", id="null"),
    pytest.param(b'"x"', "application/json", "JSON object", id="string"),
    pytest.param(b"5", "application/json", "JSON object", id="number"),
    pytest.param(b"true", "application/json", "JSON object", id="true"),
    pytest.param(
        b'{"query": "{ me { name } }", "x": "\xff"}',
        "application/json",
        "UTF-8",
        id="invalid UTF-8",
    ),
    pytest.param(
        json.dumps({"query": "{ me { name } }"}).encode("utf-16"),
        "application/json; charset=utf-16",
        "UTF-8",
        id="UTF-16",
    ),
    pytest.param(
        b'{"query": "{ me { name } }"}', "application/json; charset=latin-1", "UTF-8", id="latin-1"
    ),
]


@pytest.mark.parametrize(("body", "content_type", "says"), BAD_BODIES)
async def test_a_malformed_body_is_a_bad_request(
    client: httpx.AsyncClient, world: World, body: bytes, content_type: str, says: str
) -> None:
    for token in (None, world.tokens["admin"]):
        headers = {"Content-Type": content_type}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        response = await client.post("/graphql", content=body, headers=headers)
        assert response.status_code == 400, response.text
        assert says in response.text


async def test_utf8_declared_in_any_spelling_is_read(
    client: httpx.AsyncClient, world: World
) -> None:
    headers = {
        "Content-Type": "application/json; charset=UTF-8",
        "Authorization": f"Bearer {world.tokens['admin']}",
    }
    response = await client.post(
        "/graphql", content=b'{"query": "{ me { name } }"}', headers=headers
    )
    assert response.json() == {"data": {"me": {"name": "admin"}}}


# (id, document, variables): refused on coercion; the same values inline fail validation
BAD_VARIABLES: list[tuple[str, str, dict[str, Any]]] = [
    ("wrong type", "query($n: Int) { machines(first: $n) { totalCount } }", {"n": "x"}),
    ("integer overflow", "query($n: Int) { machines(first: $n) { totalCount } }", {"n": 2**40}),
    (
        "unknown enum value",
        "query($k: MachineKind) { machines(filter: {kind: $k}) { totalCount } }",
        {"k": "NOPE"},
    ),
    (
        "unknown input field",
        "query($f: MachineFilter) { machines(filter: $f) { totalCount } }",
        {"f": {"bogus": 1}},
    ),
    (
        "30 February",
        "query($d: DateTime) { windows(from: $d) { totalCount } }",
        {"d": "2027-02-30T00:00:00Z"},
    ),
    (
        "null in [String!]",
        "mutation($i: CreateTokenInput!) { createToken(input: $i) { __typename } }",
        {"i": {"name": "t", "role": "CUSTOMER", "groups": [None]}},
    ),
    ("missing required", "query($n: String!) { machine(name: $n) { name } }", {}),
]


@pytest.mark.parametrize(
    ("doc", "variables"), [pytest.param(*c[1:], id=c[0]) for c in BAD_VARIABLES]
)
async def test_a_bad_variable_is_a_bad_query(
    client: httpx.AsyncClient,
    world: World,
    caplog: pytest.LogCaptureFixture,
    doc: str,
    variables: dict[str, Any],
) -> None:
    before = await counts()
    out = await gql(client, doc, variables, world.tokens["admin"])
    assert out["data"] is None
    [error] = out["errors"]
    assert error["extensions"]["code"] == "BAD_QUERY", out
    assert error["message"].startswith("Variable '$"), out
    assert await counts() == before
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


async def test_every_token_name_fits_the_audit_trail(
    client: httpx.AsyncClient, world: World
) -> None:
    """A token's changes are audited as '<role>:<name>': the longest name createToken accepts
    still fits, for every role, and one character more is refused up front."""
    doc = (
        "mutation($i: CreateTokenInput!) { createToken(input: $i) { __typename "
        "... on CreatedToken { secret } ... on ValidationError { fields { field } } } }"
    )
    created = []
    for n in range(91, 101):
        out = await gql(
            client,
            doc,
            {"i": {"name": "n" * n, "role": "CUSTOMER", "groups": ["alpha"]}},
            world.tokens["admin"],
        )
        created.append((n, out["data"]["createToken"]))
    accepted = [n for n, p in created if p["__typename"] != "ValidationError"]
    assert accepted == [91], created
    secret = created[0][1]["secret"]
    out = await gql(
        client,
        "mutation($i: QueueActivityInput!) { queueActivity(input: $i) { __typename } }",
        {"i": {"machine": "alpha-web", "kind": "REBOOT"}},
        secret,
    )
    assert out["data"]["queueActivity"]["__typename"] == "Activity", out


async def test_a_client_that_disconnects_is_one_info_line(
    client: httpx.AsyncClient, settings: Any, caplog: pytest.LogCaptureFixture
) -> None:
    from api.app import create_app

    app = create_app(settings, manage_db=False)
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/graphql",
        "raw_path": b"/graphql",
        "query_string": b"",
        "root_path": "",
        "headers": [(b"content-type", b"application/json"), (b"content-length", b"40")],
        "client": ("127.0.0.1", 5000),
        "server": ("127.0.0.1", 8000),
    }
    with caplog.at_level(logging.DEBUG):
        await app(scope, receive, send)
    [line] = [r for r in caplog.records if "disconnected" in r.getMessage()]
    assert line.levelno == logging.INFO and line.exc_info is None
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


@pytest.mark.parametrize("length", [92, 100])
async def test_a_token_named_before_the_name_cap_still_works(
    client: httpx.AsyncClient, world: World, length: int
) -> None:
    """Tokens made before names were capped at MAX_NAME may have 92-100 characters: they
    still read, change and are listed; the audit trail names them cut to its column."""
    secret = new_secret()
    name = "c" * length
    token = await ApiToken.create(
        name=name, role="customer", prefix=secret[:12], secret_hash=hash_secret(secret)
    )
    await token.groups.add(await ResourceGroup.get(name="alpha"))
    me = await gql(client, "{ me { name role groups } }", None, secret)
    assert me == {"data": {"me": {"name": name, "role": "CUSTOMER", "groups": ["alpha"]}}}
    doc = "mutation($i: UpdatePolicyInput!) { updateGroupPolicy(input: $i) { __typename } }"
    out = await gql(client, doc, {"i": {"group": "alpha", "title": "Alpha 2"}}, secret)
    assert out == {"data": {"updateGroupPolicy": {"__typename": "Group"}}}, out
    event = await AuditEvent.filter(action="group.update").order_by("-id").first()
    assert event is not None
    assert len(event.actor) <= ACTOR_MAX_LENGTH and event.actor.startswith("customer:ccc")
    trail = await gql(
        client,
        '{ machine(name: "alpha-web") { auditTrail { nodes { actor } } } }',
        None,
        secret,
    )
    assert "errors" not in trail, trail
