"""Migrations: an empty database becomes usable, and the committed migrations match the models."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import time
from pathlib import Path

import pytest
from tortoise import Tortoise
from tortoise.context import TortoiseContext
from tortoise.migrations.autodetector import MigrationAutodetector

from api import db
from api.db import tortoise_config
from api.models import ResourceGroup
from tests.conftest import database_context

MIGRATIONS = Path(__file__).resolve().parents[2] / "api" / "models" / "migrations"


@pytest.fixture
async def empty_db(db_url: str) -> AsyncIterator[TortoiseContext]:
    async with database_context(db_url, schema=False) as ctx:
        yield ctx


async def test_empty_database_migrates_and_is_usable(empty_db: TortoiseContext) -> None:
    every = [f"fenster.{f.stem}" for f in sorted(MIGRATIONS.glob("[0-9][0-9][0-9][0-9]_*.py"))]
    assert every[:3] == [
        "fenster.0001_initial",
        "fenster.0002_auto_20261129_2010",
        "fenster.0003_rollouts",
    ]
    assert await db.pending_migrations() == every
    applied = await db.migrate()
    assert applied == every
    assert await db.pending_migrations() == []
    assert await db.migrate() == []  # a second run does nothing
    group = await ResourceGroup.create(
        name="acme",
        contacts=["ops@acme.example"],
        timezone="Europe/Berlin",
        window_start=time(2, 30),
    )
    again = await ResourceGroup.get(id=group.id)
    assert again.window_start == time(2, 30)
    assert again.weekdays == [0, 1, 2, 3, 4, 5, 6]
    assert len(again.feed_token) >= 22  # >= 128 bits, url-safe


async def test_committed_migrations_match_the_models(empty_db: TortoiseContext) -> None:
    config = tortoise_config("sqlite://:memory:")["apps"]
    detector = MigrationAutodetector(empty_db.apps, config)
    writers = await detector.changes()
    assert writers == [], "models changed without a migration: run `make migrations`"


async def test_every_indexed_column_has_its_index(empty_db: TortoiseContext, db_url: str) -> None:
    """Every foreign key and every ``db_index`` column of the models is indexed once the
    migrations ran, on both backends (PostgreSQL makes no index for a foreign key by itself,
    and Tortoise's SQLite migrations leave ``db_index`` out)."""
    await db.migrate()
    wanted = set()
    for model in Tortoise.apps[db.APP_LABEL].values():
        for name, field in model._meta.fields_map.items():
            if getattr(field, "index", False) and not field.pk and not field.unique:
                wanted.add((model._meta.db_table, field.source_field or name))
    assert ("machine", "host_id") in wanted and ("activity", "window_id") in wanted
    conn = Tortoise.get_connection("default")
    if db_url.startswith("sqlite"):
        rows = await conn.execute_query_dict(
            "SELECT m.name AS tbl, i.name AS col FROM sqlite_master m, "
            "pragma_index_list(m.name) l, pragma_index_info(l.name) i WHERE m.type = 'table'"
        )
    else:
        rows = await conn.execute_query_dict(
            "SELECT t.relname AS tbl, a.attname AS col FROM pg_index x "
            "JOIN pg_class t ON t.oid = x.indrelid JOIN pg_attribute a "
            "ON a.attrelid = t.oid AND a.attnum = x.indkey[0]"
        )
    indexed = {(r["tbl"], r["col"]) for r in rows}
    assert wanted <= indexed, sorted(wanted - indexed)


async def test_a_vms_reboot_names_its_hosts_reboot_by_key_after_its_migration(
    empty_db: TortoiseContext,
) -> None:
    """Rows written before 0013 named the host in params; 0013 turns the name into the key."""
    from tortoise.connection import get_connection
    from tortoise.migrations.executor import MigrationTarget

    from api.models import Activity, Machine

    step = next(f.stem for f in MIGRATIONS.glob("[0-9][0-9][0-9][0-9]_host_reboot_key.py"))
    before = sorted(f.stem for f in MIGRATIONS.glob("[0-9][0-9][0-9][0-9]_*.py") if f.stem < step)
    await db._executor().migrate([MigrationTarget("fenster", before[-1])])
    conn = get_connection("default")
    group = await ResourceGroup.create(name="ops", contacts=["ops@example.org"], timezone="UTC")
    host = await Machine.create(name="kvm01", kind="host", group=group)
    vm = await Machine.create(name="web01", kind="vm", group=group, host=host)
    for params in ('{"host_reboot":"kvm01","reboot":true}', '{"kernel":"2.6.38"}'):
        await conn.execute_script(
            "INSERT INTO activity (machine_id, kind, state, estimate_minutes, params, attempts,"
            f" requested_at, requested_by) VALUES ({vm.id}, 'reboot', 'queued', 5, '{params}', 0,"
            " CURRENT_TIMESTAMP, 'test')"
        )
    assert await db.migrate() == [
        f"fenster.{f.stem}"
        for f in sorted(MIGRATIONS.glob("[0-9][0-9][0-9][0-9]_*.py"))
        if f.stem >= step
    ]
    moved, other = await Activity.all().order_by("id")
    assert (moved.for_host_reboot_id, moved.params) == (host.id, {"reboot": True})
    assert (other.for_host_reboot_id, other.params) == (None, {"kernel": "2.6.38"})
