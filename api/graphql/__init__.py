"""The GraphQL API (Strawberry), mounted at /graphql.

Public face: ``api.graphql.routes.graphql_routes(settings)`` (what the app mounts) and
``api.graphql.schema.schema`` / ``build_schema`` (SDL export, tests). Inside: one package per
area (types, inputs, queries, mutations), per-request DataLoaders (loaders.py), one table of
access rules (permissions.py), typed errors and their mapping (errors.py). Resolvers read
relations through the loaders and rows through the scoped querysets of permissions.py (the
operator-only mutations look names up directly); every write goes through api.services.
"""

__all__: list[str] = []
