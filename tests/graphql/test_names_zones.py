"""Names and zones mean exactly what the rules say."""

from __future__ import annotations

import httpx
import pytest
import pytz

from tests.graphql.test_bad_inputs import counts
from tests.graphql.world import World, gql

CREATE = (
    "mutation($i: CreateGroupInput!) { out: createGroup(input: $i) { __typename "
    "... on ValidationError { fields { field } } } }"
)
REDUNDANCY = (
    "mutation($i: SetRedundancyInput!) { out: setRedundancy(input: $i) { __typename "
    "... on ValidationError { fields { field } } } }"
)
GROUP = {"name": "gamma", "contacts": ["ops@gamma.example"], "timezone": "UTC"}


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"name": "sec-nl\n"}, "name"),
        ({"name": "sec-nl\r\n"}, "name"),
        ({"contacts": ["ops@gamma.example\n"]}, "contacts[0]"),
        ({"timezone": "localtime"}, "timezone"),
        ({"timezone": "Factory"}, "timezone"),
        ({"timezone": "Europe/Berlin\n"}, "timezone"),
    ],
)
async def test_names_and_zones_must_match_whole(
    client: httpx.AsyncClient, world: World, change: dict[str, object], field: str
) -> None:
    before = await counts()
    out = await gql(client, CREATE, {"i": {**GROUP, **change}}, world.tokens["admin"])
    payload = out["data"]["out"]
    assert payload["__typename"] == "ValidationError", out
    assert [f["field"] for f in payload["fields"]] == [field]
    assert await counts() == before


async def test_a_redundancy_tag_with_a_newline_is_refused(
    client: httpx.AsyncClient, world: World
) -> None:
    value = {"machine": "alpha-web", "redundancy": "web\n"}
    out = await gql(client, REDUNDANCY, {"i": value}, world.tokens["customer_a"])
    assert out["data"]["out"]["__typename"] == "ValidationError", out


async def test_timezones_offers_the_common_zones(client: httpx.AsyncClient, world: World) -> None:
    out = await gql(client, "{ timezones }", None, world.tokens["customer_a"])
    zones = out["data"]["timezones"]
    assert zones == list(pytz.common_timezones)
    assert "Europe/Berlin" in zones and "localtime" not in zones and "Factory" not in zones
