"""Machines: infrastructure, VM hosts and the VMs placed on them."""

from __future__ import annotations

from typing import TYPE_CHECKING

from tortoise import fields

from api import rules
from api.models.base import TimestampedModel

if TYPE_CHECKING:
    from api.models.groups import ResourceGroup

__all__ = ["Machine"]


class Machine(TimestampedModel):
    id = fields.IntField(primary_key=True)
    name = fields.CharField(max_length=63, unique=True)
    kind = fields.CharField(max_length=16, default="vm")  # infrastructure | host | vm
    group: fields.ForeignKeyRelation[ResourceGroup] = fields.ForeignKeyField(
        "fenster.ResourceGroup", db_index=True, related_name="machines", on_delete=fields.RESTRICT
    )
    group_id: int
    host: fields.ForeignKeyNullableRelation[Machine] = fields.ForeignKeyField(
        "fenster.Machine",
        db_index=True,
        related_name="guests",
        null=True,
        on_delete=fields.RESTRICT,
    )
    host_id: int | None
    arch = fields.CharField(max_length=8, default="x86_64")
    desired_cores = fields.IntField(default=1)
    desired_memory_mib = fields.IntField(default=2048)
    desired_swap_mib = fields.IntField(default=1024)
    desired_kernel = fields.CharField(max_length=64, null=True)
    observed_cores = fields.IntField(null=True)
    observed_memory_mib = fields.IntField(null=True)
    observed_swap_mib = fields.IntField(null=True)
    observed_kernel = fields.CharField(max_length=64, null=True)
    observed_state = fields.CharField(max_length=32, null=True)
    # the CPU mode of a VM's definition as its host agent reads it (host-model, custom, ...)
    observed_cpu_mode = fields.CharField(max_length=32, null=True)
    observed_at = fields.DatetimeField(null=True)
    cpu_model = fields.CharField(max_length=200, null=True)  # a host's physical CPU
    # what the machine's guest agent last reported from inside (with the observed swap): its
    # running kernel (`uname -r`; observed_kernel is the host agent's, from the definition)
    guest_kernel = fields.CharField(max_length=64, null=True)
    guest_cpu_model = fields.CharField(max_length=200, null=True)
    guest_reported_at = fields.DatetimeField(null=True)
    auto_schedule = fields.BooleanField(default=True)
    representative = fields.BooleanField(default=False)
    redundancy = fields.CharField(max_length=63, null=True)
    capacity = fields.IntField(default=2)

    class Meta:
        table = "machine"
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def check_rules(
        self, host_kind: str | None = None, memory_cap: tuple[int, str] | None = None
    ) -> None:
        rules.check_machine(
            name=self.name,
            kind=self.kind,
            arch=self.arch,
            cores=self.desired_cores,
            memory_mib=self.desired_memory_mib,
            swap_mib=self.desired_swap_mib,
            has_host=self.host_id is not None,
            host_kind=host_kind,
            memory_cap=memory_cap,
        )

    @property
    def monthly_price_eur(self) -> int:
        return rules.monthly_price_eur(self.kind, self.desired_cores)
