"""Database wiring: the Tortoise configuration, start-up and the migration state."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from tortoise import Tortoise
from tortoise.migrations.executor import MigrationExecutor

from api.db_errors import connection_url, explain, parse_target
from api.settings import Settings, get_settings

__all__ = [
    "APP_LABEL",
    "MODEL_MODULES",
    "database",
    "migrate",
    "pending_migrations",
    "ping",
    "tortoise_config",
]

APP_LABEL = "fenster"
MODEL_MODULES = [
    "api.models.groups",
    "api.models.machines",
    "api.models.activities",
    "api.models.windows",
    "api.models.rollouts",
    "api.models.notifications",
    "api.models.announcements",
    "api.models.packages",
    "api.models.tokens",
    "api.models.audit",
    "api.models.leases",
    "api.models.hooks",
]
MIGRATIONS_MODULE = "api.models.migrations"


def tortoise_config(database_url: str) -> dict[str, Any]:
    return {
        "connections": {"default": connection_url(database_url)},
        "apps": {
            APP_LABEL: {
                "models": list(MODEL_MODULES),
                "default_connection": "default",
                "migrations": MIGRATIONS_MODULE,
            }
        },
        "use_tz": True,
        "timezone": "UTC",
    }


def __getattr__(name: str) -> Any:
    # For tortoise's own CLI: `tortoise -c api.db.TORTOISE_ORM makemigrations`, read lazily so
    # that importing this module never depends on the environment.
    if name == "TORTOISE_ORM":
        return tortoise_config(get_settings().database_url)
    raise AttributeError(name)


def _ensure_sqlite_dir(database_url: str) -> None:
    """The folder, and the file readable by its owner only (mode 0600): it holds the feed
    tokens. SQLite gives its journal and WAL files the database file's mode."""
    if database_url.startswith("sqlite://"):
        path = database_url.removeprefix("sqlite://").split("?", 1)[0]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
            os.close(os.open(path, os.O_CREAT | os.O_WRONLY, 0o600))
            os.chmod(path, 0o600)


async def init(settings: Settings, *, connect: bool = True, create_db: bool = False) -> None:
    """Open the database. It must exist: commands never create one (``create_db`` is for
    benchmarks that make their own). ``connect`` talks to the server at once, so that an
    unreachable server, a refused role or a missing database is reported here as
    `DatabaseUnavailable` instead of at the first query; a malformed URL is a SettingsError."""
    parse_target(settings.database_url, settings.where("database_url"))
    try:
        _ensure_sqlite_dir(settings.database_url)
        # The global fallback lets request tasks see the connection opened in the lifespan.
        await Tortoise.init(
            config=tortoise_config(settings.database_url),
            _create_db=create_db,
            _enable_global_fallback=True,
        )
        if connect:
            await ping()
    except Exception as exc:
        problem = explain(exc, settings.database_url, connecting=True)
        await close()
        if problem is None:
            raise
        raise problem from exc


async def close() -> None:
    await Tortoise.close_connections()


@asynccontextmanager
async def database(settings: Settings) -> AsyncIterator[None]:
    """Open the database for one command or one app lifetime."""
    await init(settings)
    try:
        yield
    finally:
        await close()


def _executor() -> MigrationExecutor:
    from tortoise.connection import get_connection

    config = tortoise_config("sqlite://:memory:")["apps"]
    return MigrationExecutor(get_connection("default"), config)


async def ping() -> None:
    """Raise unless the database answers a trivial query."""
    from tortoise.connection import get_connection

    await get_connection("default").execute_query("SELECT 1")


async def pending_migrations() -> list[str]:
    """Names of migrations not yet applied to the open database (empty = fully migrated)."""
    steps = await _executor().plan(None)
    return [f"{s.migration.app_label}.{s.migration.name}" for s in steps if not s.backward]


async def migrate(progress: Any = None) -> list[str]:
    """Apply every pending migration to the open database; returns what was applied."""
    todo = await pending_migrations()
    if todo:
        await _executor().migrate(None, progress=progress)
    return todo
