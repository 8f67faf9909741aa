"""Serving the built notice site at ``/``: looked up on every request, so a build swapped in
by ``fenster site build`` or the rebuild loop is served at once, without a restart.

Before any site is built, ``/`` is a small landing page listing the service's entry points.
``/docs/...`` (where fenster's manual used to live) redirects to the same page at ``/...``.
"""

from __future__ import annotations

import html
from pathlib import Path

from starlette.requests import Request
from starlette.responses import HTMLResponse, PlainTextResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import Receive, Scope, Send

from api import __version__
from api.publish.values import SERVICE_ENTRY_POINTS
from api.settings import Settings

__all__ = ["SiteFiles", "landing_html", "site_routes"]


def landing_html(settings: Settings) -> str:
    rows = []
    for e in SERVICE_ENTRY_POINTS:
        what = e.what
        if e.path == "/graphql" and settings.graphiql:
            what = "the GraphQL API; open it in a browser for GraphiQL"
        label = f"<code>{html.escape(e.path)}</code>"
        if e.link:
            label = f"<a href='{html.escape(e.link)}'>{label}</a>"
        rows.append(f"<tr><td>{label}</td><td>{html.escape(what)}</td></tr>")
    return (
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>"
        "<meta name='viewport' content='width=device-width, initial-scale=1'>"
        "<title>fenster</title><style>body{font-family:system-ui,sans-serif;max-width:48rem;"
        "margin:2rem auto;padding:0 1rem}td{padding:.3rem 1rem .3rem 0;vertical-align:top}"
        "</style></head><body>"
        f"<h1>fenster {html.escape(__version__)}</h1>"
        "<p>The maintenance directory: maintenance windows, notices, rollouts and host "
        "agents. The notice site appears here once it is built (<code>fenster site build"
        "</code>, or <code>fenster serve</code> builds it).</p>"
        f"<table>{''.join(rows)}</table></body></html>"
    )


class SiteFiles:
    """The site's files, or the landing page at ``/`` while there is no site."""

    def __init__(self, settings: Settings) -> None:
        self.directory = Path(settings.site_dir)
        self.landing = landing_html(settings)
        self.files = StaticFiles(directory=self.directory, html=True, check_dir=False)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (self.directory / "index.html").is_file():
            await self.files(scope, receive, send)
            return
        if scope["type"] == "http" and scope.get("path", "/") in {"", "/"}:
            response: Response = HTMLResponse(self.landing)
        else:
            response = PlainTextResponse("not found\n", status_code=404)
        await response(scope, receive, send)


async def _docs_redirect(request: Request) -> Response:
    rest = request.path_params.get("rest", "")
    return RedirectResponse("/" + rest, status_code=308)


def site_routes(settings: Settings) -> list[BaseRoute]:
    """Last in the app's routes: everything the API and the feeds do not answer."""
    return [
        Route("/docs", _docs_redirect, methods=["GET", "HEAD"]),
        Route("/docs/{rest:path}", _docs_redirect, methods=["GET", "HEAD"]),
        Mount("/", app=SiteFiles(settings), name="site"),
    ]
