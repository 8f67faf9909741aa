"""API tokens: only a hash of the secret is stored."""

from __future__ import annotations

import hashlib
import secrets
from typing import TYPE_CHECKING

from tortoise import fields
from tortoise.models import Model

if TYPE_CHECKING:
    from api.models.groups import ResourceGroup
    from api.models.machines import Machine

__all__ = ["MAX_NAME", "ROLES", "ApiToken", "actor_name", "hash_secret", "new_secret"]

ROLES = ("admin", "customer", "agent", "guest")
SECRET_PREFIX = "fst_"
# The audit trail and activities name a token's changes "<role>:<name>" in a column of this
# many characters; a token's name leaves room for the longest role.
ACTOR_MAX_LENGTH = 100
MAX_NAME = ACTOR_MAX_LENGTH - max(len(role) + 1 for role in ROLES)


def actor_name(role: str, name: str) -> str:
    """How the audit trail names a token: 'customer:acme ops'. A name from before the cap
    (up to 100 characters) is cut to fit, its last character an ellipsis."""
    actor = f"{role}:{name}"
    if len(actor) > ACTOR_MAX_LENGTH:
        return actor[: ACTOR_MAX_LENGTH - 1] + "…"
    return actor


def new_secret() -> str:
    return SECRET_PREFIX + secrets.token_urlsafe(32)


def hash_secret(secret: str) -> str:
    # The secret has 256 random bits: a plain SHA-256 is enough (no dictionary to guard against).
    return hashlib.sha256(secret.encode()).hexdigest()


class ApiToken(Model):
    id = fields.IntField(primary_key=True)
    name = fields.CharField(max_length=100)  # at most MAX_NAME through the service
    role = fields.CharField(max_length=16)
    prefix = fields.CharField(max_length=12)
    secret_hash = fields.CharField(max_length=64, unique=True)
    groups: fields.ManyToManyRelation[ResourceGroup] = fields.ManyToManyField(
        "fenster.ResourceGroup", related_name="api_tokens", through="api_token_group"
    )
    host: fields.ForeignKeyNullableRelation[Machine] = fields.ForeignKeyField(
        "fenster.Machine",
        db_index=True,
        related_name="api_tokens",
        null=True,
        on_delete=fields.CASCADE,
    )
    host_id: int | None
    # a guest token: the one machine (a VM) whose guest agent it is
    machine: fields.ForeignKeyNullableRelation[Machine] = fields.ForeignKeyField(
        "fenster.Machine",
        db_index=True,
        related_name="guest_tokens",
        null=True,
        on_delete=fields.CASCADE,
    )
    machine_id: int | None
    created_at = fields.DatetimeField(auto_now_add=True)
    revoked_at = fields.DatetimeField(null=True)
    last_used_at = fields.DatetimeField(null=True)

    class Meta:
        table = "api_token"
        ordering = ["id"]
