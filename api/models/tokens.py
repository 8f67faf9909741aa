"""API tokens: only a hash of the secret is stored."""

from __future__ import annotations

import hashlib
import secrets

from tortoise import fields
from tortoise.models import Model

__all__ = ["ROLES", "ApiToken", "hash_secret", "new_secret"]

ROLES = ("admin", "customer", "agent")
SECRET_PREFIX = "fst_"


def new_secret() -> str:
    return SECRET_PREFIX + secrets.token_urlsafe(32)


def hash_secret(secret: str) -> str:
    # The secret has 256 random bits: a plain SHA-256 is enough (no dictionary to guard against).
    return hashlib.sha256(secret.encode()).hexdigest()


class ApiToken(Model):
    id = fields.IntField(primary_key=True)
    name = fields.CharField(max_length=100)
    role = fields.CharField(max_length=16)
    prefix = fields.CharField(max_length=12)
    secret_hash = fields.CharField(max_length=64, unique=True)
    groups = fields.ManyToManyField(
        "fenster.ResourceGroup", related_name="api_tokens", through="api_token_group"
    )
    host = fields.ForeignKeyField(
        "fenster.Machine", related_name="api_tokens", null=True, on_delete=fields.CASCADE
    )
    created_at = fields.DatetimeField(auto_now_add=True)
    revoked_at = fields.DatetimeField(null=True)
    last_used_at = fields.DatetimeField(null=True)

    class Meta:
        table = "api_token"
        ordering = ["id"]
