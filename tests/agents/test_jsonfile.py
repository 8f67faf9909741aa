"""The agents' JSON files (agents.jsonfile): the three journals load, save and clear alike,
and a file they cannot read back is reported by name and left in place."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from agents.errors import ConfigError
from agents.guest.hooks import Answer, AnswerJournal
from agents.guest.loop import GuestJournal, Pending
from agents.host.journal import Entry, Journal, JournalActivity
from agents.jsonfile import JsonFile, write_atomic

ENTRY = Entry("w-1@fenster", "web01", [JournalActivity("a1", "reboot")], attempts=2)
PENDING = Pending("a2", "system_update", pid=4242, started=12.5)
ANSWER = Answer("w-1@fenster", "enter", 3, "not_yet", "exit 75: not yet")


def files(tmp_path: Path) -> list[JsonFile[Entry] | JsonFile[Pending] | JsonFile[Answer]]:
    return [Journal(tmp_path), GuestJournal(tmp_path), AnswerJournal(tmp_path)]


def test_each_journal_round_trips_and_clears(tmp_path: Path) -> None:
    journal, guest, answers = files(tmp_path)
    journal.save(ENTRY)
    guest.save(PENDING)
    answers.save(ANSWER)
    assert (journal.load(), guest.load(), answers.load()) == (ENTRY, PENDING, ANSWER)
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == ["guest-hook.json", "guest-journal.json", "journal.json"]  # no temp file
    assert all(p.stat().st_mode & 0o777 == 0o600 for p in tmp_path.iterdir())
    for f in (journal, guest, answers):
        f.clear()
        f.clear()  # clearing twice is fine
    assert (journal.load(), guest.load(), answers.load()) == (None, None, None)
    assert not list(tmp_path.iterdir())


def test_the_file_format_is_the_one_written_before(tmp_path: Path) -> None:
    """Journals left by an agent before the change still load (and the other way round)."""
    journal, guest, answers = files(tmp_path)
    journal.save(ENTRY)
    guest.save(PENDING)
    answers.save(ANSWER)
    host = json.loads((tmp_path / "journal.json").read_text())
    assert (host["version"], host["uid"], host["attempts"]) == (1, "w-1@fenster", 2)
    pending = json.loads((tmp_path / "guest-journal.json").read_text())
    assert (pending["version"], pending["pid"]) == (1, 4242)
    assert json.loads((tmp_path / "guest-hook.json").read_text()) == {
        "window": "w-1@fenster",
        "phase": "enter",
        "asks": 3,
        "reply": "not_yet",
        "reason": "exit 75: not yet",
    }  # the answer file has no version (a guest agent's answer is short-lived)


@pytest.mark.parametrize(
    ("name", "content", "why"),
    [
        ("journal.json", '{"version": 1, "uid": ', "Expecting"),  # half-written
        ("journal.json", '{"version": 2, "uid": "w"}', "version 2 is not 1"),
        ("journal.json", '["a list"]', "a JSON object expected"),
        ("guest-journal.json", '{"version": 1, "kind": "system_update"}', "'activity'"),
        ("guest-journal.json", '{"activity": "a", "kind": "k"}', "version None is not 1"),
        ("guest-journal.json", '{"version": 1, "activity": "a", "kind": "k", "pid": "x"}', "'x'"),
        ("guest-hook.json", '{"window": "w", "phase": "enter", "asks": "one"}', "'one'"),
        ("guest-hook.json", "", "Expecting value"),  # an empty file
    ],
)
def test_a_damaged_file_is_a_config_error_naming_it_and_stays(
    tmp_path: Path, name: str, content: str, why: str
) -> None:
    path = tmp_path / name
    path.write_text(content)
    [f] = [f for f in files(tmp_path) if f.path == path]
    with pytest.raises(ConfigError, match="damaged") as raised:
        f.load()
    assert str(path) in str(raised.value) and why in str(raised.value)
    assert path.read_text() == content  # left for an operator to inspect


def test_a_failed_write_leaves_the_old_content(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    journal = Journal(tmp_path)
    journal.save(ENTRY)

    def crash(fd: int) -> None:
        raise OSError("disk gone")

    monkeypatch.setattr("os.fsync", crash)
    with pytest.raises(OSError, match="disk gone"):
        journal.save(Entry("w-2@fenster", "db01", []))
    monkeypatch.undo()
    assert journal.load() == ENTRY  # the rename never happened
    assert [p.name for p in tmp_path.iterdir()] == ["journal.json"]  # no temporary file left


def test_write_atomic_writes_all_of_a_large_file(tmp_path: Path) -> None:
    data = b"x" * (8 << 20)
    write_atomic(tmp_path / "big", data)
    assert (tmp_path / "big").read_bytes() == data
