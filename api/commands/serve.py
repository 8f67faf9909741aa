"""`fenster serve`: the API, feeds, site and background loops under uvicorn."""

from __future__ import annotations

import argparse
import asyncio
import logging
import socket
import sys

from api import db
from api.settings import Settings, SettingsError, env_name

__all__ = ["add_parsers", "serve"]


def add_parsers(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("serve", help="serve HTTP (GraphQL, feeds, site) and run background work")
    p.add_argument("--host", help="address to listen on (default FENSTER_HOST, 127.0.0.1)")
    p.add_argument("--port", type=int, help="port to listen on (default FENSTER_PORT, 8000)")
    p.add_argument(
        "--workers",
        type=int,
        default=1,
        help="processes answering on the port (default 1); they share the background duties "
        "through the leader lease",
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace, settings: Settings) -> int:
    if not 1 <= args.workers <= 64:
        raise SettingsError(f"--workers must be between 1 and 64, got {args.workers}")
    return serve(settings.listening_on(args.host, args.port), workers=args.workers)


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


def serve(settings: Settings, workers: int = 1) -> int:
    import uvicorn

    from api.app import create_app
    from api.logs import uvicorn_log_config

    asyncio.run(preflight(settings))
    if workers > 1:
        return _serve_workers(settings, workers)

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
        log_config=uvicorn_log_config(settings.log_format, logging.getLogger().level),
        proxy_headers=False,
    )
    Server(config).run()
    return 0


def _serve_workers(settings: Settings, workers: int) -> int:
    """uvicorn's supervisor starts ``workers`` processes on one socket; each builds the app
    from the same settings (the command line's host and port reach them as variables)."""
    import os

    import uvicorn

    from api.logs import uvicorn_log_config

    os.environ[env_name("host")] = settings.host
    os.environ[env_name("port")] = str(settings.port)
    if settings.source("public_url").startswith("default"):
        os.environ.pop(env_name("public_url"), None)
    print(
        f"fenster: serving on http://{settings.host}:{settings.port}/ with {workers} workers"
        f" (links point at {settings.public_url})",
        flush=True,
    )
    uvicorn.run(
        "api.app:create_app",
        factory=True,
        host=settings.host,
        port=settings.port,
        workers=workers,
        log_level="info",
        log_config=uvicorn_log_config(settings.log_format, logging.getLogger().level),
        proxy_headers=False,
    )
    return 0
