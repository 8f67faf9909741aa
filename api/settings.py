"""One settings object, read from FENSTER_* environment variables."""

from __future__ import annotations

import os
from dataclasses import dataclass, field, fields
from pathlib import Path

__all__ = ["Settings", "SettingsError", "get_settings"]


class SettingsError(ValueError):
    """A FENSTER_* variable holds a value fenster cannot use."""


def _env(name: str, default: str) -> str:
    return os.environ.get(name, default)


def _int(name: str, default: int) -> int:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise SettingsError(f"{name} must be a whole number, got {raw!r}") from None


def _bool(name: str, default: bool) -> bool:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    if raw.lower() in {"1", "true", "yes", "on"}:
        return True
    if raw.lower() in {"0", "false", "no", "off"}:
        return False
    raise SettingsError(f"{name} must be true or false, got {raw!r}")


@dataclass(frozen=True)
class Settings:
    """Everything configurable. Each field is documented in docs/configuration.md."""

    database_url: str = "sqlite://var/fenster.sqlite3"
    host: str = "127.0.0.1"
    port: int = 8000
    public_url: str = "http://127.0.0.1:8000"
    graphiql: bool = False
    introspection: bool = True
    # scheduler
    schedule_interval: int = 300
    digest_threshold: int = 5
    reboot_allowance_minutes: int = 10
    horizon_days: int = 60
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

    @classmethod
    def from_env(cls) -> Settings:
        s = cls(
            database_url=_env("FENSTER_DATABASE_URL", cls.database_url),
            host=_env("FENSTER_HOST", cls.host),
            port=_int("FENSTER_PORT", cls.port),
            public_url=_env("FENSTER_PUBLIC_URL", cls.public_url).rstrip("/"),
            graphiql=_bool("FENSTER_GRAPHIQL", cls.graphiql),
            introspection=_bool("FENSTER_INTROSPECTION", cls.introspection),
            schedule_interval=_int("FENSTER_SCHEDULE_INTERVAL", cls.schedule_interval),
            digest_threshold=_int("FENSTER_DIGEST_THRESHOLD", cls.digest_threshold),
            reboot_allowance_minutes=_int(
                "FENSTER_REBOOT_ALLOWANCE_MINUTES", cls.reboot_allowance_minutes
            ),
            horizon_days=_int("FENSTER_HORIZON_DAYS", cls.horizon_days),
            maildir=_env("FENSTER_MAILDIR", cls.maildir),
            mail_from=_env("FENSTER_MAIL_FROM", cls.mail_from),
            mail_domain=_env("FENSTER_MAIL_DOMAIN", cls.mail_domain),
            mail_interval=_int("FENSTER_MAIL_INTERVAL", cls.mail_interval),
            mail_max_attempts=_int("FENSTER_MAIL_MAX_ATTEMPTS", cls.mail_max_attempts),
            smtp_host=_env("FENSTER_SMTP_HOST", cls.smtp_host),
            smtp_port=_int("FENSTER_SMTP_PORT", cls.smtp_port),
            smtp_security=_env("FENSTER_SMTP_SECURITY", cls.smtp_security),
            smtp_user=_env("FENSTER_SMTP_USER", cls.smtp_user),
            smtp_password=_env("FENSTER_SMTP_PASSWORD", cls.smtp_password),
            site_dir=_env("FENSTER_SITE_DIR", cls.site_dir),
        )
        s.validate()
        return s

    def validate(self) -> None:
        scheme = self.database_url.split("://", 1)[0]
        if scheme not in {"sqlite", "postgres", "asyncpg", "psycopg"}:
            raise SettingsError(
                "FENSTER_DATABASE_URL must start with sqlite:// or postgres:// "
                f"(got {self.database_url.split('://', 1)[0]!r})"
            )
        if self.smtp_security not in {"none", "starttls", "tls"}:
            raise SettingsError("FENSTER_SMTP_SECURITY must be none, starttls or tls")
        for name in ("port", "schedule_interval", "mail_interval", "digest_threshold"):
            if getattr(self, name) < 0:
                raise SettingsError(f"FENSTER_{name.upper()} cannot be negative")

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
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name == "smtp_password" and value:
                value = "********"
            if f.name == "database_url" and "@" in str(value):
                scheme, rest = str(value).split("://", 1)
                value = f"{scheme}://********@{rest.split('@', 1)[1]}"
            out[f.name] = value
        return out


def get_settings() -> Settings:
    return Settings.from_env()
