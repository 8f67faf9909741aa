"""The GraphQL API (Strawberry), mounted at /graphql.

Public face: ``api.graphql.routes.graphql_routes(settings)`` (what the app mounts) and
``api.graphql.schema.schema`` / ``build_schema`` (SDL export, tests). Inside: one package per
area (types, inputs, queries, mutations), per-request DataLoaders (loaders.py), one table of
access rules (permissions.py), typed errors and their mapping (errors.py). Resolvers read
through loaders and write through api.services; nothing here touches the database otherwise.
"""

__all__: list[str] = []
