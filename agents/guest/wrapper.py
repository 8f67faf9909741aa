"""Run the update command and leave its exit status in a file, so that a guest agent killed
while it runs can adopt it after a restart and report its real outcome:

    python -m agents.guest.wrapper STATUS_FILE COMMAND [ARG ...]

The command inherits the wrapper's output (the update log) and process group. When it ends,
its exit code (128 + N for a signal N, 127 when it cannot be run) is written to a temporary
file that is renamed to STATUS_FILE: the file is either absent or whole.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

__all__ = ["main"]


def main(argv: list[str]) -> int:
    status, command = Path(argv[0]), argv[1:]
    # SIGTERM to the group (the agent's timeout) ends the command; the wrapper outlives it to
    # reap it, so that no zombie is left to an init that does not reap
    signal.signal(signal.SIGTERM, lambda _signum, _frame: None)
    try:
        code = subprocess.call(command, stdin=subprocess.DEVNULL)
    except OSError as e:
        print(f"cannot run {command[0]!r}: {e}", flush=True)
        code = 127
    if code < 0:
        code = 128 - code  # killed by signal -code, as a shell reports it
    tmp = status.with_name(f".{status.name}.tmp")
    with tmp.open("w") as f:
        f.write(f"{code}\n")
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, status)
    return code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
