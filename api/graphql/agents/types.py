"""What the agents' calls answer."""

from __future__ import annotations

import strawberry

__all__ = ["InventoryResultType", "RejectedDomainType"]


@strawberry.type(name="RejectedDomain")
class RejectedDomainType:
    name: str
    reason: str = strawberry.field(description="Why this domain's report was not taken.")


@strawberry.type(name="InventoryResult")
class InventoryResultType:
    updated: list[str] = strawberry.field(description="Machines whose observed values changed.")
    unchanged: list[str]
    unknown: list[str] = strawberry.field(description="Domains that are not this host's VMs.")
    missing: list[str] = strawberry.field(
        description="This host's VMs that the report does not name (marked missing)."
    )
    rejected: list[RejectedDomainType] = strawberry.field(
        description="Domains whose report was refused; the others were recorded."
    )
