"""The per-request context: settings, the authenticated token and fresh DataLoaders."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from api.graphql.loaders import Loaders
from api.models import ApiToken
from api.models.tokens import actor_name
from api.services import tokens
from api.settings import Settings

__all__ = ["Context", "bearer", "build_context"]


@dataclass
class Context:
    settings: Settings
    token: ApiToken | None = None
    group_ids: frozenset[int] = frozenset()  # a customer token's groups
    request: Any = None
    response: Any = None
    loaders: Loaders = field(default_factory=Loaders)

    @property
    def actor(self) -> str:
        """Who the audit trail names for this request's changes."""
        if self.token is None:
            return "anonymous"
        return actor_name(self.token.role, self.token.name)

    @property
    def host_id(self) -> int | None:
        """An agent token's host."""
        return self.token.host_id if self.token is not None else None

    @property
    def machine_id(self) -> int | None:
        """A guest token's machine."""
        return self.token.machine_id if self.token is not None else None


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
    group_ids: frozenset[int] = frozenset()
    if token is not None and token.role == "customer":
        group_ids = frozenset(i for (i,) in await token.groups.all().values_list("id"))
    return Context(
        settings=settings, token=token, group_ids=group_ids, request=request, response=response
    )
