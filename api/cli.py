"""`fenster`: the command line. Each area's commands live in api/commands/<area>.py."""

from __future__ import annotations

import argparse
import asyncio
import importlib
import inspect
import logging
import sys
import traceback
from collections.abc import Sequence

from api import __version__, logs
from api.db_errors import explain
from api.errors import FensterError
from api.settings import Settings, SettingsError, get_settings

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
    "api.commands.site",
    "api.commands.announce",
    "api.commands.catalog",
    "api.commands.rollout",
    "api.commands.cpu_mode",
]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="fenster",
        description="fenster: a maintenance directory for hosting providers.",
        epilog="Settings come from FENSTER_* environment variables: see `fenster settings`.",
    )
    parser.add_argument("--version", action="version", version=f"fenster {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log more")
    parser.add_argument("--debug", action="store_true", help=DEBUG_HELP)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        importlib.import_module(name).add_parsers(sub)
    _add_debug(sub)
    return parser


def _add_debug(sub: argparse._SubParsersAction) -> None:
    """`fenster migrate --debug`, `fenster token list --debug` work as well as `--debug` first."""
    for command in sub.choices.values():
        command.add_argument("--debug", action="store_true", default=argparse.SUPPRESS)
        for action in command._actions:
            if isinstance(action, argparse._SubParsersAction):
                _add_debug(action)


DEBUG_HELP = "on failure, print the traceback as well as the one-line error"


def _fail(message: BaseException, debug: bool, raised: BaseException | None = None) -> None:
    if debug:
        traceback.print_exception(raised or message)
    print(f"fenster: error: {message}", file=sys.stderr)


def _level(args: argparse.Namespace) -> int:
    return logging.INFO if getattr(args, "verbose", False) else logging.WARNING


def run(args: argparse.Namespace) -> int:
    """Run the chosen command; an expected failure becomes one line on stderr and an exit
    code (2 bad input or settings, 3 database unavailable), anything else a traceback."""
    settings: Settings | None = None
    try:
        settings = get_settings()
        if settings.log_format != "text":
            logs.configure(settings.log_format, _level(args))
        result = args.func(args, settings)
        if inspect.iscoroutine(result):
            result = asyncio.run(result)
    except (FensterError, SettingsError) as exc:
        _fail(exc, args.debug)
        return exc.exit_code if isinstance(exc, FensterError) else 2
    except KeyboardInterrupt:
        return 130
    except Exception as exc:
        problem = explain(exc, settings.database_url) if settings else None
        if problem is None:
            raise
        _fail(problem, args.debug, exc)
        return problem.exit_code
    return int(result or 0)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logs.configure("text", _level(args))  # until the settings say otherwise (see run)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    return run(args)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
