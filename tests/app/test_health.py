"""/healthz, /readyz and the landing page through the ASGI app."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from tortoise.context import TortoiseContext

from api import db
from api.app import create_app
from api.db import tortoise_config
from api.settings import Settings
from tests.conftest import database_context


def asgi_client(settings: Settings) -> httpx.AsyncClient:
    app = create_app(settings, manage_db=False)
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t")


@pytest.fixture
async def unmigrated(db_url: str) -> AsyncIterator[TortoiseContext]:
    async with database_context(db_url, schema=False) as ctx:
        yield ctx


async def test_healthz(client: httpx.AsyncClient) -> None:
    r = await client.get("/healthz")
    assert r.status_code == 200
    assert r.json()["status"] == "ok"


async def test_readyz_reports_pending_migrations_then_ready(
    unmigrated: TortoiseContext, settings: Settings
) -> None:
    async with asgi_client(settings) as c:
        r = await c.get("/readyz")
        assert r.status_code == 503
        assert "0001_initial" in r.json()["reason"]
        assert "fenster migrate" in r.json()["hint"]
        await db.migrate()
        r = await c.get("/readyz")
        assert r.status_code == 200
        assert r.json() == {"status": "ready"}


async def test_readyz_when_database_unreachable() -> None:
    # Nothing listens on port 9 of loopback: the connection is refused at once.
    url = "postgres://fenster@127.0.0.1:9/fenster"
    async with TortoiseContext() as ctx:
        await ctx.init(config=tortoise_config(url))
        async with asgi_client(Settings(database_url=url)) as c:
            r = await c.get("/readyz")
    assert r.status_code == 503
    assert r.json()["reason"].startswith("database unreachable")
    assert "Traceback" not in r.text


async def test_landing_lists_what_is_served(client: httpx.AsyncClient) -> None:
    r = await client.get("/")
    assert r.status_code == 200
    assert "text/html" in r.headers["content-type"]
    for path in ("/graphql", "/feeds/{group}.ics", "/feeds/all.ics", "/healthz", "/readyz"):
        assert path in r.text
    assert "/docs/" not in r.text  # no site built in this test's site_dir


async def test_site_is_served_at_the_root_once_built_without_a_restart(
    db: TortoiseContext, settings: Settings, tmp_path_factory: pytest.TempPathFactory
) -> None:
    import dataclasses

    site = tmp_path_factory.mktemp("site")
    async with asgi_client(dataclasses.replace(settings, site_dir=str(site))) as c:
        before = await c.get("/")
        assert "/graphql" in before.text and "fenster site build" in before.text
        assert (await c.get("/announcements/")).status_code == 404
        (site / "announcements").mkdir()
        (site / "index.html").write_text("<h1>notice site</h1>")
        (site / "announcements" / "index.html").write_text("<h1>announcements</h1>")
        assert "notice site" in (await c.get("/")).text
        assert "announcements" in (await c.get("/announcements/")).text
        moved = await c.get("/docs/announcements/")
        assert moved.status_code == 308 and moved.headers["location"] == "/announcements/"
        assert (await c.get("/healthz")).json()["status"] == "ok"  # the API still answers
