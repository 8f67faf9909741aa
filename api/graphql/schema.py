"""The schema: root types from each area, error mapping and the guards against hostile queries."""

from __future__ import annotations

import contextlib
import logging
import re
from collections.abc import Iterator
from functools import lru_cache
from typing import Any

import strawberry
from graphql import GraphQLError
from graphql.error import GraphQLSyntaxError
from strawberry.extensions import (
    AddValidationRules,
    MaskErrors,
    MaxAliasesLimiter,
    MaxTokensLimiter,
    ParserCache,
    QueryDepthLimiter,
    ValidationCache,
)
from strawberry.extensions.disable_introspection import DisableIntrospection

from api.db_errors import is_outage
from api.errors import FensterError
from api.graphql.activities.mutations import ActivityMutations
from api.graphql.activities.queries import ActivityQueries
from api.graphql.agents.mutations import AgentMutations
from api.graphql.agents.queries import AgentQueries
from api.graphql.audit.queries import AuditQueries
from api.graphql.catalog.mutations import CatalogMutations
from api.graphql.catalog.queries import CatalogQueries
from api.graphql.cost import QueryCost
from api.graphql.errors import EXCEPTION_HANDLERS, describes_request, public_error
from api.graphql.groups.mutations import GroupMutations
from api.graphql.groups.queries import GroupQueries
from api.graphql.guests.mutations import GuestMutations
from api.graphql.guests.queries import GuestQueries
from api.graphql.machines.mutations import MachineMutations
from api.graphql.machines.queries import MachineQueries
from api.graphql.node import NodeQueries
from api.graphql.rollouts.mutations import RolloutMutations
from api.graphql.rollouts.queries import RolloutQueries
from api.graphql.tokens.mutations import TokenMutations
from api.graphql.tokens.queries import TokenQueries
from api.graphql.windows.mutations import WindowMutations
from api.graphql.windows.queries import WindowQueries
from api.metrics import GraphQLMetrics

__all__ = ["MAX_ALIASES", "MAX_DEPTH", "MAX_TOKENS", "Mutation", "Query", "build_schema", "schema"]

log = logging.getLogger(__name__)

MAX_DEPTH = 12
MAX_ALIASES = 15
MAX_TOKENS = 2000
# Agents send the same few documents on every poll: parsing and validating each text once
# saves most of a small request's cost. The caches are bounded (least recently used out), so
# a client sending ever new texts only evicts, never grows memory.
DOCUMENT_CACHE_SIZE = 256


@strawberry.type
class Query(
    TokenQueries,
    GroupQueries,
    MachineQueries,
    WindowQueries,
    ActivityQueries,
    RolloutQueries,
    CatalogQueries,
    AuditQueries,
    AgentQueries,
    GuestQueries,
    NodeQueries,
):
    pass


@strawberry.type
class Mutation(
    GroupMutations,
    MachineMutations,
    ActivityMutations,
    WindowMutations,
    TokenMutations,
    AgentMutations,
    GuestMutations,
    RolloutMutations,
    CatalogMutations,
):
    pass


class DocumentCache(ParserCache):
    """Strawberry's parser cache, except that a text which does not parse (a syntax error,
    over the token limit) is left to Strawberry's own parse step: raised from this hook, the
    error would bypass the error masking and reach the client without its ``code``."""

    def on_parse(self) -> Iterator[None]:
        with contextlib.suppress(GraphQLSyntaxError):
            ctx = self.execution_context
            ctx.graphql_document = self.cached_parse_document(ctx.query, **ctx.parse_options)
        yield


class PublicErrors(MaskErrors):
    """Domain errors keep their (user-facing) message and gain a ``code``; everything else
    becomes "Unexpected error." so no internal exception text reaches a client."""

    def _process_errors(self, errors: list[GraphQLError]) -> list[GraphQLError]:
        out = []
        for error in errors:
            public = public_error(error)
            out.append(public if public is not None else self.anonymise_error(error))
        return out

    def anonymise_error(self, error: GraphQLError) -> GraphQLError:
        return GraphQLError(
            self.error_message,
            nodes=error.nodes,
            source=error.source,
            positions=error.positions,
            path=error.path,
            extensions={"code": "INTERNAL"},
        )


_SUGGESTION = re.compile(r" ?Did you mean [^?]*\?")


class PublicErrorsWithoutSuggestions(PublicErrors):
    """With introspection off, "Did you mean 'auditEvents'?" would list the schema's names one
    guess at a time: the hint goes, the refusal stays."""

    def _process_errors(self, errors: list[GraphQLError]) -> list[GraphQLError]:
        out = super()._process_errors(errors)
        for error in out:
            error.message = _SUGGESTION.sub("", error.message)
        return out


class FensterSchema(strawberry.Schema):
    """Logs only the errors that are bugs. Expected failures, and a client's malformed or
    refused query (a GraphQLError without an underlying exception), are the client's business
    and would only flood an operator's log."""

    def process_errors(self, errors: list[GraphQLError], execution_context: Any = None) -> None:
        outage = [e for e in errors if e.original_error and is_outage(e.original_error)]
        if outage:  # one line, not a traceback each: the database is away, nothing is broken
            log.warning("database unavailable: %s", outage[0].original_error)
        unexpected = [
            e
            for e in errors
            if not describes_request(e)
            and not isinstance(e.original_error, FensterError)
            and e not in outage
        ]
        if unexpected:
            super().process_errors(unexpected, execution_context)


@lru_cache(maxsize=4)
def build_schema(introspection: bool = True) -> FensterSchema:
    # The limiters build a new rule class per instance; build them once so that the
    # validation cache sees the same rules on every request (its key includes them).
    rules = [
        *QueryDepthLimiter(max_depth=MAX_DEPTH).validation_rules,
        *MaxAliasesLimiter(max_alias_count=MAX_ALIASES).validation_rules,
    ]
    extensions: list[object] = [
        GraphQLMetrics,  # first: it times the whole operation, refusals included
        PublicErrors if introspection else PublicErrorsWithoutSuggestions,
        lambda: MaxTokensLimiter(max_token_count=MAX_TOKENS),  # a parse option, not a rule
        lambda: DocumentCache(maxsize=DOCUMENT_CACHE_SIZE),
        lambda: AddValidationRules(rules),
        lambda: ValidationCache(maxsize=DOCUMENT_CACHE_SIZE),
        QueryCost,
    ]
    if not introspection:
        extensions.append(DisableIntrospection)
    return FensterSchema(
        query=Query,
        mutation=Mutation,
        extensions=extensions,  # type: ignore[arg-type]
        exception_handlers=EXCEPTION_HANDLERS,
    )


schema = build_schema()
