"""createAnnouncement, updateAnnouncement, publishAnnouncement, importPackages (operators)."""

from __future__ import annotations

from typing import Annotated

import strawberry

from api.graphql.catalog.inputs import (
    CreateAnnouncementInput,
    ImportPackagesInput,
    PublishAnnouncementInput,
    UpdateAnnouncementInput,
)
from api.graphql.catalog.types import AnnouncementType, ImportResultType
from api.graphql.context import Info
from api.graphql.errors import NotFoundError, PermissionDeniedError, ValidationErrorType
from api.graphql.permissions import allow
from api.services import announcements as service
from api.services import catalog

__all__ = ["CatalogMutations"]

AnnouncementPayload = Annotated[
    AnnouncementType | ValidationErrorType | NotFoundError | PermissionDeniedError,
    strawberry.union("AnnouncementPayload"),
]
ImportPackagesPayload = Annotated[
    ImportResultType | ValidationErrorType | NotFoundError | PermissionDeniedError,
    strawberry.union("ImportPackagesPayload"),
]


@strawberry.type
class CatalogMutations:
    @strawberry.mutation(
        extensions=allow("announcements.write"), description="Operators: a new draft."
    )
    async def create_announcement(
        self, info: Info, input: CreateAnnouncementInput
    ) -> AnnouncementPayload:
        a = await service.create_announcement(
            info.context.actor,
            slug=input.slug,
            title=input.title,
            body=input.body,
            rollout=input.rollout,
        )
        return AnnouncementType.from_model(a)

    @strawberry.mutation(
        extensions=allow("announcements.write"),
        description="Operators: change a draft or a published announcement (no mail).",
    )
    async def update_announcement(
        self, info: Info, input: UpdateAnnouncementInput
    ) -> AnnouncementPayload:
        a = await service.get_announcement(input.slug)
        a = await service.update_announcement(
            info.context.actor, a, title=input.title, body=input.body, rollout=input.rollout
        )
        return AnnouncementType.from_model(a)

    @strawberry.mutation(
        extensions=allow("announcements.write"),
        description="Operators: publish a draft on the site and feed, and mail it to groups.",
    )
    async def publish_announcement(
        self, info: Info, input: PublishAnnouncementInput
    ) -> AnnouncementPayload:
        a = await service.get_announcement(input.slug)
        groups = list(input.groups) if input.groups is not None else None
        a = await service.publish_announcement(info.context.actor, a, groups=groups)
        return AnnouncementType.from_model(a)

    @strawberry.mutation(
        extensions=allow("catalog.import"),
        description="Operators: add a release to the package catalog, all rows or none.",
    )
    async def import_packages(
        self, info: Info, input: ImportPackagesInput
    ) -> ImportPackagesPayload:
        rows = [catalog.PackageRow(p.name, p.version, p.sha256, p.notes) for p in input.packages]
        result = await catalog.import_packages(
            info.context.actor, rows, released_at=input.released_at
        )
        return ImportResultType(added=result.added, unchanged=result.unchanged)
