"""Inputs of the agents' calls."""

from __future__ import annotations

import strawberry

from api.graphql.enums import Outcome

__all__ = [
    "ActivityResultInput",
    "DomainInput",
    "FinishWindowInput",
    "GuestDownInput",
    "ReportInventoryInput",
    "StartWindowInput",
]


@strawberry.input(description="One libvirt domain as the host agent sees it.")
class DomainInput:
    name: str
    state: str
    memory_mib: int
    vcpus: int
    kernel: str | None = None
    cpu_mode: str | None = strawberry.field(
        default=None,
        description="The CPU mode of its definition (host-model, host-passthrough, custom).",
    )


@strawberry.input
class ReportInventoryInput:
    cpu_model: str | None = None
    kernel: str | None = strawberry.field(default=None, description="The host's own kernel.")
    state: str | None = None
    memory_mib: int | None = strawberry.field(
        default=None, description="The host's own memory (bounds its VMs' desired memory)."
    )
    domains: list[DomainInput] = strawberry.field(default_factory=list)


@strawberry.input
class StartWindowInput:
    window: str = strawberry.field(description="The window's uid (from dueWork).")
    agent: str | None = strawberry.field(
        default=None,
        description="The calling agent's identity: the first agent to start a window claims "
        "it; another agent is refused, the same one may start it again.",
    )


@strawberry.input
class ActivityResultInput:
    activity: strawberry.ID
    outcome: Outcome
    log: str = ""


@strawberry.input(
    description="A guest that ran before the window and that the agent could not start again."
)
class GuestDownInput:
    machine: str = strawberry.field(description="The guest's name (a VM of this host).")
    reason: str = strawberry.field(description="Why it did not start (libvirt's error).")


@strawberry.input
class FinishWindowInput:
    window: str
    results: list[ActivityResultInput]
    agent: str | None = strawberry.field(
        default=None, description="The calling agent's identity (see startWindow)."
    )
    guests_down: list[GuestDownInput] = strawberry.field(
        default_factory=list,
        description="Guests left down: the window is flagged (guestDownSince) and the "
        "operators are mailed at once.",
    )
