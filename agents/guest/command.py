"""Running the configured update command: its exit code, the tail of its log, the packages
it says it changed.

The command's output (stdout and stderr together) goes to a file in the state directory, so a
long log costs no memory; only its last ``MAX_LOG`` bytes are reported. A line

    changed: <package> <what changed>

(e.g. ``changed: sys-kernel/gentoo-sources 2.6.32 -> 2.6.38``) names a changed package; the
text after ``changed:`` is reported as is. The command runs in its own process group; past its
timeout the whole group gets SIGTERM, then SIGKILL 10 seconds later.

An update runs under a small wrapper (``agents.guest.wrapper``, :func:`start`) that leaves
the command's exit status in a file: an agent killed while it runs leaves the command running,
and the next agent adopts it (:func:`finish` on the journaled pid), waits for it within the
same timeout, and reports its real exit code and log tail.
"""

from __future__ import annotations

import contextlib
import os
import shlex
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

__all__ = [
    "MAX_LOG",
    "MAX_PACKAGES",
    "PACKAGE_PREFIX",
    "Outcome",
    "finish",
    "parse_packages",
    "run",
    "split",
    "start",
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


# --- an update under the wrapper: adopted after the agent's restart ---------------------------

WRAPPER = [sys.executable, "-m", "agents.guest.wrapper"]
UNKNOWN_END = (
    "\nfenster-agent guest: the command ended without leaving its exit status (it was killed); "
    "its outcome is unknown"
)


def start(
    command: str, log_path: Path, status_path: Path, env: dict[str, str]
) -> subprocess.Popen[bytes] | Outcome:
    """Start ``command`` under the wrapper (agents.guest.wrapper), in a process group of its
    own that outlives the agent: the child (its pid is the group's), or the Outcome of a
    wrapper that could not start."""
    argv = split(command)
    status_path.unlink(missing_ok=True)
    with log_path.open("wb") as out:
        try:
            return subprocess.Popen(
                [*WRAPPER, str(status_path), *argv],
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                env={**os.environ, **env},
                start_new_session=True,
            )
        except OSError as e:
            return Outcome(None, f"cannot run the wrapper for {argv[0]!r}: {e}")


def finish(
    pid: int,
    deadline: float,
    timeout: float,
    log_path: Path,
    status_path: Path,
    child: subprocess.Popen[bytes] | None = None,
) -> Outcome:
    """Wait for the update in process group ``pid`` (the agent's ``child``, or one adopted
    from a killed agent) until ``deadline`` (epoch seconds). Its exit status from the
    wrapper's file; past the deadline (``timeout`` after its start) the group is stopped
    (timed out); gone without a
    status (killed): no exit code, the outcome unknown."""
    note, timed_out = "", False
    while (code := _status(status_path)) is None:
        if not _alive(pid, child):
            code = _status(status_path)  # (written just before it ended)
            note = UNKNOWN_END if code is None else ""
            break
        left = deadline - time.time()
        if left <= 0:
            _stop_group(pid, child)
            timed_out = True
            note = f"\nfenster-agent guest: timed out after {timeout:g} s; the command was stopped"
            break
        if child is not None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                child.wait(timeout=min(left, 1.0))
        else:
            time.sleep(min(left, 0.2))
    if child is not None and not timed_out:
        with contextlib.suppress(subprocess.TimeoutExpired):
            child.wait(timeout=KILL_AFTER)  # reap it
    status_path.unlink(missing_ok=True)
    tail = _tail(log_path, MAX_LOG - len(note)) + note
    return Outcome(code, tail, _packages(log_path), timed_out)


def _status(path: Path) -> int | None:
    try:
        return int(path.read_text().strip())
    except (FileNotFoundError, ValueError):
        return None


def _alive(pid: int, child: subprocess.Popen[bytes] | None) -> bool:
    """The wrapper runs (a child of ours: not reaped; else: not gone, not a zombie)."""
    if child is not None:
        return child.poll() is None
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rpartition(")")[2].split()[0] != "Z"


def _stop_group(pid: int, child: subprocess.Popen[bytes] | None) -> None:
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(pid, sig)
        except ProcessLookupError:
            return
        until = time.monotonic() + KILL_AFTER
        while _alive(pid, child) and time.monotonic() < until:
            time.sleep(0.1)
        if not _alive(pid, child):
            return
