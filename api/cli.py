"""`fenster`: the command line. Each area's commands live in api/commands/<area>.py."""

from __future__ import annotations

import argparse
import asyncio
import importlib
import inspect
import logging
import sys
from collections.abc import Sequence

from api import __version__
from api.errors import FensterError
from api.settings import SettingsError, get_settings

__all__ = ["COMMAND_MODULES", "main"]

# One line per area; each module defines `add_parsers(subparsers)` and sets `func` on its parsers.
COMMAND_MODULES = [
    "api.commands.database",
    "api.commands.serve",
    "api.commands.demo",
    "api.commands.tokens",
    "api.commands.scheduling",
    "api.commands.graphql",
    "api.commands.mail",
]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="fenster",
        description="fenster: a maintenance directory for hosting providers.",
        epilog="Settings come from FENSTER_* environment variables: see `fenster settings`.",
    )
    parser.add_argument("--version", action="version", version=f"fenster {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log more")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        importlib.import_module(name).add_parsers(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        settings = get_settings()
        result = args.func(args, settings)
        if inspect.isawaitable(result):
            result = asyncio.run(result)
    except (FensterError, SettingsError) as exc:
        print(f"fenster: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    return int(result or 0)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
