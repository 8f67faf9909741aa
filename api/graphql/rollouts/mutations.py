"""createRollout, previewRollout, announceRollout (operators)."""

from __future__ import annotations

from typing import Annotated

import strawberry
from strawberry.types.info import Info

from api.graphql.errors import NotFoundError, PermissionDeniedError, ValidationErrorType
from api.graphql.permissions import allow
from api.graphql.rollouts.inputs import (
    AnnounceRolloutInput,
    CreateRolloutInput,
    PreviewRolloutInput,
)
from api.graphql.rollouts.types import RolloutPreviewType, RolloutType
from api.scheduling.waves import WaveSelector, WaveSpec
from api.services import rollouts as service
from api.services.rollout_announce import announce_rollout

__all__ = ["RolloutMutations"]

RolloutPayload = Annotated[
    RolloutType | ValidationErrorType | NotFoundError | PermissionDeniedError,
    strawberry.union("RolloutPayload"),
]
RolloutPreviewPayload = Annotated[
    RolloutPreviewType | ValidationErrorType | NotFoundError | PermissionDeniedError,
    strawberry.union("RolloutPreviewPayload"),
]


@strawberry.type
class RolloutMutations:
    @strawberry.mutation(
        extensions=allow("rollouts.write"),
        description="Operators: a draft rollout from the seed's template or explicit waves.",
    )
    async def create_rollout(self, info: Info, input: CreateRolloutInput) -> RolloutPayload:
        waves = (
            None
            if input.waves is None
            else [
                WaveSpec(
                    w.name,
                    WaveSelector(w.selector),
                    w.starts_at,
                    w.percent,
                    w.failure_threshold,
                    w.soak_minutes,
                )
                for w in input.waves
            ]
        )
        r = await service.create_rollout(
            info.context.actor,
            name=input.name,
            title=input.title,
            body=input.body,
            target=input.target,
            kernel=input.kernel,
            releases=[(x.name, x.version) for x in input.releases],
            waves=waves,
            week=input.week,
            settings=info.context.settings,
        )
        return RolloutType.from_model(r)

    @strawberry.mutation(
        extensions=allow("rollouts.write"),
        description="Operators: what announcing the rollout now would book and send. "
        "Nothing is written.",
    )
    async def preview_rollout(
        self, info: Info, input: PreviewRolloutInput
    ) -> RolloutPreviewPayload:
        r = await service.get_rollout(input.name)
        p = await service.preview_rollout(r, settings=info.context.settings)
        return RolloutPreviewType.from_data(service.preview_data(p))

    @strawberry.mutation(
        extensions=allow("rollouts.write"),
        description="Operators: book every window of the preview, move the draft to announced "
        "and queue the mail, in one transaction. Refused when a group's notice would break, "
        "unless forced.",
    )
    async def announce_rollout(self, info: Info, input: AnnounceRolloutInput) -> RolloutPayload:
        r = await service.get_rollout(input.name)
        r = await announce_rollout(
            info.context.actor, r, force=input.force, settings=info.context.settings
        )
        return RolloutType.from_model(r)
