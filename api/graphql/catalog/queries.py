"""announcements, packages."""

from __future__ import annotations

import strawberry
from strawberry.types.info import Info

from api.graphql.catalog.types import AnnouncementType, PackageReleaseType
from api.graphql.permissions import allow
from api.graphql.relay import Connection, paginate
from api.models import Announcement, PackageRelease
from api.models.keys import where

__all__ = ["CatalogQueries"]


@strawberry.type
class CatalogQueries:
    @strawberry.field(
        extensions=allow("read"), description="Published announcements, newest first."
    )
    async def announcements(
        self, info: Info, first: int | None = None, after: str | None = None
    ) -> Connection[AnnouncementType]:
        qs = Announcement.filter(published_at__not_isnull=True).order_by("-published_at", "-id")
        return await paginate(qs, first, after, AnnouncementType.from_model)

    @strawberry.field(extensions=allow("read"), description="Released package versions.")
    async def packages(
        self,
        info: Info,
        name: str | None = None,
        first: int | None = None,
        after: str | None = None,
    ) -> Connection[PackageReleaseType]:
        qs = PackageRelease.all()
        if name is not None:
            qs = where(qs, name=name)
        return await paginate(
            qs.order_by("name", "version", "id"), first, after, PackageReleaseType.from_model
        )
