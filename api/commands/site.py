"""`fenster site build|status`: the public notice site from the command line."""

from __future__ import annotations

import argparse

from api import db
from api.settings import Settings

__all__ = ["add_parsers"]


def add_parsers(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("site", help="build the public notice site and show its build status")
    ssub = p.add_subparsers(dest="site_command", metavar="ACTION", required=True)
    b = ssub.add_parser(
        "build", help="generate the pages from the directory, run mkdocs build, swap it in"
    )
    b.set_defaults(func=build)
    s = ssub.add_parser("status", help="when the site was last built, and the last build's error")
    s.set_defaults(func=status)


async def build(args: argparse.Namespace, settings: Settings) -> int:
    from api.services import site

    async with db.database(settings):
        result = await site.build_site(settings)
    if not result.ok:
        print(f"site build failed; the last good site stays in {settings.site_dir}:")
        print(result.error)
        return 1
    print(f"site built into {settings.site_dir} in {result.seconds:.1f} s")
    return 0


def status(args: argparse.Namespace, settings: Settings) -> int:
    from api.services import site

    result = site.status(settings)
    if result is None:
        print(f"no site has been built in {settings.site_dir}")
        return 1
    print(f"last build: {'ok' if result.ok else 'FAILED'} at {result.finished_at}")
    print(f"site served: built at {result.built_at or 'never'}")
    if not result.ok:
        print(result.error)
    return 0 if result.ok else 1
