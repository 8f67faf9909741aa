"""Each way the database can fail an operator gives one line naming the cause and an exit code,
never a traceback (`--debug` adds it), in every command and in `fenster serve` at start-up."""

from __future__ import annotations

import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.cli.operator_db import (
    NEEDS_POSTGRES,
    admin,
    fenster,
    free_port,
    operator_account,
    password_server,
)

pytestmark = pytest.mark.slow

# `serve` gets a port of its own; it must stop before listening.
COMMANDS = [["migrate"], ["migrate", "--check"], ["demo", "--no-serve"], ["serve"]]
HINT = "see the operator guide, section PostgreSQL"


def one_line(result: subprocess.CompletedProcess[str], exit_code: int) -> str:
    """The single line a failed command printed on stderr (asserting there is only that)."""
    assert result.returncode == exit_code, result.stderr
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("fenster: error: ")
    return lines[0].removeprefix("fenster: error: ")


def run(command: list[str], url: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    if command == ["serve"]:
        command = ["serve", "--port", str(free_port())]
    return fenster(*command, url=url, cwd=cwd, timeout=60)


@pytest.mark.parametrize("command", COMMANDS, ids=" ".join)
def test_unreachable_server(tmp_path: Path, command: list[str]) -> None:
    port = free_port()  # nothing listens there
    result = run(command, f"postgres://fenster:s3cret@127.0.0.1:{port}/fenster", tmp_path)
    assert one_line(result, 3) == (
        f"cannot reach PostgreSQL at 127.0.0.1:{port}: "
        "connection refused (is the server running, and is the port right?)"
    )


def test_unknown_host(tmp_path: Path) -> None:
    result = run(["migrate"], "postgres://fenster:s3cret@no-such-host.invalid/fenster", tmp_path)
    line = one_line(result, 3)
    assert line.startswith("cannot reach PostgreSQL at no-such-host.invalid:5432: ")
    assert "s3cret" not in line


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("postgres://fenster:s3cret@db:port/fenster", "is malformed: Port is not an integer"),
        ("postgres://fenster:s3cret@[::1/fenster", "is malformed: Invalid IPv6 URL"),
        ("postgres://fenster:s3cret@db:5432", "names no database: postgres://USER:PASSWORD@"),
        ("mysql://fenster:s3cret@db/fenster", "must start with sqlite:// or postgres://"),
    ],
)
def test_malformed_url(tmp_path: Path, url: str, message: str) -> None:
    line = one_line(run(["migrate"], url, tmp_path), 2)
    assert line.startswith("FENSTER_DATABASE_URL ") and message in line
    assert "s3cret" not in line


def test_malformed_url_stops_serve_before_it_listens(tmp_path: Path) -> None:
    url, message = "postgres://fenster:s3cret@db:port/fenster", "Port is not an integer"
    line = one_line(run(["serve"], url, tmp_path), 2)
    assert line.startswith("FENSTER_DATABASE_URL ") and message in line
    assert "s3cret" not in line


def test_sqlite_file_that_cannot_be_opened(tmp_path: Path) -> None:
    target = "/proc/fenster/f.sqlite3"  # /proc refuses new directories even to root
    line = one_line(run(["migrate"], f"sqlite://{target}", tmp_path), 3)
    assert line.startswith(f"cannot open the SQLite database {target}: ")


@pytest.mark.parametrize("flag_first", [True, False], ids=["--debug migrate", "migrate --debug"])
def test_debug_adds_the_traceback(tmp_path: Path, flag_first: bool) -> None:
    port = free_port()
    args = ["--debug", "migrate"] if flag_first else ["migrate", "--debug"]
    result = fenster(*args, url=f"postgres://f:p@127.0.0.1:{port}/f", cwd=tmp_path)
    assert result.returncode == 3
    assert result.stderr.startswith("Traceback (most recent call last):")
    assert "ConnectionRefusedError" in result.stderr
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith(f"fenster: error: cannot reach PostgreSQL at 127.0.0.1:{port}: ")


