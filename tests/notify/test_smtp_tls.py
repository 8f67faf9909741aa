"""SMTP over STARTTLS or implicit TLS with a login, against aiosmtpd and a throwaway cert."""

from __future__ import annotations

import asyncio
import shutil
import ssl
import subprocess
import warnings
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.smtp import SMTP, AuthResult, LoginPassword
from tortoise.context import TortoiseContext

from api.models import Notification
from api.notify.mailer import drain
from api.notify.transport import SMTPTransport
from api.settings import Settings
from tests.notify.conftest import Inbox
from tests.notify.world import make_group

pytestmark = pytest.mark.skipif(shutil.which("openssl") is None, reason="needs the openssl tool")


@pytest.fixture
def certificate(tmp_path: Path) -> tuple[Path, Path]:
    key, cert = tmp_path / "key.pem", tmp_path / "cert.pem"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-keyout",
            str(key),
            "-out",
            str(cert),
            "-subj",
            "/CN=127.0.0.1",
            "-addext",
            "subjectAltName=IP:127.0.0.1",
        ],
        check=True,
        capture_output=True,
        timeout=30,
    )
    return key, cert


def authenticator(
    server: SMTP, session: Any, envelope: Any, mechanism: str, auth_data: Any
) -> AuthResult:
    ok = isinstance(auth_data, LoginPassword) and (auth_data.login, auth_data.password) == (
        b"fenster",
        b"s3cret",
    )
    return AuthResult(success=ok)


async def serve(inbox: Inbox, cert: tuple[Path, Path], *, implicit: bool) -> asyncio.Server:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert[1], cert[0])
    loop = asyncio.get_running_loop()

    def protocol() -> SMTP:
        with warnings.catch_warnings():
            # aiosmtpd warns about AUTH without STARTTLS; on an implicit-TLS socket it is TLS
            warnings.simplefilter("ignore", UserWarning)
            return SMTP(
                inbox,
                hostname="mx.test",
                tls_context=None if implicit else context,
                require_starttls=not implicit,
                authenticator=authenticator,
                auth_required=True,
                auth_require_tls=not implicit,  # aiosmtpd only counts STARTTLS as TLS
                timeout=10,
                loop=loop,
            )

    server = await loop.create_server(protocol, "127.0.0.1", 0, ssl=context if implicit else None)
    inbox.port = int(server.sockets[0].getsockname()[1])
    return server


@pytest.mark.parametrize("security", ["starttls", "tls"])
async def test_tls_and_login(
    db: TortoiseContext,
    settings: Settings,
    certificate: tuple[Path, Path],
    security: str,
) -> None:
    await make_group()
    inbox = Inbox()
    server = await serve(inbox, certificate, implicit=security == "tls")
    trust = ssl.create_default_context(cafile=str(certificate[1]))
    untrusting = SMTPTransport(
        "127.0.0.1", inbox.port, security=security, user="fenster", password="s3cret", timeout=5
    )
    right = SMTPTransport(
        "127.0.0.1",
        inbox.port,
        security=security,
        user="fenster",
        password="s3cret",
        timeout=5,
        tls_context=trust,
    )
    try:
        async with asyncio.timeout(20):
            refused = await drain(settings, untrusting)  # the certificate is checked
            await untrusting.close()
            [row] = await Notification.all()
            await Notification.filter(id=row.id).update(next_attempt_at=row.created_at)
            sent = await drain(settings, right)
            await right.close()
    finally:
        server.close()
        await server.wait_closed()
    assert (refused.sent, refused.retried) == (0, 1)
    assert "CERTIFICATE_VERIFY_FAILED" in refused.errors[0]
    assert sent.sent == 1 and len(inbox.received) == 1
