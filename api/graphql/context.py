"""The per-request context: settings, the caller (its Principal and token) and fresh DataLoaders
scoped to the caller."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, TypeAlias

from strawberry.types.info import Info as StrawberryInfo

from api.graphql.loaders import Loaders
from api.models import ApiToken
from api.principal import ANONYMOUS, Principal
from api.services import tokens
from api.settings import Settings

__all__ = ["Context", "Info", "bearer", "build_context"]


@dataclass
class Context:
    settings: Settings
    principal: Principal = ANONYMOUS  # who asks: built once per request from its token
    token: ApiToken | None = None
    request: Any = None
    response: Any = None
    loaders: Loaders = field(init=False)

    def __post_init__(self) -> None:
        self.loaders = Loaders(self.principal)  # every row a loader reads is scoped

    @property
    def actor(self) -> str:
        """Who the audit trail names for this request's changes."""
        return self.principal.actor


def bearer(header: str | None) -> str | None:
    """The secret of an ``Authorization: Bearer <secret>`` header, or None."""
    if not header:
        return None
    scheme, _, secret = header.partition(" ")
    if scheme.lower() != "bearer" or not secret.strip():
        return None
    return secret.strip()


async def build_context(
    settings: Settings, authorization: str | None, request: Any = None, response: Any = None
) -> Context:
    token = await tokens.authenticate(bearer(authorization))
    return Context(
        settings=settings,
        principal=await tokens.principal_of(token),
        token=token,
        request=request,
        response=response,
    )


# What resolvers receive: ``info.context`` typed as Context, so mypy checks every use of it.
Info: TypeAlias = StrawberryInfo[Context, None]
