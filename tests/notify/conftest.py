"""A real SMTP server (aiosmtpd) on loopback whose answers a test can script."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from email import message_from_bytes
from email.message import EmailMessage
from email.policy import default
from typing import Any

import pytest
from aiosmtpd.smtp import SMTP, Envelope, Session


@dataclass
class Inbox:
    """Mail the server accepted, and the answers it gives instead of accepting."""

    port: int = 0
    received: list[Envelope] = field(default_factory=list)
    data_answers: list[str] = field(default_factory=list)  # next DATA replies, e.g. "451 ..."
    rcpt_answers: list[str] = field(default_factory=list)

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: Any
    ) -> str:
        if self.rcpt_answers:
            return self.rcpt_answers.pop(0)
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        if self.data_answers:
            return self.data_answers.pop(0)
        self.received.append(envelope)
        return "250 OK queued"

    def messages(self) -> list[EmailMessage]:
        out = []
        for env in self.received:
            assert isinstance(env.content, bytes)
            msg = message_from_bytes(env.content, policy=default)
            assert isinstance(msg, EmailMessage)
            out.append(msg)
        return out


def closed_port() -> int:
    """A loopback port nobody listens on (bound once, then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def start_smtp(inbox: Inbox, port: int = 0) -> asyncio.Server:
    loop = asyncio.get_running_loop()
    server = await loop.create_server(
        lambda: SMTP(inbox, hostname="mx.test", timeout=10, loop=loop), "127.0.0.1", port
    )
    inbox.port = int(server.sockets[0].getsockname()[1])
    return server


@pytest.fixture
async def smtp() -> AsyncIterator[Inbox]:
    inbox = Inbox()
    server = await start_smtp(inbox)
    try:
        yield inbox
    finally:
        server.close()
        await server.wait_closed()
