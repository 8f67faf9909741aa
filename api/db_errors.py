"""The one place that turns database driver and ORM failures into a line for an operator.

`fenster` commands and `fenster serve` at start-up report an unreachable server, a refused
password or role, a missing database, a missing privilege or a malformed
``FENSTER_DATABASE_URL`` as one sentence naming the cause (`--debug` adds the traceback).
Messages never include the password.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from enum import Enum

from tortoise.backends.base.config_generator import expand_db_url
from tortoise.exceptions import ConfigurationError, DBConnectionError

from api.errors import FensterError
from api.settings import SettingsError

__all__ = [
    "DatabaseUnavailable",
    "Problem",
    "Target",
    "connection_url",
    "explain",
    "is_outage",
    "parse_target",
]

SETUP_HINT = "see the operator guide, section PostgreSQL"


@dataclass(frozen=True)
class Target:
    """Where ``FENSTER_DATABASE_URL`` points, without its password."""

    backend: str  # "sqlite" or "postgres"
    name: str  # the database name, or the SQLite file
    host: str = ""
    port: int = 0
    user: str = ""

    @property
    def server(self) -> str:
        return f"{self.host}:{self.port}" if self.host else f"the local socket (port {self.port})"


def connection_url(url: str) -> str:
    """The URL as Tortoise reads it: it spells PostgreSQL "postgres://" (asyncpg) and this
    accepts the libpq spelling "postgresql://" too."""
    if url.startswith("postgresql://"):
        return "postgres://" + url.removeprefix("postgresql://")
    return url


def parse_target(url: str, where: str = "FENSTER_DATABASE_URL") -> Target:
    """Read the URL the way the driver will; raise SettingsError naming what is malformed
    (``where``: how to name the setting, see `Settings.where`)."""
    try:
        creds = expand_db_url(connection_url(url))["credentials"]
    except (ConfigurationError, ValueError) as exc:
        raise SettingsError(f"{where} is malformed: {exc}") from None
    if url.startswith("sqlite://"):
        return Target("sqlite", str(creds["file_path"]))
    if not creds.get("database"):
        raise SettingsError(
            f"{where} names no database: postgres://USER:PASSWORD@HOST:PORT/DATABASE expected"
        )
    return Target(
        "postgres",
        str(creds["database"]),
        host=str(creds.get("host") or ""),
        port=int(creds.get("port") or 5432),
        user=str(creds.get("user") or ""),
    )


class Problem(Enum):
    """What kind of failure it was; each has its own sentence below."""

    UNREACHABLE = "unreachable"
    AUTHENTICATION = "authentication"
    MISSING_DATABASE = "missing_database"
    PRIVILEGE = "privilege"
    NOT_MIGRATED = "not_migrated"
    REFUSED = "refused"


class DatabaseUnavailable(FensterError):
    """The database could not be reached or refused what fenster asked of it."""

    code = "database_unavailable"
    exit_code = 3

    def __init__(self, problem: Problem, message: str) -> None:
        self.problem = problem
        super().__init__(message)


# SQLSTATEs (https://www.postgresql.org/docs/current/errcodes-appendix.html)
_INVALID_PASSWORD = "28P01"
_INVALID_AUTHORIZATION = "28000"
_MISSING_DATABASE = "3D000"
_INSUFFICIENT_PRIVILEGE = "42501"
_UNDEFINED_TABLE = "42P01"
_CONNECTION_CLASSES = ("08", "53300", "57P")  # connection, too many clients, shutting down


def _chain(exc: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    todo: list[BaseException | None] = [exc]
    while todo:
        current = todo.pop(0)
        if current is None or id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        todo += [current.__cause__, current.__context__]
        todo += [a for a in current.args if isinstance(a, BaseException)]


def is_outage(exc: BaseException) -> bool:
    """Is ``exc`` the database being away (down, restarting, unreachable, the connection
    lost) rather than a fault of the request or of fenster? Then the answer is "try again
    shortly", not a bug report."""
    for link in _chain(exc):
        state = getattr(link, "sqlstate", None)
        if isinstance(state, str) and state.startswith(_CONNECTION_CLASSES):
            return True
        if isinstance(link, ConnectionError | TimeoutError | DBConnectionError):
            return True
        if type(link).__name__ == "InterfaceError" and "closed" in str(link):
            return True  # asyncpg: "connection is closed" / "pool is closed"
    return False


