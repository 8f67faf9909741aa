"""`fenster demo`: migrate, load the demo world, and serve it."""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path

from api import db
from api.settings import Settings

__all__ = ["add_parsers"]


def add_parsers(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "demo", help="migrate, load the demo world (idempotent) and serve it with GraphiQL"
    )
    p.add_argument("--no-serve", action="store_true", help="load the demo world and exit")
    p.add_argument("--host", help="address to listen on")
    p.add_argument("--port", type=int, help="port to listen on")
    p.set_defaults(func=run)


def run(args: argparse.Namespace, settings: Settings) -> int:
    import asyncio

    asyncio.run(load(settings))
    if args.no_serve:
        return 0
    from api.commands.serve import serve

    changes: dict[str, object] = {"graphiql": True}
    if args.host:
        changes["host"] = args.host
    if args.port:
        changes["port"] = args.port
    return serve(dataclasses.replace(settings, **changes))


async def load(settings: Settings) -> None:
    from api.demo import load_demo

    await db.init(settings, create_db=not settings.is_sqlite)
    try:
        applied = await db.migrate()
        if applied:
            print(f"applied {len(applied)} migration(s)")
        token_dir = (settings.sqlite_path() or Path("var/x")).parent
        report = await load_demo(token_dir=token_dir)
        for line in report.lines():
            print(line, flush=True)
    finally:
        await db.close()
