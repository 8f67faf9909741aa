"""The signed postpone link: the one place that builds its URL and reads it back.

A link names one window at one revision (its iCalendar SEQUENCE) and an expiry instant, signed
with ``itsdangerous`` (HMAC-SHA256) under the site's signing secret. Anything that changes the
window bumps its sequence, so a link mailed before the change no longer fits it.
"""

from __future__ import annotations

import hashlib
import os
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import Enum
from functools import lru_cache
from pathlib import Path
from typing import Protocol

from itsdangerous import BadSignature, URLSafeSerializer

from api.settings import Settings

__all__ = [
    "LinkClaim",
    "LinkProblem",
    "csrf_token",
    "csrf_valid",
    "postpone_path",
    "postpone_url",
    "read_link",
    "signing_secret",
]

_LINK_SALT = "fenster.postpone-link"
_CSRF_SALT = "fenster.postpone-form"


class _Window(Protocol):
    uid: str
    sequence: int
    starts_at: datetime


@dataclass(frozen=True)
class LinkClaim:
    """What a valid signature vouches for."""

    uid: str
    sequence: int
    expires_at: datetime


class LinkProblem(Enum):
    TAMPERED = "tampered"
    EXPIRED = "expired"


@lru_cache(maxsize=8)
def _secret_from_file(path: str) -> str:
    file = Path(path)
    if not file.exists():
        # the demo's secret: made once, readable by this user only, kept across restarts
        file.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as out:
            out.write(secrets.token_urlsafe(48) + "\n")
    return file.read_text().strip()


def signing_secret(settings: Settings) -> str:
    """FENSTER_LINK_SECRET, or the secret kept in FENSTER_LINK_SECRET_FILE (made if missing)."""
    return settings.link_secret or _secret_from_file(settings.link_secret_file)


def _serializer(settings: Settings, salt: str) -> URLSafeSerializer:
    return URLSafeSerializer(
        signing_secret(settings), salt=salt, signer_kwargs={"digest_method": hashlib.sha256}
    )


def postpone_path(settings: Settings, window: _Window, now: datetime) -> str:
    """``/postpone/<token>``: valid until the window starts, at most the configured days."""
    until = min(window.starts_at, now + timedelta(days=settings.postpone_link_days))
    token = _serializer(settings, _LINK_SALT).dumps(
        [window.uid, window.sequence, int(until.timestamp())]
    )
    return f"/postpone/{token}"


def postpone_url(settings: Settings, window: _Window, now: datetime) -> str:
    return settings.public_url.rstrip("/") + postpone_path(settings, window, now)


def read_link(settings: Settings, token: str, now: datetime) -> LinkClaim | LinkProblem:
    """The claim of a link, or why it cannot be used. Tampering is checked before expiry."""
    try:
        raw = _serializer(settings, _LINK_SALT).loads(token)
    except BadSignature:
        return LinkProblem.TAMPERED
    if (
        not isinstance(raw, list)
        or len(raw) != 3
        or not isinstance(raw[0], str)
        or not all(isinstance(x, int) and not isinstance(x, bool) for x in raw[1:])
    ):
        return LinkProblem.TAMPERED
    expires = datetime.fromtimestamp(raw[2], UTC)
    if now >= expires:
        return LinkProblem.EXPIRED
    return LinkClaim(raw[0], raw[1], expires)


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()[:32]


def csrf_token(settings: Settings, nonce: str, link: str) -> str:
    """The form's hidden field: the cookie's nonce and the link, signed together."""
    return _serializer(settings, _CSRF_SALT).dumps([nonce, _digest(link)])


def csrf_valid(settings: Settings, field: str, cookie: str, link: str) -> bool:
    """Double submit, signed: the field must be ours, carry the cookie's nonce and this link."""
    if not field or not cookie:
        return False
    try:
        raw = _serializer(settings, _CSRF_SALT).loads(field)
    except BadSignature:
        return False
    if not isinstance(raw, list) or len(raw) != 2 or not all(isinstance(x, str) for x in raw):
        return False
    return secrets.compare_digest(raw[0], cookie) and secrets.compare_digest(raw[1], _digest(link))
