"""Announcements and the package catalog."""

from __future__ import annotations

from datetime import datetime

import strawberry

from api.graphql.relay import Node, encode_id
from api.models import Announcement, PackageRelease

__all__ = ["AnnouncementType", "ImportResultType", "PackageReleaseType", "SiteStatusType"]


@strawberry.type(name="Announcement")
class AnnouncementType(Node):
    slug: str
    title: str
    body: str = strawberry.field(description="Markdown.")
    published_at: datetime | None = strawberry.field(description="null for a draft")

    @classmethod
    def from_model(cls, a: Announcement) -> AnnouncementType:
        return cls(
            id=encode_id("Announcement", a.id),
            slug=a.slug,
            title=a.title,
            body=a.body,
            published_at=a.published_at,
        )


@strawberry.type(name="PackageRelease")
class PackageReleaseType(Node):
    name: str
    version: str
    sha256: str
    released_at: datetime
    summary: str

    @classmethod
    def from_model(cls, p: PackageRelease) -> PackageReleaseType:
        return cls(
            id=encode_id("PackageRelease", p.id),
            name=p.name,
            version=p.version,
            sha256=p.sha256,
            released_at=p.released_at,
            summary=p.summary,
        )


@strawberry.type(name="ImportResult")
class ImportResultType:
    added: int
    unchanged: int = strawberry.field(description="rows the catalog held already, identical")


@strawberry.type(name="SiteStatus", description="The last build of the public notice site.")
class SiteStatusType:
    ok: bool
    finished_at: datetime
    seconds: float
    error: str = strawberry.field(description="the end of mkdocs' output when the build failed")
    built_at: datetime | None = strawberry.field(description="when the site now served was built")
