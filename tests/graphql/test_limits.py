"""Bounded work per request: instants within reach, query cost, list sizes."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from typing import Any

import httpx
import pytest

from api.graphql.cost import MAX_COST
from api.graphql.routes import MAX_LIST_ITEMS, MAX_OBJECT_FIELDS, MAX_QUERY_CHARS
from api.graphql.schema import DOCUMENT_CACHE_SIZE
from api.scheduling import Policy, occurrences
from api.services.announcements import MAX_GROUPS as MAX_PUBLISH_GROUPS
from tests.graphql.test_bad_inputs import counts
from tests.graphql.world import World, gql

FAR = "8999-06-01T01:00:00Z"


def m(field: str, input_type: str) -> str:
    return (
        f"mutation($i: {input_type}!) {{ out: {field}(input: $i) {{ __typename "
        "... on ValidationError { fields { field message } } } }"
    )


async def refused(
    client: httpx.AsyncClient, token: str | None, doc: str, value: dict[str, Any]
) -> list[str]:
    before = await counts()
    out = await gql(client, doc, {"i": value}, token)
    payload = out["data"]["out"]
    assert payload["__typename"] == "ValidationError", out
    assert await counts() == before
    return [f["field"] for f in payload["fields"]]


@pytest.mark.parametrize("role", ["customer_a", "admin"])
async def test_schedule_at_far_ahead_is_refused(
    client: httpx.AsyncClient, world: World, role: str
) -> None:
    value = {"machine": "alpha-web", "startsAt": FAR}
    fields = await refused(client, world.tokens[role], m("scheduleAt", "ScheduleAtInput"), value)
    assert fields == ["startsAt"]


async def test_a_customer_cannot_schedule_past_the_postpone_deadline(
    client: httpx.AsyncClient, world: World
) -> None:
    """Postponing stops 30 days after the request; scheduleAt may not go further either."""
    policy = Policy("Europe/Berlin", time(2, 0), 120, (0, 1, 2, 3, 4, 5, 6))
    now = datetime.now(UTC)
    occ = next(occurrences(policy, now + timedelta(days=40), now + timedelta(days=42)))
    value = {"machine": "alpha-web", "startsAt": occ.starts_at.isoformat()}
    doc = m("scheduleAt", "ScheduleAtInput")
    out = await gql(client, doc, {"i": value}, world.tokens["customer_a"])
    payload = out["data"]["out"]
    assert payload["__typename"] == "ValidationError", out
    assert "postpone deadline" in payload["fields"][0]["message"]
    # an operator is bound by the deadline no more than when postponing
    out = await gql(client, doc, {"i": value}, world.tokens["admin"])
    assert out["data"]["out"]["__typename"] == "Window", out


async def test_force_host_reboot_far_ahead_is_refused(
    client: httpx.AsyncClient, world: World
) -> None:
    value = {"host": "host1", "startsAt": "2100-01-01T00:00:00Z"}
    doc = m("forceHostReboot", "ForceHostRebootInput")
    assert await refused(client, world.tokens["admin"], doc, value) == ["startsAt"]


async def test_not_before_far_ahead_is_refused(client: httpx.AsyncClient, world: World) -> None:
    value = {"machine": "alpha-web", "kind": "REBOOT", "notBefore": FAR}
    doc = m("queueActivity", "QueueActivityInput")
    assert await refused(client, world.tokens["customer_a"], doc, value) == ["notBefore"]


async def test_freezes_far_ahead_are_refused(client: httpx.AsyncClient, world: World) -> None:
    freeze = {"startsAt": "2030-01-01T00:00:00Z", "endsAt": FAR}
    value = {"group": "alpha", "freezes": [freeze]}
    doc = m("updateGroupPolicy", "UpdatePolicyInput")
    assert await refused(client, world.tokens["customer_a"], doc, value) == ["freezes[0].endsAt"]


NESTED = (
    "{ a: machines(first: 1000) { nodes { group { machines(first: 100) { nodes { group { "
    "machines(first: 100) { nodes { name } } } } } } } } }"
)


async def test_a_costly_query_is_refused_before_it_runs(
    client: httpx.AsyncClient, world: World
) -> None:
    out = await gql(client, NESTED, None, world.tokens["admin"])
    assert out["data"] is None
    [error] = out["errors"]
    assert error["extensions"]["code"] == "QUERY_TOO_COSTLY"
    assert error["extensions"]["limit"] == MAX_COST
    assert error["extensions"]["cost"] > 10_000_000
    assert f"over the limit of {MAX_COST}" in error["message"]


async def test_page_sizes_from_variables_count(client: httpx.AsyncClient, world: World) -> None:
    doc = (
        "query($n: Int) { machines(first: $n) { nodes { group { machines(first: $n) "
        "{ nodes { name } } } } } }"
    )
    out = await gql(client, doc, {"n": 1000}, world.tokens["admin"])
    assert out["errors"][0]["extensions"]["code"] == "QUERY_TOO_COSTLY"
    out = await gql(client, doc, {"n": 10}, world.tokens["admin"])
    assert "errors" not in out, out


async def test_a_fleet_view_of_a_thousand_machines_is_allowed(
    client: httpx.AsyncClient, world: World
) -> None:
    doc = (
        "{ machines(first: 1000) { totalCount nodes { name group { name } host { name } "
        "openActivities { kind } } } }"
    )
    out = await gql(client, doc, None, world.tokens["customer_a"])
    assert "errors" not in out, out
    assert out["data"]["machines"]["totalCount"] == 1


@pytest.mark.parametrize("n", [21, 2_000])
async def test_contacts_have_a_maximum(client: httpx.AsyncClient, world: World, n: int) -> None:
    value = {"group": "alpha", "contacts": [f"ops{i}@alpha.example" for i in range(n)]}
    doc = m("updateGroupPolicy", "UpdatePolicyInput")
    assert await refused(client, world.tokens["customer_a"], doc, value) == ["contacts"]


async def test_twenty_contacts_are_accepted(client: httpx.AsyncClient, world: World) -> None:
    value = {"group": "alpha", "contacts": [f"ops{i}@alpha.example" for i in range(20)]}
    out = await gql(
        client,
        m("updateGroupPolicy", "UpdatePolicyInput"),
        {"i": value},
        world.tokens["customer_a"],
    )
    assert out["data"]["out"]["__typename"] == "Group", out


async def test_token_groups_have_a_maximum(client: httpx.AsyncClient, world: World) -> None:
    value = {"name": "wide", "role": "CUSTOMER", "groups": ["alpha"] * 101}
    doc = m("createToken", "CreateTokenInput")
    assert await refused(client, world.tokens["admin"], doc, value) == ["groups"]


async def test_inventory_domains_have_a_maximum(client: httpx.AsyncClient, world: World) -> None:
    domains = [
        {"name": f"d{i}", "state": "running", "memoryMib": 1024, "vcpus": 1} for i in range(1001)
    ]
    doc = m("reportInventory", "ReportInventoryInput")
    assert await refused(client, world.tokens["agent_1"], doc, {"domains": domains}) == ["domains"]


async def test_a_repeated_document_is_parsed_and_validated_once(
    client: httpx.AsyncClient, world: World
) -> None:
    """Agents poll with the same text: the second time is answered from the parse and
    validation caches (the limiters' rules must be the same objects on every request, or the
    validation cache would miss every time). A text that does not parse keeps its code."""
    from strawberry.extensions.parser_cache import _get_parse_cache
    from strawberry.extensions.validation_cache import _get_validate_cache

    parsed, validated = (
        _get_parse_cache(DOCUMENT_CACHE_SIZE),
        _get_validate_cache(DOCUMENT_CACHE_SIZE),
    )
    doc = "query SameEveryPoll { me { name role } }"
    first = await gql(client, doc, {}, world.tokens["admin"])
    hits = parsed.cache_info().hits, validated.cache_info().hits
    second = await gql(client, doc, {}, world.tokens["admin"])
    assert second == first and "errors" not in second
    assert parsed.cache_info().hits == hits[0] + 1
    assert validated.cache_info().hits == hits[1] + 1
    bad = await gql(client, "{ me { name", {}, world.tokens["admin"])
    assert bad["errors"][0]["extensions"]["code"] == "BAD_QUERY"


async def test_publish_groups_have_a_maximum(client: httpx.AsyncClient, world: World) -> None:
    value = {"slug": "draft", "groups": [f"g{i}" for i in range(MAX_PUBLISH_GROUPS + 1)]}
    out = await gql(
        client,
        m("publishAnnouncement", "PublishAnnouncementInput"),
        {"i": value},
        world.tokens["admin"],
    )
    assert out["data"]["out"]["fields"] == [
        {
            "field": "groups",
            "message": f"at most {MAX_PUBLISH_GROUPS} groups; omit groups to mail every group",
        }
    ], out


# every list in a body, however deep: longer than any input accepts is refused before the
# GraphQL server reads the variables (their coercion held the event loop for 0.3 s at 20,000)
LONG_LISTS = [
    pytest.param(
        "updateGroupPolicy",
        "UpdatePolicyInput",
        {"group": "alpha", "contacts": [f"ops{i}@alpha.example" for i in range(20_000)]},
        id="20,000 contacts",
    ),
    pytest.param(
        "publishAnnouncement",
        "PublishAnnouncementInput",
        {"slug": "draft", "groups": [f"g{i}" for i in range(40_000)]},
        id="40,000 groups",  # each was looked up, and all named again in the error
    ),
    pytest.param(
        "importPackages",
        "ImportPackagesInput",
        {
            "packages": [
                {"name": f"p{i}", "version": "1", "sha256": f"{i:064x}"}
                for i in range(MAX_LIST_ITEMS + 1)
            ]
        },
        id="2,001 packages",  # the import's only maximum
    ),
]


@pytest.mark.parametrize(("field", "input_type", "value"), LONG_LISTS)
async def test_a_list_longer_than_any_input_takes_is_a_bad_request(
    client: httpx.AsyncClient,
    world: World,
    field: str,
    input_type: str,
    value: dict[str, Any],
) -> None:
    before = await counts()
    response = await client.post(
        "/graphql",
        json={"query": m(field, input_type), "variables": {"i": value}},
        headers={"Authorization": f"Bearer {world.tokens['admin']}"},
    )
    assert response.status_code == 400, response.text[:300]
    assert f"more than {MAX_LIST_ITEMS} items" in response.text
    assert await counts() == before


def test_every_list_maximum_fits_the_request_maximum() -> None:
    """A list's own maximum above MAX_LIST_ITEMS could never be reached, so never checked."""
    from api.rules import MAX_CONTACTS
    from api.services import announcements, freezes, inventory, tokens

    own = [
        MAX_CONTACTS,
        freezes.MAX_FREEZES,
        tokens.MAX_GROUPS,
        inventory.MAX_DOMAINS,
        announcements.MAX_GROUPS,
    ]
    assert max(own) < MAX_LIST_ITEMS