def _postgres(exc: BaseException, t: Target) -> DatabaseUnavailable | None:
    state = getattr(exc, "sqlstate", None)
    if not isinstance(state, str):
        return None
    detail = str(exc).splitlines()[0] if str(exc) else state
    role = f'role "{t.user}"' if t.user else "the role"
    if state == _INVALID_PASSWORD:
        return DatabaseUnavailable(
            Problem.AUTHENTICATION,
            f"PostgreSQL at {t.server} refused the password of {role} (check FENSTER_DATABASE_URL)",
        )
    if state == _INVALID_AUTHORIZATION:
        return DatabaseUnavailable(
            Problem.AUTHENTICATION, f"PostgreSQL at {t.server} refused {role}: {detail}"
        )
    if state == _MISSING_DATABASE:
        return DatabaseUnavailable(
            Problem.MISSING_DATABASE,
            f'database "{t.name}" does not exist on PostgreSQL at {t.server}; '
            f"an administrator creates it, owned by {role} ({SETUP_HINT})",
        )
    if state == _INSUFFICIENT_PRIVILEGE:
        return DatabaseUnavailable(
            Problem.PRIVILEGE,
            f'{role} lacks a privilege in database "{t.name}": {detail} '
            f"(fenster's role should own its database; {SETUP_HINT})",
        )
    if state == _UNDEFINED_TABLE:
        return _not_migrated(f'database "{t.name}"', detail)
    if state.startswith(_CONNECTION_CLASSES):
        return DatabaseUnavailable(
            Problem.REFUSED, f"PostgreSQL at {t.server} refused the connection: {detail}"
        )
    return None


def _not_migrated(where: str, detail: str) -> DatabaseUnavailable:
    return DatabaseUnavailable(
        Problem.NOT_MIGRATED, f"{where} is not migrated ({detail}); run `fenster migrate`"
    )


def _sqlite(exc: BaseException, t: Target) -> DatabaseUnavailable | None:
    if isinstance(exc, sqlite3.OperationalError) and "no such table" in str(exc):
        return _not_migrated(f"the SQLite database {t.name}", str(exc))
    if isinstance(exc, sqlite3.OperationalError) and "unable to open" in str(exc):
        return DatabaseUnavailable(
            Problem.UNREACHABLE, f"cannot open the SQLite database {t.name}: {exc}"
        )
    if isinstance(exc, sqlite3.OperationalError) and "readonly" in str(exc):
        return DatabaseUnavailable(
            Problem.PRIVILEGE, f"cannot write the SQLite database {t.name}: {exc}"
        )
    return None


def _socket_reason(exc: OSError) -> str:
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused (is the server running, and is the port right?)"
    if isinstance(exc, TimeoutError):
        return "timed out"
    return exc.strerror or str(exc) or type(exc).__name__


def explain(
    exc: BaseException, url: str, *, connecting: bool = False
) -> DatabaseUnavailable | None:
    """The operator's sentence for ``exc`` raised while using the database at ``url``, or None
    when it is not a database failure. ``connecting``: ``exc`` came from opening the
    connection, so a socket error means the server cannot be reached."""
    if isinstance(exc, DatabaseUnavailable):
        return exc
    try:
        t = parse_target(url)
    except SettingsError:
        return None  # the URL was never used to connect
    links = list(_chain(exc))
    for link in links:
        found = _sqlite(link, t) if t.backend == "sqlite" else _postgres(link, t)
        if found is not None:
            return found
    sockets = [link for link in links if isinstance(link, OSError)]
    if connecting and sockets:
        reason = _socket_reason(sockets[-1])
        if t.backend == "sqlite":
            message = f"cannot open the SQLite database {t.name}: {reason}"
        else:
            message = f"cannot reach PostgreSQL at {t.server}: {reason}"
        return DatabaseUnavailable(Problem.UNREACHABLE, message)
    return None
