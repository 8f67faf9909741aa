"""Crash safety: the journal of the window in progress, and the one-agent-per-host lock.

Before the agent starts a window it writes the window (uid, machine, activities) to
``<state dir>/journal.json``; as the work goes on it adds what must survive a crash (which
guests ran before, reboot progress, the final results) and removes the file once the API has
the window's outcome. It is an ``agents.jsonfile.JsonFile``: every write goes to a temporary
file that is fsynced and then renamed over the journal, so a crash leaves either the old or
the new journal, never half of one.
"""

from __future__ import annotations

import fcntl
import os
import socket
import uuid
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from agents.errors import LockedError
from agents.jsonfile import JsonFile, write_atomic

__all__ = [
    "Entry",
    "Journal",
    "JournalActivity",
    "StateLock",
    "agent_identity",
]

VERSION = 1


@dataclass
class JournalActivity:
    id: str
    kind: str
    params: dict[str, Any] = field(default_factory=dict)


@dataclass
class Entry:
    """One window in progress."""

    uid: str
    machine: str
    activities: list[JournalActivity]
    started: bool = False
    attempts: int = 0
    was_running: dict[str, bool] = field(default_factory=dict)
    progress: dict[str, dict[str, Any]] = field(default_factory=dict)
    results: list[dict[str, str]] | None = None
    booted: dict[str, str] = field(default_factory=dict)  # machine -> XML that last booted
    logs: dict[str, list[str]] = field(default_factory=dict)  # activity -> every attempt's lines
    libvirt_losses: int = 0  # times libvirtd went away during this window (not interruptions)
    down: dict[str, str] = field(default_factory=dict)  # guest left down -> libvirt's error
    hooks: str = ""  # the guest's enter hooks: "" not asked, none (no guest agent), go, ...
    hooks_since: float = 0.0  # when they were first asked (epoch seconds): the bound holds
    # definition changes the running guest's live values do not show (its CPU mode): the
    # window's last step restarts the guest for them
    restart_for: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Entry:
        return cls(
            uid=str(data["uid"]),
            machine=str(data["machine"]),
            activities=[JournalActivity(**a) for a in data["activities"]],
            started=bool(data.get("started", False)),
            attempts=int(data.get("attempts", 0)),
            was_running={str(k): bool(v) for k, v in data.get("was_running", {}).items()},
            progress=dict(data.get("progress", {})),
            results=data.get("results"),
            booted={str(k): str(v) for k, v in data.get("booted", {}).items()},
            logs={str(k): [str(x) for x in v] for k, v in data.get("logs", {}).items()},
            libvirt_losses=int(data.get("libvirt_losses", 0)),
            down={str(k): str(v) for k, v in data.get("down", {}).items()},
            hooks=str(data.get("hooks", "")),
            hooks_since=float(data.get("hooks_since", 0.0)),
            restart_for=[str(x) for x in data.get("restart_for", [])],
        )


class Journal(JsonFile[Entry]):
    """The journal file in the state directory. ``save(entry, durable=False)`` skips the
    fsyncs: the new journal survives the agent's death (SIGKILL, OOM), not a power loss (used
    for log lines, which are written often and matter less than the state)."""

    def __init__(self, state_dir: Path) -> None:
        super().__init__(state_dir / "journal.json", Entry.from_json, Entry.to_json, VERSION)


def agent_identity(state_dir: Path) -> str:
    """This agent's identity, ``<hostname>/<random>``, made once and kept in
    ``<state dir>/agent-id``: the same agent after a restart, another with another state dir."""
    path = state_dir / "agent-id"
    try:
        return path.read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        pass
    identity = f"{socket.gethostname()[:60]}/{uuid.uuid4().hex[:16]}"
    write_atomic(path, f"{identity}\n".encode())
    return identity


class StateLock:
    """A non-blocking exclusive lock on ``<state dir>/agent.lock``: one agent per host."""

    def __init__(self, state_dir: Path) -> None:
        self.path = state_dir / "agent.lock"
        self._fd: int | None = None

    def acquire(self) -> None:
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.read(fd, 32).decode(errors="replace").strip() or "unknown"
            os.close(fd)
            raise LockedError(
                f"another fenster-agent (pid {holder}) holds {self.path}; try again later"
            ) from None
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        self._fd = fd

    def release(self) -> None:
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None

    def __enter__(self) -> StateLock:
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()
