"""One settings object, from an optional TOML file with FENSTER_* environment variables over it.

Every command reads the same source: the file ``fenster.toml`` in the working directory (or
the one ``FENSTER_CONFIG`` names; then it must exist), whose keys are the field names below
(``port = 8104``), and over it each ``FENSTER_<NAME>`` variable. ``fenster settings`` shows
every value and where it came from.
"""

from __future__ import annotations

import ipaddress
import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from functools import cached_property
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from api.errors import ValidationError
from api.logs import LOG_FORMATS
from api.rules import MAX_MEMORY_MIB, MIN_MEMORY_MIB, check_contacts

__all__ = ["CONFIG_FILE", "DEFAULT", "DERIVED", "Settings", "SettingsError", "get_settings"]

CONFIG_FILE = "fenster.toml"
DEFAULT = "default"
DERIVED = "default: from host and port"
_SECRETS = frozenset({"smtp_password", "link_secret"})


class SettingsError(ValueError):
    """A setting (variable or file entry) holds a value fenster cannot use."""


def env_name(name: str) -> str:
    """'port' -> 'FENSTER_PORT'."""
    return f"FENSTER_{name.upper()}"


def _from_text(kind: type, raw: str, where: str) -> Any:
    if kind is bool:
        if raw.lower() in {"1", "true", "yes", "on"}:
            return True
        if raw.lower() in {"0", "false", "no", "off"}:
            return False
        raise SettingsError(f"{where} must be true or false, got {raw!r}")
    if kind is int:
        try:
            return int(raw)
        except ValueError:
            raise SettingsError(f"{where} must be a whole number, got {raw!r}") from None
    return raw


def _from_toml(kind: type, value: object, where: str) -> Any:
    if kind is int and isinstance(value, int) and not isinstance(value, bool):
        return value
    if kind is bool and isinstance(value, bool):
        return value
    if kind is str and isinstance(value, str):
        return value
    wanted = {int: "a whole number", bool: "true or false", str: "a string"}[kind]
    raise SettingsError(f"{where} must be {wanted}, got {value!r}")


