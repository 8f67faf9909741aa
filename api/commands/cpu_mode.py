"""`fenster cpu-mode`: queue a CPU mode change for every VM whose guests do not see the host
CPU (api.services.cpu_mode)."""

from __future__ import annotations

import argparse

from api import db
from api.kinds import CPU_MODES
from api.settings import Settings

__all__ = ["add_parsers"]


def add_parsers(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "cpu-mode",
        help="queue a cpu_mode activity for every VM whose reported CPU mode is not --mode",
    )
    p.add_argument("--mode", choices=CPU_MODES, default=CPU_MODES[0])
    p.add_argument("--dry-run", action="store_true", help="list the VMs, queue nothing")
    p.set_defaults(func=run)


async def run(args: argparse.Namespace, settings: Settings) -> int:
    from api.services.cpu_mode import queue_cpu_mode

    async with db.database(settings):
        result = await queue_cpu_mode("cli", args.mode, dry_run=args.dry_run)
    verb = "would queue" if args.dry_run else "queued"
    print(f"cpu mode {result.mode}: {verb} {len(result.queued)}: {', '.join(result.queued) or '-'}")
    if result.already:
        print(f"already queued: {', '.join(result.already)}")
    if result.unknown:
        print(f"{result.unknown} VM(s) without a reported CPU mode (their host agent is older)")
    return 0
