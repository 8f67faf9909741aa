"""Announcements and the package catalog."""

from __future__ import annotations

from datetime import datetime

import strawberry

from api.graphql.relay import Node, encode_id
from api.models import Announcement, PackageRelease

__all__ = ["AnnouncementType", "PackageReleaseType"]


@strawberry.type(name="Announcement")
class AnnouncementType(Node):
    slug: str
    title: str
    body: str = strawberry.field(description="Markdown.")
    published_at: datetime | None

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
