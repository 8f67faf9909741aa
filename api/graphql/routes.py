"""Mounting: /graphql, and GraphiQL with its assets when settings.graphiql."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import BaseRoute, Route
from strawberry.asgi import GraphQL

from api.graphql.context import Context, build_context
from api.graphql.ide import graphiql_html, serve_asset
from api.graphql.schema import build_schema
from api.settings import Settings

__all__ = ["FensterGraphQL", "graphql_routes"]


class FensterGraphQL(GraphQL):  # type: ignore[type-arg]
    def __init__(self, settings: Settings) -> None:
        super().__init__(
            build_schema(settings.introspection),
            graphql_ide="graphiql" if settings.graphiql else None,
            allow_queries_via_get=False,
        )
        self.settings = settings

    async def get_context(self, request: Any, response: Any) -> Context:
        header = request.headers.get("authorization") if isinstance(request, Request) else None
        return await build_context(self.settings, header, request, response)

    async def render_graphql_ide(self, request: Request) -> Response:
        return HTMLResponse(graphiql_html())


def graphql_routes(settings: Settings) -> list[BaseRoute]:
    routes: list[BaseRoute] = [Route("/graphql", FensterGraphQL(settings))]
    if settings.graphiql:
        graphiql_html()  # fails here, at start-up, if an asset is not vendored
        routes.append(Route("/graphql/static/{name}", serve_asset))
    return routes
