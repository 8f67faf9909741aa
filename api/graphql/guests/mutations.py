"""startGuestUpdate, reportGuestUpdate: the guest agents' writes."""

from __future__ import annotations

from typing import Annotated

import strawberry

from api.errors import PermissionDenied
from api.graphql.activities.types import ActivityType
from api.graphql.context import Info
from api.graphql.errors import NotFoundError, PermissionDeniedError, ValidationErrorType
from api.graphql.guests.inputs import (
    AnswerGuestHookInput,
    GuestFactsInput,
    ReportGuestUpdateInput,
    StartGuestUpdateInput,
)
from api.graphql.guests.types import GuestHookType
from api.graphql.machines.types import MachineType
from api.graphql.permissions import allow
from api.graphql.relay import decode_id
from api.models import HookPhase
from api.policy import guest_machine
from api.services import guest_hooks, guests

__all__ = ["GuestMutations"]

GuestPayload = Annotated[
    ActivityType | ValidationErrorType | NotFoundError | PermissionDeniedError,
    strawberry.union("GuestUpdatePayload"),
]
GuestHookPayload = Annotated[
    GuestHookType | ValidationErrorType | NotFoundError | PermissionDeniedError,
    strawberry.union("GuestHookPayload"),
]
GuestFactsPayload = Annotated[
    MachineType | ValidationErrorType | NotFoundError | PermissionDeniedError,
    strawberry.union("GuestFactsPayload"),
]


def _facts(f: GuestFactsInput) -> guests.GuestFacts:
    return guests.GuestFacts(kernel=f.kernel, swap_mib=f.swap_mib, cpu_model=f.cpu_model)


def _machine(info: Info) -> int:
    machine_id = guest_machine(info.context.principal)
    if machine_id is None:
        raise PermissionDenied("this guest token has no machine")
    return machine_id


@strawberry.type
class GuestMutations:
    @strawberry.mutation(
        extensions=allow("guest"),
        description="Guest agents: begin a due update (again: a no-op while it runs).",
    )
    async def start_guest_update(self, info: Info, input: StartGuestUpdateInput) -> GuestPayload:
        activity = await guests.start_update(
            info.context.actor, _machine(info), decode_id(input.activity, "Activity")[1]
        )
        return ActivityType.from_model(activity)

    @strawberry.mutation(
        extensions=allow("guest"),
        description="Guest agents: an update's outcome, exit code, log tail and changed "
        "packages, with the machine's facts. The same report again changes nothing.",
    )
    async def report_guest_update(self, info: Info, input: ReportGuestUpdateInput) -> GuestPayload:
        f = input.facts
        report = guests.GuestReport(
            activity_id=decode_id(input.activity, "Activity")[1],
            outcome=input.outcome.value,
            exit_code=input.exit_code,
            log=input.log,
            packages=tuple(input.packages),
            facts=_facts(f),
        )
        activity = await guests.report_update(info.context.actor, _machine(info), report)
        return ActivityType.from_model(activity)

    @strawberry.mutation(
        extensions=allow("guest"),
        description="Guest agents: the guest's facts without an update (on start-up and "
        "periodically); it also says the guest agent runs.",
    )
    async def report_guest_facts(self, info: Info, input: GuestFactsInput) -> GuestFactsPayload:
        machine = await guests.report_facts(info.context.actor, _machine(info), _facts(input))
        return MachineType.from_model(machine)

    @strawberry.mutation(
        extensions=allow("guest"),
        description="Guest agents: what the enter or leave hooks said to one ask. The same "
        "answer again changes nothing.",
    )
    async def answer_guest_hook(self, info: Info, input: AnswerGuestHookInput) -> GuestHookPayload:
        reply = guest_hooks.HookAnswer(input.reply, input.reason, _facts(input.facts))
        hook = await guest_hooks.answer(
            info.context.actor,
            _machine(info),
            input.window,
            HookPhase(input.phase),
            input.asks,
            reply,
        )
        return GuestHookType.from_model(hook)
