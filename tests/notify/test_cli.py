"""`fenster mail send|status|retry` end to end: SQLite file, Maildir, a dead SMTP port."""

from __future__ import annotations

import asyncio
import mailbox
from pathlib import Path

import pytest

from api import db
from api.cli import main
from api.settings import get_settings
from tests.notify.conftest import closed_port
from tests.notify.world import make_group


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("FENSTER_DATABASE_URL", f"sqlite://{tmp_path / 'fenster.sqlite3'}")
    monkeypatch.setenv("FENSTER_MAILDIR", str(tmp_path / "mail"))
    assert main(["migrate"]) == 0

    async def world() -> None:
        async with db.database(get_settings()):
            await make_group("acme")
            await make_group("umbrella", contacts=["it@umbrella.example"])

    asyncio.run(world())
    return tmp_path


def test_send_then_status(env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    capsys.readouterr()
    assert main(["mail", "status"]) == 0
    assert capsys.readouterr().out.startswith("pending 2  sent 0  failed 0")
    assert main(["mail", "send"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("sent 2, retrying 0, failed 0, skipped 0 (via maildir ")
    assert len(mailbox.Maildir(env / "mail", create=False)) == 2
    assert main(["mail", "status"]) == 0
    assert capsys.readouterr().out.startswith("pending 0  sent 2  failed 0")


def test_failures_are_shown_and_can_be_retried(
    env: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FENSTER_SMTP_HOST", "127.0.0.1")
    monkeypatch.setenv("FENSTER_SMTP_PORT", str(closed_port()))
    monkeypatch.setenv("FENSTER_MAIL_MAX_ATTEMPTS", "1")
    capsys.readouterr()
    assert main(["mail", "send"]) == 1
    out = capsys.readouterr().out
    assert out.startswith("sent 0, retrying 0, failed 2, skipped 0 (via smtp 127.0.0.1)")
    assert "ConnectionRefusedError" in out
    assert main(["mail", "status"]) == 1
    out = capsys.readouterr().out
    assert out.startswith("pending 0  sent 0  failed 2")
    assert "group_settings group acme after 1 attempts: 127.0.0.1:" in out
    assert main(["mail", "retry"]) == 0
    assert capsys.readouterr().out == "requeued 2 messages\n"
    monkeypatch.delenv("FENSTER_SMTP_HOST")
    assert main(["mail", "send"]) == 0
    assert capsys.readouterr().out.startswith("sent 2,")
