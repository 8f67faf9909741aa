"""announcements, packages."""

from __future__ import annotations

from datetime import datetime

import strawberry
from tortoise.expressions import Case, When

from api.graphql.catalog.types import AnnouncementType, PackageReleaseType, SiteStatusType
from api.graphql.context import Info
from api.graphql.permissions import allow
from api.graphql.relay import Connection, paginate
from api.models import Announcement, PackageRelease
from api.models.keys import where
from api.rules import common_timezones
from api.scoping import scoped
from api.services import site

__all__ = ["CatalogQueries"]


@strawberry.type
class CatalogQueries:
    @strawberry.field(
        extensions=allow("read"),
        description="Published announcements, newest first; operators see drafts too.",
    )
    async def announcements(
        self, info: Info, first: int | None = None, after: str | None = None
    ) -> Connection[AnnouncementType]:
        # Published first, newest first, then drafts (NULLs sort differently per database).
        qs = (
            scoped(Announcement, info.context.principal)
            .annotate(draft=Case(When(published_at__isnull=True, then="1"), default="0"))
            .order_by("draft", "-published_at", "-id")
        )
        return await paginate(qs, first, after, AnnouncementType.from_model)

    @strawberry.field(
        extensions=allow("site.status"),
        description="Operators: the last build of the public notice site (null before any).",
    )
    def site_status(self, info: Info) -> SiteStatusType | None:
        found = site.status(info.context.settings)
        if found is None:
            return None
        return SiteStatusType(
            ok=found.ok,
            finished_at=datetime.fromisoformat(found.finished_at),
            seconds=found.seconds,
            error=found.error,
            built_at=datetime.fromisoformat(found.built_at) if found.built_at else None,
        )

    @strawberry.field(
        extensions=allow("read"),
        description="IANA timezone names to offer for a group (pytz's common zones); any "
        "name of the tz database is accepted.",
    )
    def timezones(self) -> list[str]:
        return common_timezones()

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
