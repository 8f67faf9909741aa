"""The crash journal and the one-agent lock."""

from __future__ import annotations

from pathlib import Path

import pytest

from agents.errors import ConfigError, LockedError
from agents.host.journal import Entry, Journal, JournalActivity, StateLock


def entry() -> Entry:
    return Entry(
        uid="w-1@fenster",
        machine="web01",
        activities=[JournalActivity("QWN0aXZpdHk6MQ==", "memory_resize", {"memory_mib": 4096})],
    )


def test_round_trip_and_clear(tmp_path: Path) -> None:
    journal = Journal(tmp_path)
    assert journal.load() is None
    e = entry()
    e.was_running["web01"] = True
    e.progress["x"] = {"stopped": True}
    journal.save(e)
    assert journal.load() == e
    assert [p.name for p in tmp_path.iterdir()] == ["journal.json"]  # no temp file left
    assert (tmp_path / "journal.json").stat().st_mode & 0o777 == 0o600
    journal.clear()
    journal.clear()  # clearing twice is fine
    assert journal.load() is None


def test_a_damaged_journal_is_a_config_error(tmp_path: Path) -> None:
    (tmp_path / "journal.json").write_text('{"version": 1, "uid": ')
    with pytest.raises(ConfigError, match="damaged"):
        Journal(tmp_path).load()


def test_second_lock_is_refused_until_released(tmp_path: Path) -> None:
    first = StateLock(tmp_path)
    first.acquire()
    with pytest.raises(LockedError, match="holds"):
        StateLock(tmp_path).acquire()
    first.release()
    with StateLock(tmp_path):
        pass
