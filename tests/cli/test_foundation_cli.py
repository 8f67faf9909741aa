"""`fenster migrate`, `fenster demo --no-serve`, `fenster token`: through the real CLI process."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

FENSTER = [sys.executable, "-m", "api.cli"]


def run(args: list[str], db: Path, **env: str) -> subprocess.CompletedProcess[str]:
    environ = {
        **os.environ,
        "FENSTER_DATABASE_URL": f"sqlite://{db}",
        "FENSTER_SITE_DIR": str(db.parent / "site"),
        **env,
    }
    return subprocess.run(
        [*FENSTER, *args], capture_output=True, text=True, env=environ, timeout=120, check=False
    )


def counts(db: Path) -> dict[str, int]:
    with sqlite3.connect(db) as conn:
        return {
            table: conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
            for table in (
                "resource_group",
                "machine",
                "activity",
                "package_release",
                "announcement",
                "api_token",
                "notification",
            )
        }


def test_migrate_then_check(tmp_path: Path) -> None:
    db = tmp_path / "var" / "f.sqlite3"
    check = run(["migrate", "--check"], db)
    assert check.returncode == 1 and "pending: fenster.0001_initial" in check.stdout
    done = run(["migrate"], db)
    assert done.returncode == 0, done.stderr
    assert "applying fenster.0001_initial" in done.stdout
    again = run(["migrate", "--check"], db)
    assert again.returncode == 0 and "up to date" in again.stdout


def test_the_sqlite_file_is_for_its_owner_only(tmp_path: Path) -> None:
    """It holds the feed tokens: mode 0600 whatever the umask, also for a file made before."""
    db = tmp_path / "f.sqlite3"
    assert run(["migrate"], db).returncode == 0
    assert db.stat().st_mode & 0o777 == 0o600
    db.chmod(0o644)
    assert run(["migrate"], db).returncode == 0
    assert db.stat().st_mode & 0o777 == 0o600


def test_demo_is_idempotent(tmp_path: Path) -> None:
    db = tmp_path / "var" / "f.sqlite3"
    first = run(["demo", "--no-serve"], db)
    assert first.returncode == 0, first.stderr
    assert "8 groups" in first.stdout
    after_first = counts(db)
    assert after_first["resource_group"] == 8
    assert 40 <= after_first["machine"] <= 60
    assert after_first["package_release"] == 10
    assert after_first["announcement"] == 2
    assert after_first["activity"] >= 4
    token_file = tmp_path / "var" / "demo-admin-token"
    assert token_file.read_text().startswith("fst_")
    assert token_file.stat().st_mode & 0o777 == 0o600
    second = run(["demo", "--no-serve"], db)
    assert second.returncode == 0, second.stderr
    assert "nothing new" in second.stdout
    assert counts(db) == after_first


def test_demo_builds_the_notice_site_with_the_seed_announcement(tmp_path: Path) -> None:
    db = tmp_path / "f.sqlite3"
    done = run(["demo", "--no-serve"], db)
    assert done.returncode == 0, done.stderr
    assert "notice site built" in done.stdout
    home = (tmp_path / "site" / "index.html").read_text()
    seed = "The stability issue with our iSCSI storage server"
    assert "System updates between August 29th and September 2nd" in home
    assert seed in home
    rollout = (tmp_path / "site" / "rollouts" / "system-update-2011-08" / "index.html").read_text()
    assert "Mon 2011-08-29 06:00 UTC" in rollout and "Mon 2011-08-29 08:00 CEST" in rollout
    status = run(["site", "status"], db)
    assert status.returncode == 0 and "last build: ok" in status.stdout


def test_the_site_builds_beside_a_relative_site_dir_from_any_folder(tmp_path: Path) -> None:
    """An operator runs fenster in its own folder with the default site dir ("site", relative
    to where fenster runs); MkDocs runs beside mkdocs.yml, so the paths handed to it must not
    be relative to the operator's folder."""
    environ = {k: v for k, v in os.environ.items() if k != "FENSTER_SITE_DIR"}
    environ["FENSTER_DATABASE_URL"] = f"sqlite://{tmp_path / 'f.sqlite3'}"
    done = subprocess.run(
        [*FENSTER, "demo", "--no-serve"],
        capture_output=True,
        text=True,
        env=environ,
        cwd=tmp_path,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "notice site built" in done.stdout, done.stdout + done.stderr
    assert "System updates" in (tmp_path / "site" / "index.html").read_text()


def test_demo_world_shape(tmp_path: Path) -> None:
    db = tmp_path / "f.sqlite3"
    assert run(["demo", "--no-serve"], db).returncode == 0
    with sqlite3.connect(db) as conn:
        zones = {r[0] for r in conn.execute("SELECT timezone FROM resource_group")}
        assert {
            "Europe/Berlin",
            "America/New_York",
            "Asia/Tokyo",
            "Australia/Sydney",
            "Asia/Kathmandu",
            "UTC",
        } <= zones
        kinds = dict(conn.execute("SELECT kind, count(*) FROM machine GROUP BY kind").fetchall())
        assert kinds["host"] in (3, 4) and kinds["infrastructure"] >= 2 and kinds["vm"] >= 35
        assert conn.execute(
            "SELECT count(*) FROM machine WHERE kind='vm' AND desired_cores=12"
        ).fetchone()[0]
        assert conn.execute("SELECT count(*) FROM machine WHERE arch='i686'").fetchone()[0]
        assert (
            conn.execute(
                "SELECT max(desired_memory_mib) FROM machine WHERE arch='i686'"
            ).fetchone()[0]
            <= 4096
        )
        assert conn.execute(
            "SELECT count(*) FROM machine WHERE auto_schedule=0 AND kind='vm'"
        ).fetchone()[0]
        assert conn.execute("SELECT count(*) FROM machine WHERE representative=1").fetchone()[0]
        versions = {
            r[0] for r in conn.execute("SELECT name || ' ' || version FROM package_release")
        }
        assert {
            "linux 2.6.38",
            "python 2.5.4",
            "python 2.6.6",
            "python 2.7.1",
            "python 3.1.3",
            "postgresql 9.0",
        } <= versions  # the seed's release; the July release before it feeds the ChangeLog
        # the seed: groups are told the settings used for them
        assert (
            conn.execute(
                "SELECT count(*) FROM notification WHERE kind='group_settings'"
            ).fetchone()[0]
            == 8
        )


def test_token_create_list_revoke(tmp_path: Path) -> None:
    db = tmp_path / "f.sqlite3"
    assert run(["demo", "--no-serve"], db).returncode == 0
    made = run(["token", "create", "--role", "customer", "--group", "acme"], db)
    assert made.returncode == 0, made.stderr
    secret = made.stdout.strip()
    assert secret.startswith("fst_") and len(secret) > 40
    listed = run(["token", "list"], db)
    assert "customer" in listed.stdout and "acme" in listed.stdout
    assert secret not in listed.stdout
    guest = run(["token", "create", "--role", "guest", "--machine", "acme-web01"], db)
    assert guest.returncode == 0, guest.stderr
    line = next(x for x in run(["token", "list"], db).stdout.splitlines() if "guest" in x)
    assert "acme-web01" in line and guest.stdout.strip() not in line
    with sqlite3.connect(db) as conn:
        (token_id,) = conn.execute("SELECT max(id) FROM api_token").fetchone()
    assert run(["token", "revoke", str(token_id)], db).returncode == 0
    again = run(["token", "revoke", str(token_id)], db)
    assert again.returncode == 2 and "already revoked" in again.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["token", "create", "--role", "customer", "--group", "nope"], "'nope' does not exist"),
        (["token", "create", "--role", "customer"], "groups: a customer token needs"),
        (["token", "create", "--role", "agent", "--host", "acme-web01"], "host: an agent token"),
        (["token", "create", "--role", "guest"], "machine: a guest token needs the VM"),
    ],
)
def test_token_create_refuses_bad_input(tmp_path: Path, args: list[str], message: str) -> None:
    db = tmp_path / "f.sqlite3"
    assert run(["demo", "--no-serve"], db).returncode == 0
    before = counts(db)["api_token"]
    result = run(args, db)
    assert result.returncode == 2
    assert message in result.stderr
    assert "Traceback" not in result.stderr
    assert counts(db)["api_token"] == before


def test_bad_setting_is_named(tmp_path: Path) -> None:
    result = run(["migrate"], tmp_path / "f.sqlite3", FENSTER_DATABASE_URL="mysql://x/y")
    assert result.returncode == 2
    assert "FENSTER_DATABASE_URL" in result.stderr
