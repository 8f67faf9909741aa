"""PostgreSQL as an operator sets it up, for the CLI tests: a role without CREATEDB or
superuser rights and a database it owns (made by the administrator, dropped afterwards), and a
private password-checking server for the one failure the shared trust-auth server cannot show."""

from __future__ import annotations

import asyncio
import contextlib
import glob
import os
import pwd
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest

from tests.conftest import POSTGRES

FENSTER = [sys.executable, "-m", "api.cli"]
NEEDS_POSTGRES = pytest.mark.skipif(
    not POSTGRES,
    reason="needs FENSTER_TEST_POSTGRES=postgres://SUPERUSER@HOST:PORT/DB "
    "(.ci/run sets it when a server answers on 127.0.0.1:5432)",
)


def free_port() -> int:
    """A port nothing listens on: from FENSTER_TEST_PORTS (e.g. 8240-8249) when set, otherwise
    one the kernel picks."""
    low, _, high = os.environ.get("FENSTER_TEST_PORTS", "0-0").partition("-")
    for port in range(int(low), int(high or low) + 1):
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return int(s.getsockname()[1])
    raise RuntimeError(f"no free port in FENSTER_TEST_PORTS={low}-{high}")


def operator_env(url: str, cwd: Path, **extra: str) -> dict[str, str]:
    """The environment of a fenster process using ``url``, with its files under ``cwd``."""
    environ = {k: v for k, v in os.environ.items() if not k.startswith("FENSTER_")}
    environ.update(FENSTER_DATABASE_URL=url, FENSTER_MAILDIR=str(cwd / "mail"))
    return {**environ, **extra}


def fenster(
    *args: str, url: str, cwd: Path, timeout: float = 120, **env: str
) -> subprocess.CompletedProcess[str]:
    """Run `fenster ARGS` as an operator would, in ``cwd``, against ``url``."""
    return subprocess.run(
        [*FENSTER, *args],
        cwd=cwd,
        env=operator_env(url, cwd, **env),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def admin(*statements: str, database: str = "") -> list[list[object]]:
    """Run statements as the superuser of FENSTER_TEST_POSTGRES; rows of the last one."""
    import asyncpg

    url = POSTGRES if not database else POSTGRES.rsplit("/", 1)[0] + "/" + database

    async def go() -> list[list[object]]:
        conn = await asyncpg.connect(url)
        try:
            rows: list[list[object]] = []
            for sql in statements:
                rows = [list(r) for r in await conn.fetch(sql)]
            return rows
        finally:
            await conn.close()

    return asyncio.run(go())


@dataclass(frozen=True)
class Account:
    """A login role with a password, and the database the administrator made for it."""

    role: str
    password: str
    database: str

    def url(self, database: str | None = None, password: str | None = None) -> str:
        server = urlsplit(POSTGRES)
        pw = self.password if password is None else password
        host = f"{server.hostname}:{server.port or 5432}"
        return f"postgres://{self.role}:{pw}@{host}/{database or self.database}"


@contextmanager
def operator_account(*, owns_database: bool = True) -> Iterator[Account]:
    """What README's PostgreSQL section has the administrator do: a role with LOGIN only, and
    a database (owned by the role unless told otherwise). Both are dropped afterwards."""
    suffix = uuid.uuid4().hex[:12]
    account = Account(f"fenster_r_{suffix}", secrets.token_hex(8), f"fenster_d_{suffix}")
    owner = f" OWNER {account.role}" if owns_database else ""
    try:
        admin(
            f"CREATE ROLE {account.role} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE "
            f"PASSWORD '{account.password}'",
            f"CREATE DATABASE {account.database}{owner}",
        )
        yield account
    finally:
        admin(
            f"DROP DATABASE IF EXISTS {account.database} WITH (FORCE)",
            f"DROP ROLE IF EXISTS {account.role}",
        )


def wait_ready(url: str, server: subprocess.Popen[str], seconds: float = 30) -> httpx.Response:
    """Poll ``url`` until it answers 200 or ``seconds`` pass (or the server exits)."""
    deadline = time.monotonic() + seconds
    while True:
        if server.poll() is not None:
            pytest.fail(f"fenster serve exited with {server.returncode}")
        try:
            answer = httpx.get(url, timeout=2)
            if answer.status_code == 200 or time.monotonic() > deadline:
                return answer
        except httpx.TransportError:
            if time.monotonic() > deadline:
                pytest.fail(f"{url} did not answer within {seconds} s")
        time.sleep(0.2)


def _initdb() -> str | None:
    found = shutil.which("initdb") or next(
        iter(sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), reverse=True)), None
    )
    return found


def _runner() -> list[str] | None:
    """How to run the server's programs: directly, or as `postgres` when we are root (the
    server refuses to run as root)."""
    if os.geteuid() != 0:
        return []
    try:
        pwd.getpwnam("postgres")
    except KeyError:
        return None
    runuser = shutil.which("runuser")
    return [runuser, "-u", "postgres", "--"] if runuser else None


@dataclass
class PrivatePostgres:
    """A private PostgreSQL in a temporary directory on a free port (never the shared one),
    which a drill may stop and start again. ``url`` is its superuser `postgres`, password
    `right` (scram-sha-256)."""

    pg_ctl: list[str]
    options: str
    log: Path
    url: str

    def _run(self, *args: str) -> None:
        subprocess.run([*self.pg_ctl, *args], check=True, capture_output=True, timeout=60)

    def start(self) -> None:
        self._run("-o", self.options, "-l", str(self.log), "-w", "start")

    def stop(self, mode: str = "fast") -> None:
        self._run("-m", mode, "-w", "stop")


@contextmanager
def private_postgres() -> Iterator[PrivatePostgres]:
    """Started, yielded, then stopped and removed. Skips when initdb or a non-root user to
    run it is missing."""
    initdb, runner = _initdb(), _runner()
    if initdb is None or runner is None:
        pytest.skip("a private PostgreSQL needs initdb (and a `postgres` user as root)")
    bindir = Path(initdb).parent
    home = Path(tempfile.mkdtemp(prefix="fenster-pg-"))
    (home / "pw").write_text("right\n")
    if runner:
        shutil.chown(home, "postgres")
        shutil.chown(home / "pw", "postgres")
    data, port = home / "data", free_port()
    try:
        subprocess.run(
            [*runner, str(initdb), "-D", str(data), "-U", "postgres", "-A", "scram-sha-256",
             f"--pwfile={home / 'pw'}", "-N", "--no-instructions"],
            check=True, capture_output=True, timeout=60,
        )  # fmt: skip
        server = PrivatePostgres(
            pg_ctl=[*runner, str(bindir / "pg_ctl"), "-D", str(data)],
            options=f"-p {port} -k {home} -c listen_addresses=127.0.0.1 -c fsync=off",
            log=home / "log",
            url=f"postgres://postgres:right@127.0.0.1:{port}/postgres",
        )
        server.start()
        try:
            yield server
        finally:
            with contextlib.suppress(subprocess.CalledProcessError):
                server.stop("immediate")
    finally:
        shutil.rmtree(home, ignore_errors=True)


@contextmanager
def password_server() -> Iterator[str]:
    """A private PostgreSQL that checks passwords; yields the URL of its superuser `postgres`
    with password `right`."""
    with private_postgres() as server:
        yield server.url
