"""`fenster demo`: migrate, load the demo world, and serve it."""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
from pathlib import Path
from urllib.parse import quote

from api import db
from api.settings import Settings

__all__ = ["add_parsers", "graphiql_link"]

EXAMPLE_QUERY = """\
# The next windows of the groups this token sees (token: Headers tab below). Ctrl-Enter runs it.
{
  me { name role groups }
  windows(first: 10) {
    totalCount
    nodes {
      machine { name }
      startsAt
      local { timezone startsAt endsAt }
      state
      reason
    }
  }
}
"""


def add_parsers(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "demo", help="migrate, load the demo world (idempotent) and serve it with GraphiQL"
    )
    p.add_argument("--no-serve", action="store_true", help="load the demo world and exit")
    p.add_argument("--host", help="address to listen on")
    p.add_argument("--port", type=int, help="port to listen on")
    p.set_defaults(func=run)


def demo_settings(settings: Settings) -> Settings:
    """The demo's operators sit in Berlin, as the seed's provider did (unless configured)."""
    if "FENSTER_SITE_TIMEZONE" in os.environ:
        return settings
    return dataclasses.replace(settings, site_timezone="Europe/Berlin")


def run(args: argparse.Namespace, settings: Settings) -> int:
    import asyncio

    settings = demo_settings(settings)
    served = dataclasses.replace(settings.listening_on(args.host, args.port), graphiql=True)
    asyncio.run(load(served))
    if args.no_serve:
        return 0
    from api.commands.serve import serve

    return serve(served)


def graphiql_link(settings: Settings, token: str) -> str:
    """GraphiQL opening EXAMPLE_QUERY with ``token`` in its Authorization header."""
    headers = json.dumps({"Authorization": f"Bearer {token}"})
    return f"{settings.public_url}/graphql?q={quote(EXAMPLE_QUERY)}&headers={quote(headers)}"


async def load(settings: Settings) -> None:
    from api.demo import CUSTOMER_GROUP, load_demo
    from api.feeds.urls import feed_url
    from api.models import ResourceGroup
    from api.services import site

    await db.init(settings)
    try:
        applied = await db.migrate()
        if applied:
            print(f"applied {len(applied)} migration(s)")
        token_dir = (settings.sqlite_path() or Path("var/x")).parent
        report = await load_demo(token_dir=token_dir, settings=settings)
        for line in report.lines():
            print(line, flush=True)
        group = await ResourceGroup.get(name=CUSTOMER_GROUP)
        built = await site.build_site(settings)
        if built.ok:
            print(f"notice site built into {settings.site_dir}", flush=True)
        else:
            print(f"notice site build failed (fenster site status):\n{built.error}", flush=True)
    finally:
        await db.close()
    if report.admin_token_file:
        print(
            f"admin token in {report.admin_token_file} (send it as Authorization: Bearer <token>)"
        )
    if report.customer_token_file:
        token = report.customer_token_file.read_text().strip()
        urls = feed_url(settings, group)
        print(f"customer token of group {group.name}: {token}")
        print(f"  (kept in {report.customer_token_file})")
        print(f"  its calendar feed:  {urls.https}")
        print(f"  in a calendar app:  {urls.webcal}")
        print(f"GraphiQL with an example query and that token: {graphiql_link(settings, token)}")