@NEEDS_POSTGRES
@pytest.mark.postgres
@pytest.mark.parametrize("command", COMMANDS, ids=" ".join)
def test_missing_database_is_named_and_not_created(tmp_path: Path, command: list[str]) -> None:
    with operator_account() as account:
        missing = f"{account.database}_missing"
        line = one_line(run(command, account.url(database=missing), tmp_path), 3)
        assert line == (
            f'database "{missing}" does not exist on PostgreSQL at 127.0.0.1:5432; an '
            f'administrator creates it, owned by role "{account.role}" ({HINT})'
        )
        assert admin(f"SELECT 1 FROM pg_database WHERE datname = '{missing}'") == []


@NEEDS_POSTGRES
@pytest.mark.postgres
def test_unknown_role(tmp_path: Path) -> None:
    with operator_account() as account:
        ghost = f"ghost_{uuid.uuid4().hex[:8]}"
        url = account.url().replace(f"//{account.role}:", f"//{ghost}:")
        line = one_line(run(["migrate"], url, tmp_path), 3)
        assert line == f'PostgreSQL at 127.0.0.1:5432 refused role "{ghost}": ' + (
            f'role "{ghost}" does not exist'
        )


@NEEDS_POSTGRES
@pytest.mark.postgres
def test_role_that_does_not_own_its_database(tmp_path: Path) -> None:
    """The administrator forgot OWNER: the role may connect but not create the schema."""
    with operator_account(owns_database=False) as account:
        line = one_line(run(["migrate"], account.url(), tmp_path), 3)
        assert line == (
            f'role "{account.role}" lacks a privilege in database "{account.database}": '
            f"permission denied for schema public (fenster's role should own its database; {HINT})"
        )
        tables = "SELECT tablename FROM pg_tables WHERE schemaname = 'public'"
        assert admin(tables, database=account.database) == []


@NEEDS_POSTGRES
@pytest.mark.postgres
def test_role_without_rights_on_the_tables(tmp_path: Path) -> None:
    """Another role reaching a migrated database fails at its first query, in one line."""
    with operator_account() as owner, operator_account(owns_database=False) as stranger:
        assert fenster("migrate", url=owner.url(), cwd=tmp_path).returncode == 0
        result = fenster("token", "list", url=stranger.url(database=owner.database), cwd=tmp_path)
        assert one_line(result, 3) == (
            f'role "{stranger.role}" lacks a privilege in database "{owner.database}": '
            f"permission denied for table api_token (fenster's role should own its database; "
            f"{HINT})"
        )


@pytest.fixture(scope="module")
def private_server() -> Iterator[str]:
    with password_server() as url:
        yield url


@pytest.mark.parametrize("command", [["migrate"], ["serve"]], ids=" ".join)
def test_wrong_password(private_server: str, tmp_path: Path, command: list[str]) -> None:
    port = int(private_server.rsplit(":", 1)[1].split("/")[0])
    wrong = private_server.replace(":right@", ":wrong@")
    line = one_line(run(command, wrong, tmp_path), 3)
    assert line == (
        f'PostgreSQL at 127.0.0.1:{port} refused the password of role "postgres" '
        "(check FENSTER_DATABASE_URL)"
    )
    # the server is real: the right password gets through to the schema check
    check = run(["migrate", "--check"], private_server, tmp_path)
    assert check.returncode == 1 and check.stdout.endswith("pending\n"), check.stderr


def test_unmigrated_sqlite_database(tmp_path: Path) -> None:
    db = tmp_path / "f.sqlite3"
    line = one_line(run(["token", "list"], f"sqlite://{db}", tmp_path), 3)
    assert line == (
        f"the SQLite database {db} is not migrated (no such table: api_token); "
        "run `fenster migrate`"
    )


@NEEDS_POSTGRES
@pytest.mark.postgres
def test_unmigrated_postgres_database(tmp_path: Path) -> None:
    with operator_account() as account:
        line = one_line(run(["token", "list"], account.url(), tmp_path), 3)
        assert line == (
            f'database "{account.database}" is not migrated '
            '(relation "api_token" does not exist); run `fenster migrate`'
        )
