"""Shared fixtures: a fresh database per test (SQLite, and PostgreSQL when configured)."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
import pytest
from tortoise.backends.base.executor import EXECUTOR_CACHE
from tortoise.context import TortoiseContext

from api.app import create_app
from api.db import tortoise_config
from api.settings import Settings

POSTGRES = os.environ.get("FENSTER_TEST_POSTGRES", "")
BACKENDS = [
    pytest.param("sqlite", id="sqlite"),
    pytest.param(
        "postgres",
        id="postgres",
        marks=[
            pytest.mark.postgres,
            pytest.mark.skipif(
                not POSTGRES,
                reason="PostgreSQL tests need FENSTER_TEST_POSTGRES=postgres://user@host:port/db "
                "(.ci/run sets it when a server answers on 127.0.0.1:5432)",
            ),
        ],
    ),
]


def postgres_url(database: str) -> str:
    base = POSTGRES.rsplit("/", 1)[0] if POSTGRES.count("/") > 2 else POSTGRES
    return f"{base}/{database}"


@pytest.fixture(params=BACKENDS)
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A URL for a database that does not exist yet, on each backend."""
    if request.param == "sqlite":
        return f"sqlite://{tmp_path / 'fenster.sqlite3'}"
    return postgres_url(f"fenster_t_{uuid.uuid4().hex[:12]}")


async def drop_postgres_database(url: str) -> None:
    import asyncpg

    name = url.rsplit("/", 1)[1]
    conn = await asyncpg.connect(POSTGRES)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


@asynccontextmanager
async def database_context(url: str, *, schema: bool = True) -> AsyncIterator[TortoiseContext]:
    """Create the database at ``url`` (with the current schema unless told not to); drop it
    after use."""
    # Tortoise caches each model's SQL per connection *name*, not per dialect: a test on
    # PostgreSQL after one on SQLite (both "default") would reuse SQLite's statements.
    EXECUTOR_CACHE.clear()
    try:
        async with TortoiseContext() as ctx:
            await ctx.init(config=tortoise_config(url), _create_db=True)
            if schema:
                await ctx.generate_schemas(safe=False)
            yield ctx
    finally:
        if url.startswith("postgres"):
            await drop_postgres_database(url)


@pytest.fixture
async def db(db_url: str) -> AsyncIterator[TortoiseContext]:
    """A fresh database with the current schema, torn down after the test."""
    async with database_context(db_url) as ctx:
        yield ctx


@pytest.fixture
def settings(db_url: str, tmp_path: Path) -> Settings:
    return Settings(
        database_url=db_url,
        maildir=str(tmp_path / "mail"),
        site_dir=str(tmp_path / "site"),
        schedule_interval=0,
        mail_interval=0,
        link_secret="test-link-secret-" + "x" * 32,
        site_interval=0,
    )


@pytest.fixture
async def client(db: TortoiseContext, settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client speaking to the ASGI app in-process, on the test's database."""
    app = create_app(settings, manage_db=False)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://fenster.test") as c:
        yield c


# pytest-xdist: with `-n auto`, pyproject's addopts (--dist loadfile) run each test file whole
# on one worker, in its order (module fixtures, the real tier's libvirtd and its fixed /boot
# file names stay as without xdist); files run side by side. This hook says what "auto" is.
WORKERS = 2  # the machines we and CI run on have 2 cores


@pytest.hookimpl(optionalhook=True)  # a hook of pytest-xdist (the dev extra)
def pytest_xdist_auto_num_workers(config: pytest.Config) -> int:
    """WORKERS when a directory runs (the whole suite, tests/agents); none when only files or
    single tests are named: those run in this process, with no workers to start.
    PYTEST_XDIST_AUTO_NUM_WORKERS=N decides instead."""
    if wanted := os.environ.get("PYTEST_XDIST_AUTO_NUM_WORKERS"):
        return int(wanted)
    named = [Path(arg.split("::", 1)[0]) for arg in config.args]
    return WORKERS if any(path.is_dir() for path in named) else 0
