"""queueActivity, cancelActivity."""

from __future__ import annotations

import json
from typing import Annotated

import strawberry

from api.errors import ValidationError
from api.graphql import lookup, permissions
from api.graphql.activities.inputs import CancelActivityInput, QueueActivityInput
from api.graphql.activities.types import ActivityType
from api.graphql.context import Info
from api.graphql.errors import NotFoundError, PermissionDeniedError, ValidationErrorType
from api.graphql.windows import ops
from api.kinds import KINDS
from api.services import activities as activity_service

__all__ = ["MAX_PARAMS", "ActivityMutations"]

MAX_PARAMS = 4096

ActivityPayload = Annotated[
    ActivityType | ValidationErrorType | NotFoundError | PermissionDeniedError,
    strawberry.union("ActivityPayload"),
]


@strawberry.type
class ActivityMutations:
    @strawberry.mutation(
        extensions=permissions.allow("activities.queue"),
        description="Queue work; the scheduler gives it a window.",
    )
    async def queue_activity(self, info: Info, input: QueueActivityInput) -> ActivityPayload:
        if KINDS[input.kind].desired is not None:
            # their params are what the host agent applies: only changeDesired, which checks
            # them against the seed's limits (and the price), may queue them
            raise ValidationError.single(
                "kind", f"a {input.kind.value} follows the desired value: use changeDesired"
            )
        permissions.check_activity_kind(info.context, input.kind)
        ops.check_reach(info.context, {"not_before": input.not_before})
        machine = await lookup.machine(info.context, input.machine)
        activity = await activity_service.queue_activity(
            info.context.actor,
            machine,
            input.kind.value,
            estimate_minutes=input.estimate_minutes,
            params=_params(input.params),
            not_before=input.not_before,
        )
        return ActivityType.from_model(activity)

    @strawberry.mutation(extensions=permissions.allow("activities.cancel"))
    async def cancel_activity(self, info: Info, input: CancelActivityInput) -> ActivityPayload:
        activity = await lookup.activity(info.context, input.activity)
        activity = await ops.cancel_activity(info.context, activity)
        return ActivityType.from_model(activity)


def _params(value: object) -> dict[str, object] | None:
    if value is None:
        return None
    if not isinstance(value, dict):
        raise ValidationError.single("params", "must be a JSON object")
    if len(json.dumps(value)) > MAX_PARAMS:
        # stored with the activity and its audit event, shown in feeds and mail
        raise ValidationError.single("params", f"at most {MAX_PARAMS} characters of JSON")
    return value
