"""What the agents' calls answer."""

from __future__ import annotations

import strawberry

__all__ = ["InventoryResultType"]


@strawberry.type(name="InventoryResult")
class InventoryResultType:
    updated: list[str] = strawberry.field(description="Machines whose observed values changed.")
    unchanged: list[str]
    unknown: list[str] = strawberry.field(description="Domains that are not this host's VMs.")
