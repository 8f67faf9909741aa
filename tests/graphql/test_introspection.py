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


@pytest.mark.parametrize(
    "query",
    [
        "{ auditEvent { totalCount } }",
        "{ machines(filtr: {}) { totalCount } }",
        '{ machines(filter: {hots: "x"}) { totalCount } }',
        "{ me { nam } }",
    ],
)
async def test_without_introspection_no_names_are_suggested(
    client: httpx.AsyncClient, settings: Settings, query: str
) -> None:
    on = await post(settings, query)
    assert "Did you mean" in on["errors"][0]["message"]  # with introspection, hints help
    off = await post(dataclasses.replace(settings, introspection=False), query)
    [error] = off["errors"]
    assert error["extensions"]["code"] == "BAD_QUERY"
    assert "Did you mean" not in error["message"], error
    assert "auditEvents" not in error["message"] and "filter" not in error["message"][-20:]


async def test_graphiql_forbids_framing_and_foreign_scripts(tmp_path) -> None:  # type: ignore[no-untyped-def]
    app = create_app(
        Settings(database_url=f"sqlite://{tmp_path}/x.db", graphiql=True), manage_db=False
    )
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as c:
        page = await c.get("/graphql", headers={"Accept": "text/html"})
    assert page.status_code == 200
    assert page.headers["X-Frame-Options"] == "DENY"
    policy = page.headers["Content-Security-Policy"]
    assert "frame-ancestors 'none'" in policy
    assert (
        "script-src 'self' 'sha256-" in policy
        and "unsafe-inline" not in policy.split("style-src")[0]
    )
