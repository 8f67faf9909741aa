"""createToken (the secret is shown once), revokeToken."""

from __future__ import annotations

from typing import Annotated

import strawberry

from api.errors import NotFound
from api.graphql.context import Info
from api.graphql.errors import NotFoundError, PermissionDeniedError, ValidationErrorType
from api.graphql.permissions import allow
from api.graphql.relay import decode_id
from api.graphql.tokens.inputs import CreateTokenInput, RevokeTokenInput
from api.graphql.tokens.types import CreatedTokenType, TokenType
from api.models import ApiToken, Machine, ResourceGroup
from api.models.keys import where
from api.services import tokens as token_service

__all__ = ["TokenMutations"]

CreateTokenPayload = Annotated[
    CreatedTokenType | ValidationErrorType | NotFoundError | PermissionDeniedError,
    strawberry.union("CreateTokenPayload"),
]
TokenPayload = Annotated[
    TokenType | ValidationErrorType | NotFoundError | PermissionDeniedError,
    strawberry.union("RevokeTokenPayload"),
]


async def _name(machine_id: int | None) -> str | None:
    if machine_id is None:
        return None
    row = await Machine.filter(id=machine_id).first().values_list("name")
    return row[0] if row else None


async def _describe(token: ApiToken) -> TokenType:
    groups: list[str] = [n for (n,) in await token.groups.all().values_list("name")]
    return TokenType.from_model(
        token, sorted(groups), await _name(token.host_id), await _name(token.machine_id)
    )


@strawberry.type
class TokenMutations:
    @strawberry.mutation(extensions=allow("tokens.create"), description="Operators.")
    async def create_token(self, info: Info, input: CreateTokenInput) -> CreateTokenPayload:
        token_service.check_group_count(len(input.groups))
        groups = []
        for name in input.groups:
            group = await where(ResourceGroup.all(), name=name).first()
            if group is None:
                raise NotFound("resource group", name)
            groups.append(group)
        host = None
        if input.host is not None:
            host = await where(Machine.all(), name=input.host).first()
            if host is None:
                raise NotFound("machine", input.host)
        machine = None
        if input.machine is not None:
            machine = await where(Machine.all(), name=input.machine).first()
            if machine is None:
                raise NotFound("machine", input.machine)
        token, secret = await token_service.create_token(
            info.context.actor,
            name=input.name,
            role=input.role.value,
            groups=groups,
            host=host,
            machine=machine,
        )
        return CreatedTokenType(token=await _describe(token), secret=secret)

    @strawberry.mutation(extensions=allow("tokens.revoke"), description="Operators.")
    async def revoke_token(self, info: Info, input: RevokeTokenInput) -> TokenPayload:
        _, pk = decode_id(input.token, "Token")
        token = await ApiToken.get_or_none(id=pk)
        if token is None:
            raise NotFound("token", input.token)
        token = await token_service.revoke_token(info.context.actor, token)
        return await _describe(token)
