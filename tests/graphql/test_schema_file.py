"""The committed SDL matches the schema; `fenster schema --check` says so too."""

from __future__ import annotations

from pathlib import Path

import pytest

from api.cli import main
from api.commands.graphql import sdl

ROOT = Path(__file__).resolve().parents[2]
COMMITTED = ROOT / "docs" / "reference" / "schema.graphql"


def test_committed_schema_is_current() -> None:
    assert COMMITTED.read_text() == sdl(), (
        "docs/reference/schema.graphql is stale: run `fenster schema`"
    )


def test_schema_command_writes_and_checks(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "schema.graphql"
    assert main(["schema", "--output", str(out), "--check"]) == 1
    assert main(["schema", "--output", str(out)]) == 0
    assert out.read_text() == sdl()
    assert "type Query" in out.read_text() and "union GroupPayload" in out.read_text()
    assert main(["schema", "--output", str(out), "--check"]) == 0
    assert "up to date" in capsys.readouterr().out
