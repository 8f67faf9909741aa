"""Mounting: /graphql, and GraphiQL with its assets when settings.graphiql."""

from __future__ import annotations

import json
import logging
from typing import Any

from cross_web import HTTPException
from starlette.requests import ClientDisconnect, Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import BaseRoute, Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from strawberry.asgi import GraphQL
from strawberry.http.parse_content_type import parse_content_type

from api.graphql.context import Context, build_context
from api.graphql.ide import graphiql_headers, graphiql_html, serve_asset
from api.graphql.schema import build_schema
from api.settings import Settings

__all__ = [
    "MAX_BODY_BYTES",
    "MAX_JSON_DEPTH",
    "MAX_LIST_ITEMS",
    "MAX_OBJECT_FIELDS",
    "MAX_QUERY_CHARS",
    "FensterGraphQL",
    "graphql_routes",
]

log = logging.getLogger(__name__)

# Inputs are small; an agent's finishWindow with its logs is the largest honest request.
MAX_BODY_BYTES = 1024 * 1024

# A request body nests a few levels (variables, input, a list, params); far deeper nesting
# would only exhaust Python's recursion somewhere later and fail as an internal error.
MAX_JSON_DEPTH = 64
# No list in a request holds more: refused before graphql-core coerces the variables (that
# held the event loop 0.3 s for 20,000 contacts). Lists with a smaller maximum check it where
# their rule lives; a package import (importPackages.packages) has this one alone.
MAX_LIST_ITEMS = 2000
# No input type has more than a few dozen fields: an object with 50,000 unknown fields held
# the loop 1.4 s (graphql-core looks for a suggestion for each), as many unused variables 0.5 s.
MAX_OBJECT_FIELDS = 200

# graphql-core lexes a query character by character: 1 MB of text (a long comment, or long
# strings written inline) held the event loop 0.5 s even when the token limit refused it.
# Honest queries are a few kB; large values belong in variables.
MAX_QUERY_CHARS = 32 * 1024
TOO_DEEP = f"Request body nested more than {MAX_JSON_DEPTH} levels deep"
TOO_LONG = (
    f"Request body holds a list of more than {MAX_LIST_ITEMS} items, more than any input takes"
)
TOO_WIDE = (
    f"Request body holds an object of more than {MAX_OBJECT_FIELDS} fields, more than any input has"
)
TOO_LONG_QUERY = (
    f"Query text longer than {MAX_QUERY_CHARS} characters; pass large values as variables"
)
NOT_UTF8 = "Request body must be JSON encoded as UTF-8"
NOT_AN_OBJECT = 'Request body must be a JSON object such as {"query": "{ me { name } }"}'


def _misshapen(value: object) -> str | None:
    """Why a decoded body cannot be a request: nested too deep, a list too long, or an object
    too wide."""
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if depth > MAX_JSON_DEPTH:
            return TOO_DEEP
        if isinstance(item, dict):
            if len(item) > MAX_OBJECT_FIELDS:
                return TOO_WIDE
            stack.extend((v, depth + 1) for v in item.values())
        elif isinstance(item, list):
            if len(item) > MAX_LIST_ITEMS and depth > 1:  # a batch (top level) is refused later
                return TOO_LONG
            stack.extend((v, depth + 1) for v in item)
    return None


class FensterGraphQL(GraphQL[Context, None]):
    def __init__(self, settings: Settings) -> None:
        super().__init__(
            build_schema(settings.introspection),
            graphql_ide="graphiql" if settings.graphiql else None,
            allow_queries_via_get=False,
        )
        self.settings = settings

    async def parse_http_body(self, request: Any) -> Any:
        """Only UTF-8 (RFC 8259): a body declared in another charset is refused, not guessed."""
        if request.method == "POST":
            _, params = parse_content_type(request.content_type or "")
            charset = params.get("charset", "utf-8").lower()
            if charset not in ("utf-8", "utf8"):
                raise HTTPException(400, NOT_UTF8)
        return await super().parse_http_body(request)

    def decode_json(self, data: str | bytes) -> object:
        try:
            text = data.decode("utf-8") if isinstance(data, bytes) else data
            value = json.loads(text)
        except UnicodeDecodeError:
            raise HTTPException(400, NOT_UTF8) from None
        except RecursionError:
            raise HTTPException(400, TOO_DEEP) from None
        if not isinstance(value, dict | list):  # a list is a batch, refused as such later
            raise HTTPException(400, NOT_AN_OBJECT)
        query = value.get("query") if isinstance(value, dict) else None
        if isinstance(query, str) and len(query) > MAX_QUERY_CHARS:
            raise HTTPException(400, TOO_LONG_QUERY)
        problem = _misshapen(value)
        if problem:
            raise HTTPException(400, problem)
        return value

    async def get_context(self, request: Any, response: Any) -> Context:
        header = request.headers.get("authorization") if isinstance(request, Request) else None
        return await build_context(self.settings, header, request, response)

    async def render_graphql_ide(self, request: Request) -> Response:
        return HTMLResponse(graphiql_html(), headers=graphiql_headers())


class LimitBody:
    """Refuse request bodies over ``limit`` bytes with 413, before they are read into memory:
    by the declared Content-Length, and by counting what actually arrives."""

    def __init__(self, app: ASGIApp, limit: int = MAX_BODY_BYTES) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers") or []).get(b"content-length", b"0")
        if not declared.isdigit() or int(declared) > self.limit:
            await self._refuse(send)
            return
        seen = 0

        async def counted() -> Message:
            nonlocal seen
            message = await receive()
            seen += len(message.get("body", b""))
            if seen > self.limit:
                raise _TooLarge
            return message

        try:
            await self.app(scope, counted, send)
        except _TooLarge:
            await self._refuse(send)
        except ClientDisconnect:  # nobody is left to answer; not a fault of the server
            log.info(
                "client disconnected before its request arrived: %s %s",
                scope.get("method"),
                scope.get("path"),
            )

    async def _refuse(self, send: Send) -> None:
        body = f"Request body larger than {self.limit} bytes".encode()
        await send(
            {
                "type": "http.response.start",
                "status": 413,
                "headers": [(b"content-type", b"text/plain; charset=utf-8")],
            }
        )
        await send({"type": "http.response.body", "body": body})


class _TooLarge(Exception):
    pass


def graphql_routes(settings: Settings) -> list[BaseRoute]:
    routes: list[BaseRoute] = [Route("/graphql", LimitBody(FensterGraphQL(settings)))]
    if settings.graphiql:
        graphiql_html()  # fails here, at start-up, if an asset is not vendored
        routes.append(Route("/graphql/static/{name}", serve_asset))
    return routes
