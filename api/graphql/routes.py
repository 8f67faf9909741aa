"""Mounting: /graphql (and GraphiQL when settings.graphiql)."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.routing import BaseRoute, Route
from strawberry.asgi import GraphQL

from api.graphql.context import Context, build_context
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


def graphql_routes(settings: Settings) -> list[BaseRoute]:
    return [Route("/graphql", FensterGraphQL(settings), methods=["GET", "POST"])]
