"""reportInventory, startWindow, finishWindow, askGuestHook: the agents' writes."""

from __future__ import annotations

from typing import Annotated

import strawberry

from api.errors import PermissionDenied
from api.graphql.agents.inputs import FinishWindowInput, ReportInventoryInput, StartWindowInput
from api.graphql.agents.types import InventoryResultType, RejectedDomainType
from api.graphql.context import Info
from api.graphql.errors import NotFoundError, PermissionDeniedError, ValidationErrorType
from api.graphql.guests.inputs import AskGuestHookInput
from api.graphql.guests.types import GuestHookType, NoGuestAgentType
from api.graphql.permissions import allow
from api.graphql.relay import decode_id
from api.graphql.windows.types import WindowType
from api.models import HookPhase
from api.services import agents, guest_hooks, inventory

__all__ = ["AgentMutations"]

InventoryPayload = Annotated[
    InventoryResultType | ValidationErrorType | NotFoundError | PermissionDeniedError,
    strawberry.union("ReportInventoryPayload"),
]
WindowPayload = Annotated[
    WindowType | ValidationErrorType | NotFoundError | PermissionDeniedError,
    strawberry.union("AgentWindowPayload"),
]
AskHookPayload = Annotated[
    GuestHookType | NoGuestAgentType | ValidationErrorType | NotFoundError | PermissionDeniedError,
    strawberry.union("AskGuestHookPayload"),
]


def _host(info: Info) -> int:
    host_id = info.context.principal.host
    if host_id is None:
        raise PermissionDenied("this agent token has no host")
    return host_id


@strawberry.type
class AgentMutations:
    @strawberry.mutation(extensions=allow("agent"), description="Agents: observed values.")
    async def report_inventory(self, info: Info, input: ReportInventoryInput) -> InventoryPayload:
        outcome = await inventory.report_inventory(
            info.context.actor,
            _host(info),
            cpu_model=input.cpu_model,
            kernel=input.kernel,
            state=input.state,
            memory_mib=input.memory_mib,
            domains=[
                inventory.DomainReport(d.name, d.state, d.memory_mib, d.vcpus, d.kernel, d.cpu_mode)
                for d in input.domains
            ],
        )
        return InventoryResultType(
            updated=outcome.updated,
            unchanged=outcome.unchanged,
            unknown=outcome.unknown,
            missing=outcome.missing,
            rejected=[RejectedDomainType(name=n, reason=r) for n, r in outcome.rejected],
        )

    @strawberry.mutation(extensions=allow("agent"), description="Agents: begin a due window.")
    async def start_window(self, info: Info, input: StartWindowInput) -> WindowPayload:
        window = await agents.start_window(
            info.context.actor, _host(info), input.window, agent=input.agent
        )
        return WindowType.from_model(window)

    @strawberry.mutation(
        extensions=allow("agent"), description="Agents: the outcome and log of each activity."
    )
    async def finish_window(self, info: Info, input: FinishWindowInput) -> WindowPayload:
        results = [
            agents.ActivityResult(decode_id(r.activity, "Activity")[1], r.outcome.value, r.log)
            for r in input.results
        ]
        window = await agents.finish_window(
            info.context.actor,
            _host(info),
            input.window,
            results,
            agent=input.agent,
            guests_down=[agents.GuestDown(g.machine, g.reason) for g in input.guests_down],
            operators=info.context.settings.operator_list,
        )
        return WindowType.from_model(window)

    @strawberry.mutation(
        extensions=allow("agent"),
        description="Agents: ask a window's VM's guest agent to run its enter or leave hooks, "
        "or see its answer (again after not yet: asked again). NoGuestAgent: none runs.",
    )
    async def ask_guest_hook(self, info: Info, input: AskGuestHookInput) -> AskHookPayload:
        hook = await guest_hooks.ask(
            info.context.actor, _host(info), input.window, HookPhase(input.phase)
        )
        if hook is None:
            return NoGuestAgentType(window=input.window, message="no guest agent runs on the VM")
        return GuestHookType.from_model(hook)
