"""createGroup, updateGroupPolicy, rotateFeedToken."""

from __future__ import annotations

from typing import Annotated, Any

import strawberry
from tortoise.transactions import in_transaction

from api import policy
from api.errors import FieldError, PermissionDenied, ValidationError
from api.feeds.urls import feed_url
from api.graphql import lookup
from api.graphql.context import Info
from api.graphql.errors import NotFoundError, PermissionDeniedError, ValidationErrorType
from api.graphql.groups.inputs import CreateGroupInput, RotateFeedTokenInput, UpdatePolicyInput
from api.graphql.groups.types import FeedUrlType, GroupType
from api.graphql.permissions import allow
from api.graphql.windows.ops import check_reach
from api.services import freezes as freeze_service
from api.services import groups as group_service

__all__ = ["GroupMutations"]

GroupPayload = Annotated[
    GroupType | ValidationErrorType | NotFoundError | PermissionDeniedError,
    strawberry.union("GroupPayload"),
]
FeedPayload = Annotated[
    FeedUrlType | ValidationErrorType | NotFoundError | PermissionDeniedError,
    strawberry.union("RotateFeedTokenPayload"),
]
POLICY = (
    "title",
    "contacts",
    "timezone",
    "window_start",
    "window_minutes",
    "weekdays",
    "notice_minutes",
    "reminder_minutes",
    "max_postpones",
)


@strawberry.type
class GroupMutations:
    @strawberry.mutation(extensions=allow("groups.create"), description="Operators.")
    async def create_group(self, info: Info, input: CreateGroupInput) -> GroupPayload:
        group = await group_service.create_group(
            info.context.actor,
            name=input.name,
            title=input.title,
            contacts=list(input.contacts),
            timezone=input.timezone,
            window_start=input.window_start,
            window_minutes=input.window_minutes,
            weekdays=list(input.weekdays),
            notice_minutes=input.notice_minutes,
        )
        return GroupType.from_model(group)

    @strawberry.mutation(extensions=allow("groups.update"))
    async def update_group_policy(self, info: Info, input: UpdatePolicyInput) -> GroupPayload:
        group = await lookup.group(info.context, input.group)
        changes: dict[str, Any] = {}
        nulls: list[FieldError] = []
        for name in POLICY:
            value = getattr(input, name)
            if value is strawberry.UNSET:
                continue
            if value is None:
                nulls.append(FieldError(name, "cannot be null; leave it out to keep it"))
            changes[name] = list(value) if isinstance(value, list) else value
        if (
            "max_postpones" in changes
            and changes["max_postpones"] != group.max_postpones
            and not policy.may_set_max_postpones(info.context.principal)
        ):
            # the limit protects the provider's plan; a customer may not lift it
            raise PermissionDenied("only operators change how often a window may be postponed")
        # every offending field at once: nulls, policy and freezes
        found = list(nulls)
        if changes and not nulls:
            try:
                group_service.check_policy(group, **changes)
            except ValidationError as exc:
                found.extend(exc.errors)
        periods = None
        if input.freezes is not strawberry.UNSET:
            periods = [
                freeze_service.Period(f.starts_at, f.ends_at, f.reason) for f in input.freezes or []
            ]
            ends = {f"freezes[{i}].ends_at": p.ends_at for i, p in enumerate(periods)}
            try:
                freeze_service.check_periods(periods)
                check_reach(info.context, ends, customer_horizon=False)  # once each is a period
            except ValidationError as exc:
                found.extend(exc.errors)
        if found:
            raise ValidationError(found)
        async with in_transaction():  # policy and freezes change together or not at all
            if changes:
                group = await group_service.update_policy(info.context.actor, group, **changes)
            if periods is not None:
                await freeze_service.replace_freezes(info.context.actor, group, periods)
        return GroupType.from_model(group)

    @strawberry.mutation(
        extensions=allow("groups.rotate_feed_token"),
        description="A new feed address; the old one stops working at once.",
    )
    async def rotate_feed_token(self, info: Info, input: RotateFeedTokenInput) -> FeedPayload:
        group = await lookup.group(info.context, input.group)
        await group_service.rotate_feed_token(info.context.actor, group)
        urls = feed_url(info.context.settings, group)
        return FeedUrlType(https=urls.https, webcal=urls.webcal)
