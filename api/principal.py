"""Who is asking: one frozen Principal per request, built once from its token (pure).

GraphQL builds it in its context, the feeds and /metrics from their token; services take it
instead of an ``actor`` string and a ``by_customer`` flag, and ``api.policy`` answers its
questions about it. Which rows it sees is ``api.scoping.scoped``.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

__all__ = ["ANONYMOUS", "Principal", "Role"]


class Role(StrEnum):
    """A token's role (a member equals its stored string, ``ApiToken.role``)."""

    ADMIN = "admin"  # an operator
    CUSTOMER = "customer"
    AGENT = "agent"  # a host agent: its host and that host's VMs
    GUEST = "guest"  # a guest agent inside one VM


@dataclass(frozen=True)
class Principal:
    """The caller: its role (None without a token), the name the audit trail gives it, a
    customer's groups, an agent's host and a guest agent's machine (ids)."""

    role: Role | None
    name: str = "anonymous"
    groups: frozenset[int] = frozenset()
    host: int | None = None
    machine: int | None = None

    @property
    def actor(self) -> str:
        """Who the audit trail names for this caller's changes."""
        return self.name

    @property
    def is_operator(self) -> bool:
        return self.role is Role.ADMIN

    @classmethod
    def of(
        cls,
        role: str,
        name: str,
        groups: frozenset[int] = frozenset(),
        host: int | None = None,
        machine: int | None = None,
    ) -> Principal:
        """A token's principal: ``name`` is its actor name (``api.models.tokens.actor_name``)."""
        return cls(Role(role), name, groups, host, machine)


ANONYMOUS = Principal(None)
