"""Rollout mutations (operators only): create, update (drafts), preview, announce, delay,
halt, resume, cancel, post an update, retry or skip a failed machine."""

from __future__ import annotations

from typing import Annotated

import strawberry

from api.graphql.catalog.types import AnnouncementType
from api.graphql.context import Info
from api.graphql.errors import NotFoundError, PermissionDeniedError, ValidationErrorType
from api.graphql.permissions import allow
from api.graphql.rollouts.inputs import (
    AnnounceRolloutInput,
    CancelRolloutInput,
    CreateRolloutInput,
    DelayRolloutInput,
    HaltRolloutInput,
    PostRolloutUpdateInput,
    PreviewRolloutInput,
    ResumeRolloutInput,
    RolloutMachineInput,
    UpdateRolloutInput,
    WaveInput,
)
from api.graphql.rollouts.types import RolloutPreviewType, RolloutType
from api.scheduling.waves import WaveSelector, WaveSpec
from api.services import rollout_changes as changes
from api.services import rollout_engine as engine
from api.services import rollout_machines as machines
from api.services import rollouts as service
from api.services.rollout_announce import announce_rollout

__all__ = ["RolloutMutations"]

RolloutPayload = Annotated[
    RolloutType | ValidationErrorType | NotFoundError | PermissionDeniedError,
    strawberry.union("RolloutPayload"),
]
RolloutUpdatePayload = Annotated[
    AnnouncementType | ValidationErrorType | NotFoundError | PermissionDeniedError,
    strawberry.union("RolloutUpdatePayload"),
]
RolloutPreviewPayload = Annotated[
    RolloutPreviewType | ValidationErrorType | NotFoundError | PermissionDeniedError,
    strawberry.union("RolloutPreviewPayload"),
]


def _specs(waves: list[WaveInput] | None) -> list[WaveSpec] | None:
    if waves is None:
        return None
    return [
        WaveSpec(
            w.name,
            WaveSelector(w.selector),
            w.starts_at,
            w.percent,
            w.failure_threshold,
            w.soak_minutes,
        )
        for w in waves
    ]


@strawberry.type
class RolloutMutations:
    @strawberry.mutation(
        extensions=allow("rollouts.write"),
        description="Operators: a draft rollout from the seed's template or explicit waves.",
    )
    async def create_rollout(self, info: Info, input: CreateRolloutInput) -> RolloutPayload:
        waves = _specs(input.waves)
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

    @strawberry.mutation(
        extensions=allow("rollouts.write"), description="Operators: change a draft rollout."
    )
    async def update_rollout(self, info: Info, input: UpdateRolloutInput) -> RolloutPayload:
        r = await service.get_rollout(input.name)
        r = await service.update_rollout(
            info.context.actor,
            r,
            title=input.title,
            body=input.body,
            target=input.target,
            kernel=input.kernel,
            waves=_specs(input.waves),
        )
        return RolloutType.from_model(r)

    @strawberry.mutation(
        extensions=allow("rollouts.write"),
        description="Operators: cancel what has not started, tell every affected group and "
        "the site, and move the rollout to delayed.",
    )
    async def delay_rollout(self, info: Info, input: DelayRolloutInput) -> RolloutPayload:
        r = await service.get_rollout(input.name)
        r = await changes.delay_rollout(
            info.context.actor, r, input.reason, settings=info.context.settings
        )
        return RolloutType.from_model(r)

    @strawberry.mutation(
        extensions=allow("rollouts.write"),
        description="Operators: without startsAt a halted rollout runs on (its halted wave "
        "again from now, later waves on their dates). With startsAt, a halted (its halted wave "
        "closed, what has not started cancelled and customers told) or delayed rollout takes "
        "new dates (at least the re-announcement notice away) for the waves not yet done; "
        "re-planned and announced again.",
    )
    async def resume_rollout(self, info: Info, input: ResumeRolloutInput) -> RolloutPayload:
        r = await service.get_rollout(input.name)
        r = await changes.resume_rollout(
            info.context.actor,
            r,
            list(input.starts_at),
            force=input.force,
            settings=info.context.settings,
        )
        return RolloutType.from_model(r)

    @strawberry.mutation(
        extensions=allow("rollouts.write"),
        description="Operators: halt a running rollout now: its running wave halts, no later "
        "wave starts, the operators are mailed.",
    )
    async def halt_rollout(self, info: Info, input: HaltRolloutInput) -> RolloutPayload:
        r = await service.get_rollout(input.name)
        r = await engine.halt_rollout(
            info.context.actor, r, input.reason, settings=info.context.settings
        )
        return RolloutType.from_model(r)

    @strawberry.mutation(
        extensions=allow("rollouts.write"),
        description="Operators: queue a new system update for a machine whose update failed, "
        "due at once while the rollout runs (a halted one: once resumed). When it succeeds, "
        "the machine's activation is booked again under its group's notice rules.",
    )
    async def retry_rollout_machine(self, info: Info, input: RolloutMachineInput) -> RolloutPayload:
        r = await service.get_rollout(input.name)
        await machines.retry_machine(info.context.actor, r, input.machine)
        return RolloutType.from_model(await service.get_rollout(input.name))

    @strawberry.mutation(
        extensions=allow("rollouts.write"),
        description="Operators: skip a machine whose update failed: it stays on its old "
        "packages without an activation, and its failure no longer counts against its "
        "wave's gate.",
    )
    async def skip_rollout_machine(self, info: Info, input: RolloutMachineInput) -> RolloutPayload:
        r = await service.get_rollout(input.name)
        await machines.skip_machine(info.context.actor, r, input.machine)
        return RolloutType.from_model(await service.get_rollout(input.name))

    @strawberry.mutation(
        extensions=allow("rollouts.write"),
        description="Operators: cancel everything not yet started and tell customers.",
    )
    async def cancel_rollout(self, info: Info, input: CancelRolloutInput) -> RolloutPayload:
        r = await service.get_rollout(input.name)
        r = await changes.cancel_rollout(info.context.actor, r, input.reason)
        return RolloutType.from_model(r)

    @strawberry.mutation(
        extensions=allow("rollouts.write"),
        description="Operators: a status update on the site, optionally mailed.",
    )
    async def post_rollout_update(
        self, info: Info, input: PostRolloutUpdateInput
    ) -> RolloutUpdatePayload:
        r = await service.get_rollout(input.name)
        a = await changes.post_update(
            info.context.actor, r, input.body, title=input.title, mail=input.mail
        )
        return AnnouncementType.from_model(a)
