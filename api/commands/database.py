"""`fenster migrate` and `fenster settings`."""

from __future__ import annotations

import argparse
import json

from api import db
from api.settings import Settings

__all__ = ["add_parsers"]


def add_parsers(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("migrate", help="create or upgrade the database schema")
    p.add_argument("--check", action="store_true", help="only report pending migrations")
    p.set_defaults(func=migrate)
    p = sub.add_parser("settings", help="show the settings in force (secrets masked)")
    p.set_defaults(func=show_settings)


async def migrate(args: argparse.Namespace, settings: Settings) -> int:
    await db.init(settings, create_db=not settings.is_sqlite)
    try:
        if args.check:
            pending = await db.pending_migrations()
            for name in pending:
                print(f"pending: {name}")
            print("database is up to date" if not pending else f"{len(pending)} pending")
            return 1 if pending else 0

        def progress(event: str, app_label: str, name: str) -> None:
            if event == "apply_start":
                print(f"applying {app_label}.{name} ...", flush=True)

        applied = await db.migrate(progress=progress)
        print(f"applied {len(applied)} migration(s); database is up to date")
        return 0
    finally:
        await db.close()


def show_settings(args: argparse.Namespace, settings: Settings) -> int:
    print(json.dumps(settings.describe(), indent=2, default=str))
    return 0
