"""Machine and its desired / observed configuration."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any

import strawberry

from api.graphql import permissions
from api.graphql.context import Info
from api.graphql.enums import Arch, GuestFlag, MachineKind
from api.graphql.loaders import cached_or_load
from api.graphql.relay import Connection, Node, encode_id, paginate_list
from api.models import Machine
from api.rules import guest_warnings, monthly_price_eur

if TYPE_CHECKING:
    from api.graphql.activities.types import ActivityType
    from api.graphql.audit.types import AuditEventType
    from api.graphql.groups.types import GroupType
    from api.graphql.windows.types import WindowType

__all__ = ["DesiredConfigType", "GuestWarningType", "MachineType", "ObservedConfigType"]

GroupRef = Annotated["GroupType", strawberry.lazy("api.graphql.groups.types")]
ActivityRef = Annotated["ActivityType", strawberry.lazy("api.graphql.activities.types")]
WindowRef = Annotated["WindowType", strawberry.lazy("api.graphql.windows.types")]
MachineSelf = Annotated["MachineType", strawberry.lazy("api.graphql.machines.types")]
AuditRef = Annotated["AuditEventType", strawberry.lazy("api.graphql.audit.types")]


@strawberry.type(name="DesiredConfig", description="What the machine should have.")
class DesiredConfigType:
    cores: int
    memory_mib: int
    swap_mib: int
    kernel: str | None


@strawberry.type(name="ObservedConfig", description="What its agent last reported.")
class ObservedConfigType:
    cores: int | None
    memory_mib: int | None
    swap_mib: int | None
    kernel: str | None
    state: str | None
    at: datetime | None
    guest_kernel: str | None = strawberry.field(
        description="The kernel its guest agent sees running (`uname -r`); `kernel` is the "
        "one the host agent reads from the VM's definition."
    )
    guest_cpu_model: str | None = strawberry.field(
        description="The CPU model its guest agent sees inside the VM (the host's physical "
        "one, as the seed promises, or a mismatch operators see in guestWarnings)."
    )
    guest_reported_at: datetime | None = strawberry.field(
        description="When its guest agent last reported (kernel, swap, CPU model)."
    )
    cpu_mode: str | None = strawberry.field(
        default=None,
        description="The CPU mode of a VM's definition as its host agent reads it "
        "(host-model or host-passthrough show the guest the host's CPU; custom does not).",
    )


@strawberry.type(
    name="GuestWarning", description="A promise the guest agent's report shows broken."
)
class GuestWarningType:
    flag: GuestFlag
    message: str


@strawberry.type(name="Machine", description="Infrastructure, a VM host or a VM.")
class MachineType(Node):
    name: str
    kind: MachineKind
    arch: Arch
    cpu_model: str | None
    auto_schedule: bool
    representative: bool
    redundancy: str | None
    capacity: int
    monthly_price_eur: int
    created_at: datetime
    v: strawberry.Private[dict[str, Any]]
    pk: strawberry.Private[int]
    group_id: strawberry.Private[int]
    host_id: strawberry.Private[int | None]

    @classmethod
    def from_model(cls, m: Machine) -> MachineType:
        return cls.from_values(m.__dict__)

    @classmethod
    def from_values(cls, v: dict[str, Any]) -> MachineType:
        """From a model's attributes or a ``values()`` row (the fast path for long lists)."""
        kind = v["kind"]
        return cls(
            id=encode_id("Machine", v["id"]),
            name=v["name"],
            kind=MachineKind(kind),
            arch=Arch(v["arch"]),
            cpu_model=v["cpu_model"],
            auto_schedule=v["auto_schedule"],
            representative=v["representative"],
            redundancy=v["redundancy"],
            capacity=v["capacity"],
            monthly_price_eur=monthly_price_eur(kind, v["desired_cores"]),
            v=v,
            created_at=v["created_at"],
            pk=v["id"],
            group_id=v["group_id"],
            host_id=v["host_id"],
        )

    @strawberry.field
    def desired(self) -> DesiredConfigType:
        v = self.v
        return DesiredConfigType(
            cores=v["desired_cores"],
            memory_mib=v["desired_memory_mib"],
            swap_mib=v["desired_swap_mib"],
            kernel=v["desired_kernel"],
        )

    @strawberry.field(description="What its agent last reported.")
    def observed(self) -> ObservedConfigType:
        v = self.v
        return ObservedConfigType(
            cores=v["observed_cores"],
            memory_mib=v["observed_memory_mib"],
            swap_mib=v["observed_swap_mib"],
            kernel=v["observed_kernel"],
            state=v["observed_state"],
            at=v["observed_at"],
            cpu_mode=v.get("observed_cpu_mode"),
            guest_kernel=v["guest_kernel"],
            guest_cpu_model=v["guest_cpu_model"],
            guest_reported_at=v["guest_reported_at"],
        )

    @strawberry.field(
        description="Operators: swap below the 1 GiB minimum, or a guest CPU model other than "
        "its host's physical one (null for other tokens)."
    )
    async def guest_warnings(self, info: Info) -> list[GuestWarningType] | None:
        if not permissions.can_see_guest_warnings(info.context):
            return None
        v = self.v
        host_cpu = None
        if self.host_id is not None and v["guest_cpu_model"] is not None:
            host = await info.context.loaders.machine_by_id.load(self.host_id)
            host_cpu = host.cpu_model if host is not None else None
        return [
            GuestWarningType(flag=w.flag, message=w.message)
            for w in guest_warnings(
                swap_mib=v["observed_swap_mib"],
                guest_cpu_model=v["guest_cpu_model"],
                host_cpu_model=host_cpu,
            )
        ]

    @strawberry.field(graphql_type=GroupRef | None)
    def group(self, info: Info) -> Any:
        from api.graphql.groups.types import GroupType

        return cached_or_load(info.context.loaders.group_by_id, self.group_id, GroupType.from_model)

    @strawberry.field(
        graphql_type=MachineSelf | None,
        description="The VM host of a VM (null when not visible to this token).",
    )
    def host(self, info: Info) -> Any:
        if self.host_id is None:
            return None
        ctx = info.context

        def wrap(host: Machine) -> MachineType:
            return ctx.loaders.wrapped(("Machine", host.id), lambda: MachineType.from_model(host))

        return cached_or_load(ctx.loaders.machine_by_id, self.host_id, wrap)

    @strawberry.field(description="The VMs on a host (those visible to this token).")
    async def guests(self, info: Info) -> list[MachineType]:
        rows = await info.context.loaders.guests_by_host.load(self.pk)
        return [MachineType.from_model(g) for g in rows]

    @strawberry.field(description="Queued or scheduled activities.")
    async def open_activities(self, info: Info) -> list[ActivityRef]:
        from api.graphql.activities.types import ActivityType

        rows = await info.context.loaders.open_activities_by_machine.load(self.pk)
        return [ActivityType.from_model(a) for a in rows]

    @strawberry.field(description="The next planned or running window.")
    async def next_window(self, info: Info) -> WindowRef | None:
        from api.graphql.windows.types import WindowType

        w = await info.context.loaders.next_window_by_machine.load(self.pk)
        return WindowType.from_model(w) if w is not None else None

    @strawberry.field(description="Who changed this machine, newest last.")
    async def audit_trail(
        self, info: Info, first: int | None = None, after: str | None = None
    ) -> Connection[AuditRef]:
        from api.graphql.audit.types import AuditEventType

        rows = await info.context.loaders.audit_by_subject.load(("machine", self.pk))
        return paginate_list(rows, first, after, AuditEventType.from_model)
