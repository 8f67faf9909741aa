"""A harmless update command for demos and tests: prints what a system update prints, in the
format the guest agent reads (``changed: <package> <what changed>``), and changes nothing.

    python -m agents.guest.demo_update [--fail CODE] [--sleep SECONDS] [--record FILE]
                                       [--noise KIB]

``--record FILE`` appends one line per run (tests count the runs).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path

PACKAGES = (
    "sys-kernel/gentoo-sources 2.6.32 -> 2.6.38",
    "dev-lang/python 2.7.1 -> 2.7.2",
)


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="demo_update")
    p.add_argument("--fail", type=int, default=0, help="exit with this code after the output")
    p.add_argument("--sleep", type=float, default=0.0, help="seconds to take")
    p.add_argument("--record", type=Path, help="append a line per run to this file")
    p.add_argument("--noise", type=int, default=0, help="print this many KiB of progress first")
    args = p.parse_args(argv)
    if args.record is not None:
        with args.record.open("a") as f:
            f.write(f"{os.environ.get('FENSTER_ACTIVITY', '?')} {os.getpid()}\n")
    print("updating the package catalog (demo: nothing is changed)", flush=True)
    for i in range(args.noise * 16):
        print(f"progress {i:08d} " + "." * 47)  # 64 bytes a line
    sys.stdout.flush()
    time.sleep(args.sleep)
    if args.fail:
        print("error: the demo update was asked to fail", file=sys.stderr, flush=True)
        return args.fail
    for line in PACKAGES:
        print(f"changed: {line}")
    print(f"{len(PACKAGES)} packages updated")
    return 0


if __name__ == "__main__":
    sys.exit(main())
