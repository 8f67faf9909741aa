"""Running the configured update command: its exit code, the tail of its log, the packages
it says it changed.

The command's output (stdout and stderr together) goes to a file in the state directory, so a
long log costs no memory; only its last ``MAX_LOG`` bytes are reported. A line

    changed: <package> <what changed>

(e.g. ``changed: sys-kernel/gentoo-sources 2.6.32 -> 2.6.38``) names a changed package; the
text after ``changed:`` is reported as is. The command runs in its own process group; past its
timeout the whole group gets SIGTERM, then SIGKILL 10 seconds later.
"""

from __future__ import annotations

import os
import shlex
import signal
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

__all__ = [
    "MAX_LOG",
    "MAX_PACKAGES",
    "PACKAGE_PREFIX",
    "Outcome",
    "parse_packages",
    "run",
    "split",
]

MAX_LOG = 16 * 1024  # bytes of the log's tail (the API takes 16,384 characters)
MAX_PACKAGES = 1000
MAX_PACKAGE = 200
PACKAGE_PREFIX = "changed:"
KILL_AFTER = 10.0


@dataclass(frozen=True)
class Outcome:
    exit_code: int | None  # None: timed out (killed)
    log: str
    packages: list[str] = field(default_factory=list)
    timed_out: bool = False

    @property
    def ok(self) -> bool:
        return self.exit_code == 0


def parse_packages(lines: list[str]) -> list[str]:
    found = []
    for line in lines:
        if line.startswith(PACKAGE_PREFIX):
            text = "".join(c for c in line[len(PACKAGE_PREFIX) :].strip() if c.isprintable())
            if text:
                found.append(text[:MAX_PACKAGE])
            if len(found) == MAX_PACKAGES:
                break
    return found


def _tail(path: Path, room: int = MAX_LOG) -> str:
    """The last ``room`` bytes of the log (so at most ``room`` characters), marked "[…]"
    when cut."""
    with path.open("rb") as f:
        f.seek(0, os.SEEK_END)
        size = f.tell()
        f.seek(max(0, size - room))
        data = f.read()
    text = data.decode("utf-8", errors="replace").replace("\x00", "")
    return text if size <= room else "[…]" + text[3:]


def _packages(path: Path) -> list[str]:
    with path.open("rb") as f:
        lines = [raw.decode("utf-8", errors="replace").rstrip("\n") for raw in f]
    return parse_packages(lines)


def split(command: str) -> list[str]:
    """The command's words, or ValueError for an empty or unbalanced command."""
    argv = shlex.split(command)
    if not argv:
        raise ValueError("the update command is empty")
    return argv


def run(command: str, timeout: float, log_path: Path, env: dict[str, str]) -> Outcome:
    """Run ``command`` (split like a shell would, not run by one) with ``timeout`` seconds."""
    argv = split(command)
    with log_path.open("wb") as out:
        try:
            child = subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                env={**os.environ, **env},
                start_new_session=True,  # its own group: a timeout stops all it started
            )
        except OSError as e:
            return Outcome(None, f"cannot run {argv[0]!r}: {e}")
        try:
            code: int | None = child.wait(timeout=timeout)
            timed_out = False
        except subprocess.TimeoutExpired:
            timed_out = True
            _stop(child)
            code = None
    note = f"\nfenster-agent guest: timed out after {timeout:g} s; the command was stopped"
    if not timed_out:
        note = ""
    tail = _tail(log_path, MAX_LOG - len(note)) + note
    return Outcome(code, tail, _packages(log_path), timed_out)


def _stop(child: subprocess.Popen[bytes]) -> None:
    for sig, wait in ((signal.SIGTERM, KILL_AFTER), (signal.SIGKILL, None)):
        try:
            os.killpg(child.pid, sig)
        except ProcessLookupError:
            break
        try:
            child.wait(timeout=wait)
            break
        except subprocess.TimeoutExpired:
            continue
