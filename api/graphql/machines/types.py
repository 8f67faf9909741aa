"""Machine and its desired / observed configuration."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Annotated

import strawberry
from strawberry.types.info import Info

from api.graphql import permissions
from api.graphql.enums import Arch, MachineKind
from api.graphql.relay import Connection, Node, encode_id, paginate_list
from api.models import Machine

if TYPE_CHECKING:
    from api.graphql.activities.types import ActivityType
    from api.graphql.audit.types import AuditEventType
    from api.graphql.groups.types import GroupType
    from api.graphql.windows.types import WindowType

__all__ = ["DesiredConfigType", "MachineType", "ObservedConfigType"]

GroupRef = Annotated["GroupType", strawberry.lazy("api.graphql.groups.types")]
ActivityRef = Annotated["ActivityType", strawberry.lazy("api.graphql.activities.types")]
WindowRef = Annotated["WindowType", strawberry.lazy("api.graphql.windows.types")]
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
    desired: DesiredConfigType
    observed: ObservedConfigType
    created_at: datetime
    m: strawberry.Private[Machine]

    @classmethod
    def from_model(cls, m: Machine) -> MachineType:
        return cls(
            id=encode_id("Machine", m.id),
            name=m.name,
            kind=MachineKind(m.kind),
            arch=Arch(m.arch),
            cpu_model=m.cpu_model,
            auto_schedule=m.auto_schedule,
            representative=m.representative,
            redundancy=m.redundancy,
            capacity=m.capacity,
            monthly_price_eur=m.monthly_price_eur,
            desired=DesiredConfigType(
                cores=m.desired_cores,
                memory_mib=m.desired_memory_mib,
                swap_mib=m.desired_swap_mib,
                kernel=m.desired_kernel,
            ),
            observed=ObservedConfigType(
                cores=m.observed_cores,
                memory_mib=m.observed_memory_mib,
                swap_mib=m.observed_swap_mib,
                kernel=m.observed_kernel,
                state=m.observed_state,
                at=m.observed_at,
            ),
            created_at=m.created_at,
            m=m,
        )

    @strawberry.field
    async def group(self, info: Info) -> GroupRef | None:
        from api.graphql.groups.types import GroupType

        if not permissions.can_see_group(info.context, self.m.group_id):  # type: ignore[attr-defined]
            return None
        g = await info.context.loaders.group_by_id.load(self.m.group_id)  # type: ignore[attr-defined]
        return GroupType.from_model(g) if g is not None else None

    @strawberry.field(description="The VM host of a VM (null when not visible to this token).")
    async def host(self, info: Info) -> MachineType | None:
        host_id = self.m.host_id  # type: ignore[attr-defined]
        if host_id is None:
            return None
        host = await info.context.loaders.machine_by_id.load(host_id)
        if host is None or not permissions.can_see_machine(info.context, host):
            return None
        return MachineType.from_model(host)

    @strawberry.field(description="The VMs on a host (those visible to this token).")
    async def guests(self, info: Info) -> list[MachineType]:
        rows = await info.context.loaders.guests_by_host.load(self.m.id)
        return [
            MachineType.from_model(g) for g in rows if permissions.can_see_machine(info.context, g)
        ]

    @strawberry.field(description="Queued or scheduled activities.")
    async def open_activities(self, info: Info) -> list[ActivityRef]:
        from api.graphql.activities.types import ActivityType

        rows = await info.context.loaders.open_activities_by_machine.load(self.m.id)
        return [ActivityType.from_model(a) for a in rows]

    @strawberry.field(description="The next planned or running window.")
    async def next_window(self, info: Info) -> WindowRef | None:
        from api.graphql.windows.types import WindowType

        w = await info.context.loaders.next_window_by_machine.load(self.m.id)
        return WindowType.from_model(w) if w is not None else None

    @strawberry.field(description="Who changed this machine, newest last.")
    async def audit_trail(
        self, info: Info, first: int | None = None, after: str | None = None
    ) -> Connection[AuditRef]:
        from api.graphql.audit.types import AuditEventType

        rows = await info.context.loaders.audit_by_subject.load(("machine", self.m.id))
        return paginate_list(rows, first, after, AuditEventType.from_model)
