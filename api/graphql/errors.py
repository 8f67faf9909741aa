"""Typed errors in the schema, and the one place that maps api.errors exceptions onto them.

Mutations return a union of their result and these types. Query fields have no union, so the
same exceptions reach the client as GraphQL errors whose ``extensions`` carry a ``code`` (and,
for validation, every offending field): see :func:`public_error`.
"""

from __future__ import annotations

import re
from typing import Any

import strawberry
from graphql import GraphQLError, VariableDefinitionNode
from strawberry.types.field import StrawberryField

from api import errors
from api.db_errors import is_outage
from api.graphql.context import Info

__all__ = [
    "EXCEPTION_HANDLERS",
    "FieldErrorType",
    "NotFoundError",
    "PermissionDeniedError",
    "ValidationErrorType",
    "camel",
    "describes_request",
    "public_error",
    "to_union_member",
]

_SNAKE = re.compile(r"_([a-z0-9])")


def camel(field: str) -> str:
    """'window_minutes' -> 'windowMinutes' (index suffixes such as '[2]' are kept)."""
    return _SNAKE.sub(lambda m: m.group(1).upper(), field)


@strawberry.type(name="FieldError", description="One refused value and why.")
class FieldErrorType:
    field: str
    message: str


@strawberry.type(name="ValidationError", description="Values were refused; nothing was written.")
class ValidationErrorType:
    message: str
    fields: list[FieldErrorType]


@strawberry.type(name="NotFound", description="The named object does not exist (or is not yours).")
class NotFoundError:
    message: str
    object_type: str = strawberry.field(description="What was looked for: machine, window, ...")
    key: str


@strawberry.type(name="PermissionDenied", description="This token may not do this.")
class PermissionDeniedError:
    message: str


def _validation(exc: errors.ValidationError) -> ValidationErrorType:
    fields = [FieldErrorType(field=camel(e.field), message=e.message) for e in exc.errors]
    return ValidationErrorType(
        message="; ".join(f"{f.field}: {f.message}" for f in fields), fields=fields
    )


def to_union_member(exc: errors.FensterError) -> Any:
    """The schema type for an expected failure (illegal moves and conflicts read as validation)."""
    if isinstance(exc, errors.ValidationError):
        return _validation(exc)
    if isinstance(exc, errors.NotFound):
        return NotFoundError(message=str(exc), object_type=exc.kind, key=str(exc.key))
    if isinstance(exc, errors.PermissionDenied):
        return PermissionDeniedError(message=str(exc))
    if isinstance(exc, errors.IllegalTransition):
        return _validation(errors.ValidationError.single("state", str(exc)))
    return _validation(errors.ValidationError.single("input", str(exc)))


class _ValidationHandler(strawberry.ExceptionHandler[errors.FensterError, ValidationErrorType]):
    """Validation, illegal transitions and conflicts all surface as ValidationError."""

    def handle(self, exception: errors.FensterError, *, field: StrawberryField, info: Info) -> Any:
        member = to_union_member(exception)
        return member if isinstance(member, ValidationErrorType) else None


class _NotFoundHandler(strawberry.ExceptionHandler[errors.NotFound, NotFoundError]):
    def handle(self, exception: errors.NotFound, *, field: StrawberryField, info: Info) -> Any:
        return to_union_member(exception)


class _DeniedHandler(strawberry.ExceptionHandler[errors.PermissionDenied, PermissionDeniedError]):
    def handle(
        self, exception: errors.PermissionDenied, *, field: StrawberryField, info: Info
    ) -> Any:
        return to_union_member(exception)


EXCEPTION_HANDLERS = (_NotFoundHandler(), _DeniedHandler(), _ValidationHandler())


def describes_request(error: GraphQLError) -> bool:
    """Is this an error in the request rather than the server: found by validation (no
    underlying exception), or a variable's value refused on coercion (a wrong type, an integer
    overflow, an unknown enum value or input field, 2027-02-30, null in [String!]), which
    graphql-core reports at the variable's definition. Written inline, the same values are
    refused by validation; variables get the same answer."""
    if error.original_error is None:
        return True
    nodes = error.nodes or []
    return bool(nodes) and all(isinstance(n, VariableDefinitionNode) for n in nodes)


def public_error(error: GraphQLError) -> GraphQLError | None:
    """The client-facing form of an error from a query field, or None to mask it."""
    original = error.original_error
    if describes_request(error):
        # Raised on purpose (a GraphQLError) or found by validation: syntax, unknown fields,
        # depth / alias / token limits. Their text describes the query, not the server.
        ext = dict(error.extensions or {})
        ext.setdefault("code", "BAD_QUERY")
        return GraphQLError(
            error.message,
            nodes=error.nodes,
            source=error.source,
            positions=error.positions,
            path=error.path,
            extensions=ext,
        )
    if original is not None and is_outage(original):
        return GraphQLError(
            "The database is unavailable; try again shortly.",
            nodes=error.nodes,
            source=error.source,
            positions=error.positions,
            path=error.path,
            extensions={"code": "UNAVAILABLE"},
        )
    if isinstance(original, errors.FensterError):
        member = to_union_member(original)
        typed: dict[str, Any] = {"code": type(member).__strawberry_definition__.name}
        if isinstance(member, ValidationErrorType):
            typed["fields"] = [{"field": f.field, "message": f.message} for f in member.fields]
        return GraphQLError(
            member.message,
            nodes=error.nodes,
            source=error.source,
            positions=error.positions,
            path=error.path,
            extensions=typed,
        )
    return None
