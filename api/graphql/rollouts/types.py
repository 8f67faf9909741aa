"""Rollout and its waves."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any

import strawberry
from tortoise.expressions import Subquery

from api.graphql.context import Info
from api.graphql.permissions import can_watch_rollouts
from api.graphql.relay import Connection, Node, encode_id, paginate
from api.models import (
    Activity,
    Announcement,
    AuditEvent,
    Machine,
    Rollout,
    RolloutMember,
    Wave,
    Window,
)
from api.scheduling.waves import WaveSelector
from api.scoping import scoped

if TYPE_CHECKING:
    from api.graphql.audit.types import AuditEventType
    from api.graphql.catalog.types import AnnouncementType
    from api.graphql.rollouts.progress import RolloutProgressType
    from api.graphql.windows.types import WindowType

__all__ = ["RolloutPreviewType", "RolloutType", "WaveSelectorEnum", "WaveType"]


@strawberry.type(name="Wave")
class WaveType:
    position: int
    name: str
    selector: str
    percent: int | None
    starts_at: datetime
    failure_threshold: float
    soak_minutes: int
    state: str

    @classmethod
    def from_model(cls, w: Wave) -> WaveType:
        return cls(
            position=w.position,
            name=w.name,
            selector=w.selector,
            percent=w.percent,
            starts_at=w.starts_at,
            failure_threshold=w.failure_threshold,
            soak_minutes=w.soak_minutes,
            state=w.state,
        )


@strawberry.type(name="Rollout", description="A staged system update.")
class RolloutType(Node):
    name: str
    title: str
    description: str
    target: str
    kernel: str
    state: str
    announced_at: datetime | None
    halted_reason: str | None
    created_at: datetime
    r: strawberry.Private[Rollout]

    @classmethod
    def from_model(cls, r: Rollout) -> RolloutType:
        return cls(
            id=encode_id("Rollout", r.id),
            name=r.name,
            title=r.title,
            description=r.description,
            target=r.target,
            kernel=r.kernel,
            state=r.state,
            announced_at=r.announced_at,
            halted_reason=r.halted_reason,
            created_at=r.created_at,
            r=r,
        )

    @strawberry.field
    async def waves(self, info: Info) -> list[WaveType]:
        rows = await info.context.loaders.waves_by_rollout.load(self.r.id)
        return [WaveType.from_model(w) for w in sorted(rows, key=lambda w: w.position)]

    @strawberry.field(description="Which wave each machine goes in (customers: theirs).")
    async def machines(
        self, info: Info, first: int | None = None, after: str | None = None
    ) -> Connection[RolloutMachineType]:
        qs = (
            RolloutMember.filter(
                rollout_id=self.r.id,
                machine_id__in=Subquery(scoped(Machine, info.context.principal).values("id")),
            )
            .prefetch_related("machine__group", "wave")
            .order_by("wave__position", "machine__name")
        )
        return await paginate(qs, first, after, RolloutMachineType.from_model)

    @strawberry.field(description="The windows booked for it (customers: their machines').")
    async def windows(
        self, info: Info, first: int | None = None, after: str | None = None
    ) -> Connection[Annotated[WindowType, strawberry.lazy("api.graphql.windows.types")]]:
        from api.graphql.windows.types import WindowType as Shown

        qs = (
            scoped(Window, info.context.principal)
            .filter(id__in=Subquery(Activity.filter(rollout_id=self.r.id).values("window_id")))
            .order_by("starts_at", "id")
        )
        return await paginate(qs, first, after, Shown.from_model)

    @strawberry.field(
        description="Machines whose system update failed, with the error (the last line of "
        "its log); they stay on their old packages and their activation is cancelled "
        "(customers: their machines')."
    )
    async def failed_machines(self, info: Info) -> list[FailedMachineType]:
        from api.services.rollout_engine import failed_updates

        mine = {
            str(n)
            for n in await scoped(Machine, info.context.principal).values_list("name", flat=True)
        }
        return [
            FailedMachineType(
                machine=f.machine,
                wave=f.wave,
                error=f.error,
                exit_code=f.exit_code,
                finished_at=f.finished_at,
            )
            for f in await failed_updates(self.r.id)
            if f.machine in mine
        ]

    @strawberry.field(description="Status updates and notices on the site, oldest first.")
    async def updates(
        self, info: Info
    ) -> list[Annotated[AnnouncementType, strawberry.lazy("api.graphql.catalog.types")]]:
        from api.graphql.catalog.types import AnnouncementType as Shown

        rows = (
            await scoped(Announcement, info.context.principal)
            .filter(rollout_id=self.r.id)
            .order_by("published_at", "id")
        )
        return [Shown.from_model(a) for a in rows]

    @strawberry.field(
        description="Operators: each wave's progress and gate verdict, and the next event "
        "(customers: null)."
    )
    async def progress(
        self, info: Info
    ) -> Annotated[RolloutProgressType, strawberry.lazy("api.graphql.rollouts.progress")] | None:
        from api.graphql.rollouts.progress import RolloutProgressType as Shown
        from api.services.rollout_progress import progress

        if not can_watch_rollouts(info.context):
            return None
        return Shown.from_value(await progress(self.r))

    @strawberry.field(description="Operators: the audit timeline (customers: empty).")
    async def timeline(
        self, info: Info
    ) -> list[Annotated[AuditEventType, strawberry.lazy("api.graphql.audit.types")]]:
        from api.graphql.audit.types import AuditEventType as Shown

        rows = (
            await scoped(AuditEvent, info.context.principal)
            .filter(subject_type="rollout", subject_id=self.r.id)
            .order_by("at", "id")
        )
        return [Shown.from_model(e) for e in rows]


@strawberry.type(name="FailedMachine")
class FailedMachineType:
    machine: str
    wave: str
    error: str
    exit_code: int | None
    finished_at: datetime | None


@strawberry.type(name="RolloutMachine")
class RolloutMachineType:
    machine: str
    group: str
    wave: int
    wave_name: str

    @classmethod
    def from_model(cls, m: RolloutMember) -> RolloutMachineType:
        return cls(
            machine=m.machine.name,
            group=m.machine.group.name,
            wave=m.wave.position,
            wave_name=m.wave.name,
        )


strawberry.enum(WaveSelector, name="WaveSelector")  # the domain's enum, in the schema
WaveSelectorEnum = WaveSelector


@strawberry.type(name="WavePreview")
class WavePreviewType:
    position: int
    name: str
    selector: WaveSelectorEnum
    percent: int | None
    starts_at: datetime
    starts_at_local: str = strawberry.field(description="in the operators' zone")
    machines: int
    per_group: list[CountType]
    per_host: list[CountType]


@strawberry.type(name="Count")
class CountType:
    name: str
    count: int


@strawberry.type(name="ActivationPreview")
class ActivationPreviewType:
    machine: str
    group: str
    wave: int
    starts_at: datetime | None
    ends_at: datetime | None
    reason: str


@strawberry.type(name="HostRebootPreview")
class HostRebootPreviewType:
    machine: str
    host: str
    group: str
    starts_at: datetime
    ends_at: datetime


@strawberry.type(name="RolloutConflict")
class RolloutConflictType:
    kind: str = strawberry.field(
        description="auto_schedule_off, no_window, freeze, notice or spread"
    )
    group: str
    machines: list[str]
    reason: str


@strawberry.type(name="LoadPreview")
class LoadPreviewType:
    host: str
    day: str = strawberry.field(description="a date in the operators' zone")
    vms: int


@strawberry.type(name="RolloutPreview", description="What announcing would book; nothing written.")
class RolloutPreviewType:
    rollout: str
    operators_zone: str
    waves: list[WavePreviewType]
    activations: list[ActivationPreviewType]
    host_reboots: list[HostRebootPreviewType]
    conflicts: list[RolloutConflictType]
    late_groups: list[str] = strawberry.field(
        description="groups whose notice an announcement now would break"
    )
    load: list[LoadPreviewType]

    @classmethod
    def from_data(cls, d: dict[str, Any]) -> RolloutPreviewType:
        """From ``api.services.rollouts.preview_data`` (what the CLI's --json prints)."""

        def counts(m: dict[str, int]) -> list[CountType]:
            return [CountType(name=k, count=v) for k, v in m.items()]

        return cls(
            rollout=d["rollout"],
            operators_zone=d["operatorsZone"],
            waves=[
                WavePreviewType(
                    position=w["position"],
                    name=w["name"],
                    selector=WaveSelector(w["selector"]),
                    percent=w["percent"],
                    starts_at=datetime.fromisoformat(w["startsAt"]),
                    starts_at_local=w["startsAtLocal"],
                    machines=w["machines"],
                    per_group=counts(w["perGroup"]),
                    per_host=counts(w["perHost"]),
                )
                for w in d["waves"]
            ],
            activations=[
                ActivationPreviewType(
                    machine=a["machine"],
                    group=a["group"],
                    wave=a["wave"],
                    starts_at=_instant(a["startsAt"]),
                    ends_at=_instant(a["endsAt"]),
                    reason=a["reason"],
                )
                for a in d["activations"]
            ],
            host_reboots=[
                HostRebootPreviewType(
                    machine=h["machine"],
                    host=h["host"],
                    group=h["group"],
                    starts_at=datetime.fromisoformat(h["startsAt"]),
                    ends_at=datetime.fromisoformat(h["endsAt"]),
                )
                for h in d["hostReboots"]
            ],
            conflicts=[
                RolloutConflictType(
                    kind=c["kind"], group=c["group"], machines=c["machines"], reason=c["reason"]
                )
                for c in d["conflicts"]
            ],
            late_groups=d["lateGroups"],
            load=[LoadPreviewType(host=x["host"], day=x["day"], vms=x["vms"]) for x in d["load"]],
        )


def _instant(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text) if text else None
