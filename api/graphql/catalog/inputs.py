"""Inputs of the announcement and catalog mutations."""

from __future__ import annotations

from datetime import datetime

import strawberry

__all__ = [
    "CreateAnnouncementInput",
    "ImportPackagesInput",
    "PackageInput",
    "PublishAnnouncementInput",
    "UpdateAnnouncementInput",
]


@strawberry.input
class CreateAnnouncementInput:
    slug: str = strawberry.field(description="its page's name: lower-case letters, digits, '-'")
    title: str
    body: str = strawberry.field(description="Markdown.")
    rollout: str | None = strawberry.field(default=None, description="a rollout's name")


@strawberry.input
class UpdateAnnouncementInput:
    slug: str
    title: str | None = None
    body: str | None = None
    rollout: str | None = None


@strawberry.input
class PublishAnnouncementInput:
    slug: str
    groups: list[str] | None = strawberry.field(
        default=None, description="the groups to mail; every group when omitted"
    )


@strawberry.input
class PackageInput:
    name: str
    version: str
    sha256: str
    notes: str = ""


@strawberry.input
class ImportPackagesInput:
    packages: list[PackageInput]
    released_at: datetime | None = strawberry.field(
        default=None, description="the release's date; now when omitted"
    )