@pytest.mark.parametrize(
    "query",
    [
        pytest.param("{ me { name } } # " + "x" * MAX_QUERY_CHARS, id="a long comment"),
        pytest.param(
            'mutation { updateGroupPolicy(input: {group: "alpha", title: "'
            + "t" * MAX_QUERY_CHARS
            + '"}) { __typename } }',
            id="a long string inline",
        ),
    ],
)
async def test_a_query_text_over_its_maximum_is_a_bad_request(
    client: httpx.AsyncClient, world: World, query: str
) -> None:
    before = await counts()
    response = await client.post(
        "/graphql",
        json={"query": query},
        headers={"Authorization": f"Bearer {world.tokens['admin']}"},
    )
    assert response.status_code == 400, response.text[:300]
    assert f"longer than {MAX_QUERY_CHARS} characters" in response.text
    assert await counts() == before


@pytest.mark.parametrize(
    "variables",
    [
        pytest.param(
            {"i": {"group": "alpha", **{f"k{i}": 1 for i in range(50_000)}}},
            id="an input of 50,000 unknown fields",
        ),
        pytest.param(
            {"i": {"group": "alpha"}, **{f"v{i}": 1 for i in range(50_000)}},
            id="50,000 unused variables",
        ),
    ],
)
async def test_an_object_wider_than_any_input_is_a_bad_request(
    client: httpx.AsyncClient, world: World, variables: dict[str, Any]
) -> None:
    """graphql-core looks for a 'did you mean' suggestion for every unknown field: 1.4 s on
    the event loop for 50,000 of them, refused now before the GraphQL server reads them."""
    before = await counts()
    response = await client.post(
        "/graphql",
        json={"query": m("updateGroupPolicy", "UpdatePolicyInput"), "variables": variables},
        headers={"Authorization": f"Bearer {world.tokens['customer_a']}"},
    )
    assert response.status_code == 400, response.text[:300]
    assert f"more than {MAX_OBJECT_FIELDS} fields" in response.text
    assert await counts() == before
