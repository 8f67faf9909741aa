"""API tokens: create (the secret is shown once), authenticate, revoke."""

from __future__ import annotations

import hmac
from datetime import UTC, datetime

from tortoise.transactions import in_transaction

from api.errors import ValidationError
from api.models import ROLES, ApiToken, Machine, ResourceGroup
from api.models.tokens import MAX_NAME, actor_name, hash_secret, new_secret
from api.principal import ANONYMOUS, Principal
from api.rules import GUEST_MACHINE_KINDS, Collector
from api.services import audit

__all__ = [
    "MAX_GROUPS",
    "authenticate",
    "check_group_count",
    "create_token",
    "principal",
    "principal_of",
    "revoke_token",
]

MAX_GROUPS = 100  # groups one customer token is scoped to


def check_group_count(count: int) -> None:
    """Before the groups are looked up, one by one."""
    if count > MAX_GROUPS:
        raise ValidationError.single("groups", f"at most {MAX_GROUPS} groups for one token")


async def create_token(
    actor: str,
    *,
    name: str,
    role: str,
    groups: list[ResourceGroup] | None = None,
    host: Machine | None = None,
    machine: Machine | None = None,
) -> tuple[ApiToken, str]:
    """Create a token; returns it with its secret, which is never stored or shown again."""
    check_group_count(len(groups or []))
    c = Collector()  # every offending field at once
    if role not in ROLES:
        c.add("role", f"must be one of {', '.join(ROLES)}")
    if role == "customer" and not groups:
        c.add("groups", "a customer token needs at least one group")
    if role != "customer" and groups:
        c.add("groups", "only a customer token is scoped to groups")
    if role == "agent" and (host is None or host.kind != "host"):
        c.add("host", "an agent token needs the VM host it runs on")
    if role != "agent" and host is not None:
        c.add("host", "only an agent token is scoped to a host")
    if role == "guest" and (machine is None or machine.kind not in GUEST_MACHINE_KINDS):
        c.add("machine", "a guest token needs the VM (or infrastructure machine) it runs in")
    if role != "guest" and machine is not None:
        c.add("machine", "only a guest token is scoped to one machine")
    if not name or len(name) > MAX_NAME:
        c.add("name", f"give the token a name of 1 to {MAX_NAME} characters")
    c.raise_if_any()
    secret = new_secret()
    async with in_transaction() as conn:
        token = await ApiToken.create(
            name=name,
            role=role,
            prefix=secret[:12],
            secret_hash=hash_secret(secret),
            host=host,
            machine=machine,
            using_db=conn,
        )
        if groups:
            await token.groups.add(*groups, using_db=conn)
        await audit.record(
            actor,
            "token.create",
            token,
            {
                "role": role,
                "groups": [g.name for g in groups or []],
                "host": host.name if host else None,
                "machine": machine.name if machine else None,
            },
            connection=conn,
        )
    return token, secret


async def authenticate(secret: str | None) -> ApiToken | None:
    """The live token for ``secret``, or None. Looks up by hash, then compares in constant time."""
    if not secret or len(secret) > 200:
        return None
    digest = hash_secret(secret)
    token = await ApiToken.get_or_none(secret_hash=digest, revoked_at=None)
    if token is None or not hmac.compare_digest(token.secret_hash, digest):
        return None
    return token


async def principal_of(token: ApiToken | None) -> Principal:
    """The caller a live token stands for (a customer's groups read once); anonymous for None."""
    if token is None:
        return ANONYMOUS
    groups: frozenset[int] = frozenset()
    if token.role == "customer":
        groups = frozenset(i for (i,) in await token.groups.all().values_list("id"))
    return Principal.of(
        token.role,
        actor_name(token.role, token.name),
        groups,
        host=token.host_id,
        machine=token.machine_id,
    )


async def principal(secret: str | None) -> Principal:
    """The caller behind a bearer secret (anonymous when it is no live token's)."""
    return await principal_of(await authenticate(secret))


async def revoke_token(actor: str, token: ApiToken) -> ApiToken:
    if token.revoked_at is None:
        async with in_transaction() as conn:
            token.revoked_at = datetime.now(UTC)
            await token.save(using_db=conn, update_fields=["revoked_at"])
            await audit.record(actor, "token.revoke", token, connection=conn)
    return token
