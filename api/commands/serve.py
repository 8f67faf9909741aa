"""`fenster serve`: the API, feeds, site and background loops under uvicorn."""

from __future__ import annotations

import argparse
import asyncio
import socket
import sys

from api import db
from api.settings import Settings

__all__ = ["add_parsers", "serve"]


def add_parsers(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("serve", help="serve HTTP (GraphQL, feeds, site) and run background work")
    p.add_argument("--host", help="address to listen on (default FENSTER_HOST, 127.0.0.1)")
    p.add_argument("--port", type=int, help="port to listen on (default FENSTER_PORT, 8000)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace, settings: Settings) -> int:
    return serve(settings.listening_on(args.host, args.port))


async def preflight(settings: Settings) -> None:
    """Stop before serving if the database cannot be used (the CLI reports why in one line);
    warn when migrations are pending, since `/readyz` answers 503 until they are applied."""
    async with db.database(settings):
        pending = await db.pending_migrations()
    if pending:
        print(
            f"fenster: warning: {len(pending)} migration(s) pending; /readyz answers 503 "
            "until `fenster migrate` applies them",
            file=sys.stderr,
            flush=True,
        )


def serve(settings: Settings) -> int:
    import uvicorn

    from api.app import create_app
    from api.logs import uvicorn_log_config

    asyncio.run(preflight(settings))

    class Server(uvicorn.Server):
        async def startup(self, sockets: list[socket.socket] | None = None) -> None:
            await super().startup(sockets)
            if self.started:  # the port is bound: only now is "serving" true
                print(
                    f"fenster: serving on http://{settings.host}:{settings.port}/"
                    f" (links point at {settings.public_url})",
                    flush=True,
                )

    config = uvicorn.Config(
        create_app(settings),
        host=settings.host,
        port=settings.port,
        log_level="info",
        log_config=uvicorn_log_config(settings.log_format),
        proxy_headers=False,
    )
    Server(config).run()
    return 0
