"""API tokens (never their secrets, except once on creation) and `me`."""

from __future__ import annotations

from datetime import datetime

import strawberry

from api.graphql.enums import Role
from api.graphql.relay import Node, encode_id
from api.models import ApiToken

__all__ = ["CreatedTokenType", "MeType", "TokenType"]


@strawberry.type(
    name="Token",
    description="An API token (never its secret, but once in createToken). Not found by "
    "node(id): only createToken and revokeToken answer with one; revokeToken takes its id.",
)
class TokenType(Node):
    name: str
    role: Role
    prefix: str = strawberry.field(description="The first characters of the secret.")
    groups: list[str]
    host: str | None
    machine: str | None = strawberry.field(description="guest tokens: the VM")
    created_at: datetime
    revoked_at: datetime | None

    @classmethod
    def from_model(
        cls, t: ApiToken, groups: list[str], host: str | None, machine: str | None = None
    ) -> TokenType:
        return cls(
            id=encode_id("Token", t.id),
            name=t.name,
            role=Role(t.role),
            prefix=t.prefix,
            groups=groups,
            host=host,
            machine=machine,
            created_at=t.created_at,
            revoked_at=t.revoked_at,
        )


@strawberry.type(name="CreatedToken")
class CreatedTokenType:
    token: TokenType
    secret: str = strawberry.field(description="Shown this once; only its hash is stored.")


@strawberry.type(name="Me", description="The token this request was made with.")
class MeType:
    name: str
    role: Role
    groups: list[str]
    host: str | None
    machine: str | None = strawberry.field(
        default=None, description="A guest token's VM (its guest agent's machine)."
    )
