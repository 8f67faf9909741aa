"""GraphiQL, served from the vendored assets in static/graphiql (no CDN needed)."""

from __future__ import annotations

import base64
import hashlib
import re
from functools import lru_cache
from pathlib import Path

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import FileResponse, Response
from strawberry.http.ides import get_graphql_ide_html

__all__ = ["ASSETS", "ASSET_PREFIX", "graphiql_headers", "graphiql_html", "serve_asset"]

ASSET_PREFIX = "/graphql/static/"
ASSETS = Path(__file__).parent / "static" / "graphiql"
# CDN address in Strawberry's page -> vendored file name
CDN_FILES = {
    "https://unpkg.com/react@18.2.0/umd/react.production.min.js": "react.production.min.js",
    "https://unpkg.com/react-dom@18.2.0/umd/react-dom.production.min.js": (
        "react-dom.production.min.js"
    ),
    "https://unpkg.com/js-cookie@3.0.5/dist/js.cookie.min.js": "js.cookie.min.js",
    "https://unpkg.com/graphiql@3.8.3/graphiql.min.css": "graphiql.min.css",
    "https://unpkg.com/graphiql@3.8.3/graphiql.min.js": "graphiql.min.js",
    "https://unpkg.com/@graphiql/plugin-explorer@1.0.2/dist/style.css": "plugin-explorer.css",
    "https://unpkg.com/@graphiql/plugin-explorer@1.0.2/dist/index.umd.js": (
        "plugin-explorer.umd.js"
    ),
}
_CDN = re.compile(r"https://unpkg\.com/[^\"']+")


# The text GraphiQL opens with (instead of Strawberry's generic welcome): where the token goes.
WELCOME = """\
# fenster's GraphQL API.
#
# Every request needs an API token. Open the "Headers" tab below this editor
# and write:
#
#   {"Authorization": "Bearer fst_..."}
#
# (fenster demo prints a customer token and a link with it filled in; the admin
# token is in var/demo-admin-token; fenster token create makes more.)
# Then write a query and run it with Ctrl-Enter, for example:
#
#   { me { name role groups } windows(first: 5) { nodes { startsAt state machine { name } } } }
"""
assert "`" not in WELCOME and "${" not in WELCOME  # it goes into a JavaScript template literal
_WELCOME = re.compile(r"const EXAMPLE_QUERY = `.*?`;", re.DOTALL)


@lru_cache(maxsize=1)
def graphiql_html() -> str:
    """Strawberry's GraphiQL page with every CDN address pointing at the vendored copy.

    Raises RuntimeError when Strawberry's page asks for an asset that is not vendored (after an
    upgrade): better a clear failure at start-up than an IDE that silently needs the internet.
    """
    html = get_graphql_ide_html(graphql_ide="graphiql")
    missing = sorted(set(_CDN.findall(html)) - set(CDN_FILES))
    if missing:
        raise RuntimeError(f"GraphiQL assets not vendored: {', '.join(missing)}")
    for url, name in CDN_FILES.items():
        html = html.replace(url, ASSET_PREFIX + name)
    html, found = _WELCOME.subn(lambda _: f"const EXAMPLE_QUERY = `{WELCOME}`;", html, count=1)
    if not found:
        raise RuntimeError("GraphiQL page changed: its EXAMPLE_QUERY was not found")
    return html.replace(" crossorigin\n", "\n")


@lru_cache(maxsize=1)
def graphiql_headers() -> dict[str, str]:
    """The page runs only its own scripts (the vendored files and its one inline script, by
    hash), talks only to this server, and is never framed (no clickjacking of an operator's
    signed-in IDE)."""
    inline = re.findall(r"<script>(.*?)</script>", graphiql_html(), re.S)
    hashes = " ".join(
        f"'sha256-{base64.b64encode(hashlib.sha256(s.encode()).digest()).decode()}'" for s in inline
    )
    policy = (
        f"default-src 'none'; script-src 'self' {hashes}; style-src 'self' 'unsafe-inline'; "
        "img-src 'self' data:; font-src 'self' data:; connect-src 'self'; "
        "frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
    )
    return {"Content-Security-Policy": policy, "X-Frame-Options": "DENY"}


async def serve_asset(request: Request) -> Response:
    name = request.path_params["name"]
    if name not in CDN_FILES.values():
        raise HTTPException(404)
    return FileResponse(ASSETS / name, headers={"Cache-Control": "public, max-age=86400"})
