"""`fenster migrate` and `fenster settings`."""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

from api import db
from api.settings import CONFIG_FILE, Settings

__all__ = ["add_parsers"]


def add_parsers(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "migrate",
        help="create or upgrade the schema in an existing database (it never creates one)",
    )
    p.add_argument("--check", action="store_true", help="only report pending migrations")
    p.set_defaults(func=migrate)
    p = sub.add_parser(
        "settings", help="show each setting in force and where it came from (secrets masked)"
    )
    p.add_argument("--json", action="store_true", help="print the values as JSON")
    p.set_defaults(func=show_settings)


async def migrate(args: argparse.Namespace, settings: Settings) -> int:
    await db.init(settings)
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
    values = settings.describe()
    if args.json:
        print(json.dumps(values, indent=2, default=str))
        return 0
    named = os.environ.get("FENSTER_CONFIG", "")
    path = Path(named or CONFIG_FILE)
    state = "read" if path.is_file() else "not found, not used"
    print(f"configuration file: {path.resolve()} ({state})")
    print("environment variables FENSTER_<SETTING> override it\n")
    rows = [
        ("setting", "value", "from"),
        *((k, str(v), settings.source(k)) for k, v in values.items()),
    ]
    wide = [max(len(r[i]) for r in rows) for i in range(2)]
    for name, value, source in rows:
        print(f"{name:<{wide[0]}}  {value:<{wide[1]}}  {source}")
    return 0
