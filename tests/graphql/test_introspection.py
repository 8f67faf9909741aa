"""Without a token only introspection answers; FENSTER_INTROSPECTION=false switches it off."""

from __future__ import annotations

import dataclasses
import logging

import httpx
import pytest

from api.app import create_app
from api.settings import Settings

INTROSPECT = "{ __schema { queryType { name } } }"


async def post(settings: Settings, query: str) -> dict[str, object]:
    app = create_app(settings, manage_db=False)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as c:
        response = await c.post("/graphql", json={"query": query})
    assert response.status_code == 200
    return response.json()


async def test_anonymous_introspection_and_nothing_else(
    client: httpx.AsyncClient, settings: Settings
) -> None:
    out = await post(settings, INTROSPECT)
    assert out == {"data": {"__schema": {"queryType": {"name": "Query"}}}}
    out = await post(settings, "{ packages { totalCount } }")
    assert out["errors"][0]["extensions"]["code"] == "PermissionDenied"


async def test_introspection_can_be_switched_off(
    client: httpx.AsyncClient, settings: Settings
) -> None:
    out = await post(dataclasses.replace(settings, introspection=False), INTROSPECT)
    assert out["data"] is None
    assert out["errors"][0]["extensions"]["code"] == "BAD_QUERY"
    assert "introspection" in out["errors"][0]["message"].lower()


async def test_client_mistakes_are_not_logged_as_errors(
    client: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.DEBUG, logger="strawberry.execution"):
        r = await client.post("/graphql", json={"query": "{ groups { nope } }"})
    assert r.json()["errors"]
    assert not [rec for rec in caplog.records if rec.levelno >= logging.ERROR]
