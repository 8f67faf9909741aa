"""Inputs of the activity queries and mutations."""

from __future__ import annotations

from datetime import datetime

import strawberry
from strawberry.scalars import JSON

from api.graphql.enums import ActivityKind, ActivityState

__all__ = ["ActivityFilter", "CancelActivityInput", "QueueActivityInput"]


@strawberry.input
class ActivityFilter:
    machine: str | None = None
    group: str | None = None
    state: ActivityState | None = None
    kind: ActivityKind | None = None


@strawberry.input
class QueueActivityInput:
    machine: str
    kind: ActivityKind
    estimate_minutes: int | None = None
    not_before: datetime | None = None
    params: JSON | None = None


@strawberry.input
class CancelActivityInput:
    activity: strawberry.ID = strawberry.field(description="The activity's global ID.")
