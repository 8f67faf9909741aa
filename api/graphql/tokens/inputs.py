"""Inputs of the token mutations."""

from __future__ import annotations

import strawberry

from api.graphql.enums import Role

__all__ = ["CreateTokenInput", "RevokeTokenInput"]


@strawberry.input
class CreateTokenInput:
    name: str
    role: Role
    groups: list[str] = strawberry.field(default_factory=list, description="customer tokens")
    host: str | None = strawberry.field(default=None, description="agent tokens: the VM host")
    machine: str | None = strawberry.field(
        default=None, description="guest tokens: the VM whose guest agent uses it"
    )


@strawberry.input
class RevokeTokenInput:
    token: strawberry.ID
