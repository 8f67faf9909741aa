"""`fenster schema`: write the GraphQL SDL (docs/reference/schema.graphql by default)."""

from __future__ import annotations

import argparse
from pathlib import Path

from api.settings import Settings

__all__ = ["DEFAULT_PATH", "add_parsers", "sdl"]

DEFAULT_PATH = Path("docs/reference/schema.graphql")


def sdl() -> str:
    from api.graphql.schema import schema

    return schema.as_str().rstrip("\n") + "\n"


def add_parsers(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("schema", help="write the GraphQL schema (SDL) for docs and clients")
    p.add_argument("--output", type=Path, default=DEFAULT_PATH, help=f"default {DEFAULT_PATH}")
    p.add_argument(
        "--check", action="store_true", help="write nothing; exit 1 when the file is stale"
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace, settings: Settings) -> int:
    text = sdl()
    path: Path = args.output
    current = path.read_text() if path.exists() else None
    if args.check:
        if current != text:
            print(f"{path} is stale: run `fenster schema`")
            return 1
        print(f"{path} is up to date")
        return 0
    if current == text:
        print(f"{path} unchanged")
        return 0
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    print(f"wrote {path}")
    return 0
