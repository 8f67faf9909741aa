"""Where rendered mail goes: a Maildir on disk (the default) or an SMTP server."""

from __future__ import annotations

import asyncio
import mailbox
import smtplib
import ssl
from email.message import EmailMessage
from pathlib import Path
from typing import Protocol

from api.settings import Settings

__all__ = [
    "DeliveryError",
    "MaildirTransport",
    "PartialDelivery",
    "SMTPTransport",
    "Transport",
    "transport_from_settings",
]


class DeliveryError(Exception):
    """The message was not accepted; the mailer retries it later.

    ``unreachable`` means the server (or disk) is not there at all, so the other messages of
    the same pass wait too instead of each running into the same wall.
    """

    def __init__(self, message: str, *, unreachable: bool = False) -> None:
        super().__init__(message)
        self.unreachable = unreachable


class PartialDelivery(Exception):
    """Accepted for some recipients only: recorded, never retried (that would duplicate it)."""


class Transport(Protocol):
    name: str

    async def send(self, message: EmailMessage, recipients: list[str]) -> None:
        """Deliver ``message`` to ``recipients`` or raise DeliveryError."""

    async def close(self) -> None: ...


class MaildirTransport:
    """Every message becomes one file in a Maildir that any mail client opens."""

    name = "maildir"

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)

    def _add(self, data: bytes) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        box = mailbox.Maildir(self.path, create=True)
        box.add(data)

    async def send(self, message: EmailMessage, recipients: list[str]) -> None:
        try:
            await asyncio.to_thread(self._add, message.as_bytes())
        except OSError as exc:
            raise DeliveryError(f"maildir {self.path}: {exc}", unreachable=True) from exc

    async def close(self) -> None:
        return None


class SMTPTransport:
    """smtplib in a worker thread; one connection is reused until an error or close()."""

    name = "smtp"

    def __init__(
        self,
        host: str,
        port: int,
        *,
        security: str = "none",
        user: str = "",
        password: str = "",
        timeout: float = 30.0,
        tls_context: ssl.SSLContext | None = None,
    ) -> None:
        if security not in {"none", "starttls", "tls"}:
            raise ValueError("security must be none, starttls or tls")
        self.host, self.port, self.security = host, port, security
        self.user, self.password, self.timeout = user, password, timeout
        self.tls_context = tls_context
        self._smtp: smtplib.SMTP | None = None

    def _connect(self) -> smtplib.SMTP:
        context = self.tls_context or ssl.create_default_context()
        smtp: smtplib.SMTP
        if self.security == "tls":
            smtp = smtplib.SMTP_SSL(self.host, self.port, timeout=self.timeout, context=context)
        else:
            smtp = smtplib.SMTP(self.host, self.port, timeout=self.timeout)
        try:
            smtp.ehlo()
            if self.security == "starttls":
                smtp.starttls(context=context)
                smtp.ehlo()
            if self.user:
                smtp.login(self.user, self.password)
        except BaseException:
            smtp.close()
            raise
        return smtp

    def _send(self, data: EmailMessage, recipients: list[str]) -> dict[str, tuple[int, bytes]]:
        if self._smtp is None:
            self._smtp = self._connect()
        return self._smtp.send_message(data, to_addrs=recipients)

    def _drop(self) -> None:
        if self._smtp is not None:
            try:
                self._smtp.close()
            finally:
                self._smtp = None

    async def send(self, message: EmailMessage, recipients: list[str]) -> None:
        where = f"{self.host}:{self.port}"
        try:
            refused = await asyncio.to_thread(self._send, message, recipients)
        except smtplib.SMTPRecipientsRefused as exc:
            await asyncio.to_thread(self._drop)
            codes = ", ".join(f"{r} {c} {_text(m)}" for r, (c, m) in exc.recipients.items())
            raise DeliveryError(f"{where} refused every recipient: {codes}") from exc
        except smtplib.SMTPResponseException as exc:
            # SMTPConnectError is a refusal at the greeting: nobody gets through right now
            await asyncio.to_thread(self._drop)
            raise DeliveryError(
                f"{where} answered {exc.smtp_code} {_text(exc.smtp_error)}",
                unreachable=isinstance(exc, smtplib.SMTPConnectError),
            ) from exc
        except (OSError, smtplib.SMTPException) as exc:  # refused, timed out, hung up, TLS
            await asyncio.to_thread(self._drop)
            raise DeliveryError(f"{where}: {type(exc).__name__}: {exc}", unreachable=True) from exc
        if refused:
            codes = ", ".join(f"{r} {c} {_text(m)}" for r, (c, m) in refused.items())
            raise PartialDelivery(f"{where} refused some recipients: {codes}")

    async def close(self) -> None:
        smtp, self._smtp = self._smtp, None
        if smtp is not None:
            try:
                await asyncio.to_thread(smtp.quit)
            except (OSError, smtplib.SMTPException):
                smtp.close()


def _text(raw: bytes | str) -> str:
    return raw.decode(errors="replace") if isinstance(raw, bytes) else str(raw)


def transport_from_settings(settings: Settings) -> Transport:
    """SMTP when FENSTER_SMTP_HOST is set, otherwise the Maildir at FENSTER_MAILDIR."""
    if settings.smtp_host:
        return SMTPTransport(
            settings.smtp_host,
            settings.smtp_port,
            security=settings.smtp_security,
            user=settings.smtp_user,
            password=settings.smtp_password,
        )
    return MaildirTransport(settings.maildir)
