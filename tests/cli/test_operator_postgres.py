"""README's PostgreSQL setup through the real CLI: the administrator creates a role (no CREATEDB,
no superuser) and a database it owns; fenster migrates, loads and serves as that role."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from tests.cli.operator_db import (
    FENSTER,
    NEEDS_POSTGRES,
    admin,
    fenster,
    free_port,
    operator_account,
    operator_env,
    wait_ready,
)

pytestmark = [pytest.mark.postgres, pytest.mark.slow, NEEDS_POSTGRES]
ROOT = Path(__file__).resolve().parents[2]


def test_least_privilege_role_migrates_loads_and_serves(tmp_path: Path) -> None:
    with operator_account() as account:
        rights = admin(
            f"SELECT rolsuper, rolcreatedb FROM pg_roles WHERE rolname = '{account.role}'"
        )
        assert rights == [[False, False]]
        url = account.url()

        first = fenster("migrate", url=url, cwd=tmp_path)
        assert first.returncode == 0, first.stderr
        assert "applying fenster.0001_initial" in first.stdout
        second = fenster("migrate", url=url, cwd=tmp_path)
        assert second.returncode == 0, second.stderr
        assert "applied 0 migration(s); database is up to date" in second.stdout
        check = fenster("migrate", "--check", url=url, cwd=tmp_path)
        assert (check.returncode, check.stdout.strip()) == (0, "database is up to date")

        loaded = fenster("demo", "--no-serve", url=url, cwd=tmp_path)
        assert loaded.returncode == 0, loaded.stderr
        assert "demo world loaded: 8 groups" in loaded.stdout
        again = fenster("demo", "--no-serve", url=url, cwd=tmp_path)
        assert again.returncode == 0, again.stderr
        assert "demo world loaded: nothing new" in again.stdout

        # the pass takes an advisory lock; the mailer claims rows with SKIP LOCKED
        booked = fenster("schedule", url=url, cwd=tmp_path)
        assert booked.returncode == 0, booked.stderr
        sent = fenster("mail", "send", url=url, cwd=tmp_path)
        assert sent.returncode == 0, sent.stderr
        assert sent.stdout.startswith("sent ") and not sent.stdout.startswith("sent 0,")

        port = free_port()
        with (tmp_path / "serve.log").open("w") as log:
            server = subprocess.Popen(
                [*FENSTER, "serve", "--port", str(port)],
                cwd=tmp_path,
                env=operator_env(url, tmp_path),
                stdout=log,
                stderr=subprocess.STDOUT,
            )
            try:
                ready = wait_ready(f"http://127.0.0.1:{port}/readyz", server)
                assert ready.status_code == 200, ready.text
                assert ready.json() == {"status": "ready"}
            finally:
                server.terminate()
                server.wait(timeout=20)
        assert "Traceback" not in (tmp_path / "serve.log").read_text()


# A release after this one, as far as the database can tell: the code plus one migration.
NEXT_MIGRATION = """
from tortoise import fields, migrations
from tortoise.migrations import operations as ops


class Migration(migrations.Migration):
    dependencies = [("fenster", "0001_initial")]
    operations = [
        # db_default: PostgreSQL fills the rows already there (a Python default alone fails
        # there with "column ... contains null values")
        ops.AddField(
            model_name="ResourceGroup",
            name="upgrade_probe",
            field=fields.IntField(default=7, db_default=7),
        ),
    ]
"""


def next_release(tmp_path: Path) -> dict[str, str]:
    """Environment that runs a copy of fenster with NEXT_MIGRATION added (the test's own)."""
    copy = tmp_path / "next-release"
    shutil.copytree(ROOT / "api", copy / "api", ignore=shutil.ignore_patterns("__pycache__"))
    (copy / "api/models/migrations/0002_upgrade_probe.py").write_text(NEXT_MIGRATION)
    return {"PYTHONPATH": str(copy)}


def test_upgrade_applies_only_the_pending_migration_and_keeps_rows(tmp_path: Path) -> None:
    with operator_account() as account:
        url = account.url()
        assert fenster("demo", "--no-serve", url=url, cwd=tmp_path).returncode == 0
        before = admin(COUNTS, database=account.database)
        newer = next_release(tmp_path)

        pending = fenster("migrate", "--check", url=url, cwd=tmp_path, **newer)
        assert pending.returncode == 1
        assert pending.stdout.splitlines() == ["pending: fenster.0002_upgrade_probe", "1 pending"]
        upgraded = fenster("migrate", url=url, cwd=tmp_path, **newer)
        assert upgraded.returncode == 0, upgraded.stderr
        assert upgraded.stdout.splitlines() == [
            "applying fenster.0002_upgrade_probe ...",
            "applied 1 migration(s); database is up to date",
        ]
        assert admin(COUNTS, database=account.database) == before
        probes = admin(
            "SELECT DISTINCT upgrade_probe FROM resource_group", database=account.database
        )
        assert probes == [[7]]
        done = fenster("migrate", "--check", url=url, cwd=tmp_path, **newer)
        assert (done.returncode, done.stdout.strip()) == (0, "database is up to date")
        # the demo still loads on the upgraded database, as the same role
        again = fenster("demo", "--no-serve", url=url, cwd=tmp_path, **newer)
        assert again.returncode == 0, again.stderr
        assert "nothing new" in again.stdout


COUNTS = (
    "SELECT (SELECT count(*) FROM resource_group), (SELECT count(*) FROM machine),"
    " (SELECT count(*) FROM activity), (SELECT count(*) FROM notification),"
    " (SELECT count(*) FROM api_token)"
)