def _read_file(path: Path, required: bool) -> dict[str, object]:
    if not path.is_file():
        if required:
            raise SettingsError(f"FENSTER_CONFIG names {str(path)!r}, which is not a file")
        return {}
    try:
        return tomllib.loads(path.read_text("utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise SettingsError(f"{path} is not valid TOML: {exc}") from None


Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def allowed_networks(text: str) -> tuple[Network, ...]:
    """``"127.0.0.0/8, ::1"`` -> networks; raises ValueError naming a bad entry."""
    out = []
    for part in text.split(","):
        part = part.strip()
        if not part:
            continue
        try:
            out.append(ipaddress.ip_network(part, strict=False))
        except ValueError:
            raise ValueError(f"{part!r} is not an IP address or network") from None
    return tuple(out)


def listen_url(host: str, port: int) -> str:
    """The address links point at when FENSTER_PUBLIC_URL is not set."""
    shown = "127.0.0.1" if host in {"", "0.0.0.0", "::"} else host
    if ":" in shown:
        shown = f"[{shown}]"
    return f"http://{shown}:{port}"


@dataclass(frozen=True)
class Settings:
    """Everything configurable. Each field is documented in docs/configuration.md."""

    database_url: str = "sqlite://var/fenster.sqlite3"
    host: str = "127.0.0.1"
    port: int = 8000
    public_url: str = ""  # empty: http://<host>:<port> (see listen_url)
    graphiql: bool = False
    introspection: bool = True
    # scheduler
    schedule_interval: int = 300
    digest_threshold: int = 5
    reboot_allowance_minutes: int = 10
    horizon_days: int = 60
    # the largest memory a VM may be given (also bounded by its host's memory)
    max_vm_memory_mib: int = 1024 * 1024
    # mail
    maildir: str = "var/mail"
    mail_from: str = "fenster <maintenance@fenster.invalid>"
    mail_domain: str = "fenster.invalid"
    mail_interval: int = 30
    mail_max_attempts: int = 8
    smtp_host: str = ""
    smtp_port: int = 25
    smtp_security: str = "none"
    smtp_user: str = ""
    smtp_password: str = field(default="", repr=False)
    # site
    site_dir: str = "site"
    # postpone links in window mail (api.pages.links)
    link_secret: str = field(default="", repr=False)
    link_secret_file: str = "var/link-secret"
    postpone_link_days: int = 14
    site_title: str = "Maintenance notices"
    # the operators' zone: shown beside UTC on the site; rollout templates are in it
    site_timezone: str = "UTC"
    site_manual: bool = False  # put fenster's own manual on the public site too
    site_interval: int = 5  # seconds between checks for changes to rebuild from; 0 disables
    # rollouts: new wave dates after a delay are at least this many days away
    renotice_days: int = 7
    # seconds between passes of the wave engine (api.services.rollout_engine); 0 disables
    rollout_interval: int = 30
    # /metrics answers clients from these networks (comma-separated), and admin tokens
    metrics_from: str = "127.0.0.0/8, ::1"
    log_format: str = "text"  # or json: one object per line (api.logs)
    # requests one process answers at a time; more get 503 + Retry-After (api.overload)
    max_inflight: int = 64
    # the leader lease (api.services.leadership): another process takes over this long
    # after the leader stopped renewing it
    leader_lease_seconds: int = 30
    # the operators' addresses (comma-separated): a window stuck in maintenance and a rollout
    # halted are mailed here
    operator_contacts: str = ""
    watchdog_interval: int = 60  # seconds between looks for stuck windows; 0 disables
    shed_retry_after: int = 5
    # a guest agent runs on a VM when it reported within this many seconds: the host agent
    # then asks its enter hooks before stopping the guest (api.services.guest_hooks)
    guest_live_seconds: int = 600
    # guest work (a system update) in a finished window that the guest agent has not reported
    # this many hours after the window's end fails as "no report", and the window's result
    # mail goes (api.services.watchdog); 0 waits for ever
    guest_report_hours: int = 24
    # where each value came from: "default", a variable's name, or the file's path
    sources: Mapping[str, str] = field(default_factory=dict, compare=False, repr=False)

    def __post_init__(self) -> None:
        url = self.public_url.rstrip("/") or listen_url(self.host, self.port)
        object.__setattr__(self, "public_url", url)

    @classmethod
    def names(cls) -> tuple[str, ...]:
        return tuple(f.name for f in fields(cls) if f.name != "sources")

    @classmethod
    def load(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """The settings in force: defaults, then the TOML file, then FENSTER_* variables."""
        environ = os.environ if environ is None else environ
        named = environ.get("FENSTER_CONFIG", "")
        path = Path(named or CONFIG_FILE)
        entries = _read_file(path, required=bool(named))
        unknown = sorted(set(entries) - set(cls.names()))
        if unknown:
            raise SettingsError(f"{path}: unknown setting(s) {', '.join(unknown)}")
        values: dict[str, Any] = {}
        sources: dict[str, str] = {}
        for f in fields(cls):
            if f.name == "sources":
                continue
            kind = type(f.default)
            raw = environ.get(env_name(f.name), "")
            if raw != "":
                values[f.name] = _from_text(kind, raw, env_name(f.name))
                sources[f.name] = env_name(f.name)
            elif f.name in entries:
                values[f.name] = _from_toml(kind, entries[f.name], f"{path}: {f.name}")
                sources[f.name] = str(path)
            else:
                sources[f.name] = DERIVED if f.name == "public_url" else DEFAULT
        s = cls(**values, sources=sources)
        s.validate()
        return s

    from_env = load  # the name callers used before the file existed

    def listening_on(self, host: str | None = None, port: int | None = None) -> Settings:
        """These settings with a command line's --host/--port; derived links follow them."""
        changes: dict[str, Any] = {}
        sources = dict(self.sources)
        for name, value in (("host", host), ("port", port)):
            if value is not None:
                changes[name] = value
                sources[name] = f"--{name}"
        if self.sources.get("public_url", DERIVED) == DERIVED:
            changes["public_url"] = ""  # derived again in __post_init__
        return replace(self, **changes, sources=sources)

    def validate(self) -> None:
        scheme = self.database_url.split("://", 1)[0]
        if scheme not in {"sqlite", "postgres", "asyncpg", "psycopg"}:
            raise SettingsError(
                f"{self.where('database_url')} must start with sqlite:// or postgres:// "
                f"(got {self.database_url.split('://', 1)[0]!r})"
            )
        if self.smtp_security not in {"none", "starttls", "tls"}:
            raise SettingsError(f"{self.where('smtp_security')} must be none, starttls or tls")
        try:
            ZoneInfo(self.site_timezone)
        except (ValueError, ZoneInfoNotFoundError):
            raise SettingsError(
                f"{self.where('site_timezone')} must be an IANA zone, got {self.site_timezone!r}"
            ) from None
        for name in (
            "port",
            "schedule_interval",
            "mail_interval",
            "digest_threshold",
            "site_interval",
            "max_inflight",
            "watchdog_interval",
            "rollout_interval",
            "guest_report_hours",
        ):
            if getattr(self, name) < 0:
                raise SettingsError(f"{self.where(name)} cannot be negative")
        if self.renotice_days < 0:
            raise SettingsError(f"{self.where('renotice_days')} cannot be negative")
        if self.log_format not in LOG_FORMATS:
            raise SettingsError(
                f"{self.where('log_format')} must be one of {', '.join(LOG_FORMATS)}, "
                f"got {self.log_format!r}"
            )
        try:
            allowed_networks(self.metrics_from)
        except ValueError as exc:
            raise SettingsError(f"{self.where('metrics_from')}: {exc}") from None
        if self.operator_contacts.strip():
            try:
                check_contacts(self.operator_list, "operator_contacts")
            except ValidationError as exc:
                raise SettingsError(f"{self.where('operator_contacts')}: {exc}") from None
        if self.leader_lease_seconds < 3:
            raise SettingsError(f"{self.where('leader_lease_seconds')} must be at least 3")
        if self.guest_live_seconds < 1:
            raise SettingsError(f"{self.where('guest_live_seconds')} must be at least 1")
        if self.shed_retry_after < 1:
            raise SettingsError(f"{self.where('shed_retry_after')} must be at least 1")
        if self.postpone_link_days < 1:
            raise SettingsError(f"{self.where('postpone_link_days')} must be at least 1")
        if self.link_secret and len(self.link_secret) < 32:
            raise SettingsError(f"{self.where('link_secret')} must be at least 32 characters")
        if not MIN_MEMORY_MIB <= self.max_vm_memory_mib <= MAX_MEMORY_MIB:
            raise SettingsError(
                f"{self.where('max_vm_memory_mib')} must be between {MIN_MEMORY_MIB} and "
                f"{MAX_MEMORY_MIB}"
            )

    def where(self, name: str) -> str:
        """How to name setting ``name`` in a message: its variable, or the file's entry."""
        source = self.source(name)
        return (
            env_name(name)
            if source in {DEFAULT, DERIVED} or source.startswith("FENSTER_")
            else f"{source}: {name}"
        )

    @property
    def operator_list(self) -> list[str]:
        return [a.strip() for a in self.operator_contacts.split(",") if a.strip()]

    @cached_property  # parsed once, not on every scrape (the dataclass is frozen)
    def metrics_networks(self) -> tuple[Network, ...]:
        return allowed_networks(self.metrics_from)

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite://")

    def sqlite_path(self) -> Path | None:
        if not self.is_sqlite:
            return None
        path = self.database_url.removeprefix("sqlite://")
        return None if path == ":memory:" else Path(path)

    def describe(self) -> dict[str, object]:
        """Settings with secrets masked, for `fenster settings` and logs."""
        out: dict[str, object] = {}
        for name in self.names():
            value = getattr(self, name)
            if name in _SECRETS and value:
                value = "********"
            if name == "database_url" and "@" in str(value):
                scheme, rest = str(value).split("://", 1)
                value = f"{scheme}://********@{rest.split('@', 1)[1]}"
            out[name] = value
        return out

    def source(self, name: str) -> str:
        return self.sources.get(name, DERIVED if name == "public_url" else DEFAULT)


def get_settings() -> Settings:
    return Settings.load()
