"""GraphiQL, served from the vendored assets in static/graphiql (no CDN needed)."""

from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import FileResponse, Response
from strawberry.http.ides import get_graphql_ide_html

__all__ = ["ASSETS", "ASSET_PREFIX", "graphiql_html", "serve_asset"]

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
    return html.replace(" crossorigin\n", "\n")


async def serve_asset(request: Request) -> Response:
    name = request.path_params["name"]
    if name not in CDN_FILES.values():
        raise HTTPException(404)
    return FileResponse(ASSETS / name, headers={"Cache-Control": "public, max-age=86400"})
