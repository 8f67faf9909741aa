"""Announcements: write a draft, change it, publish it (mail to groups, the site, the feed).

A draft (``published_at`` null) is seen by operators only. Publishing sets ``published_at`` and,
in the same transaction, queues one mail per group (every group, or the groups named); the
site's rebuild loop sees the change and puts it on the site and in the RSS feed.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import UTC, datetime

from tortoise.transactions import in_transaction

from api.effects import announcement_key
from api.errors import Conflict, FieldError, NotFound, ValidationError
from api.models import Announcement, ResourceGroup, Rollout
from api.models.keys import where
from api.notices import AnnouncementPublished
from api.services import audit, outbox

__all__ = [
    "MAX_BODY",
    "MAX_GROUPS",
    "MAX_TITLE",
    "create_announcement",
    "get_announcement",
    "notify",
    "publish_announcement",
    "update_announcement",
]

MAX_TITLE = 200  # the column's length
MAX_BODY = 100_000  # characters of Markdown
MAX_GROUPS = 1000  # groups named in one publish (omitted: every group)
_SLUG = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,98}[a-z0-9])?$")


async def get_announcement(slug: str) -> Announcement:
    found = await where(Announcement.all(), slug=slug).first()
    if found is None:
        raise NotFound("announcement", slug)
    return found


def _check(slug: str | None, title: str | None, body: str | None) -> list[FieldError]:
    errors = []
    if slug is not None and not _SLUG.match(slug):
        errors.append(FieldError("slug", "use 1-100 lower-case letters, digits and inner hyphens"))
    if title is not None and not title.strip():
        errors.append(FieldError("title", "must not be empty"))
    if title is not None and (len(title) > MAX_TITLE or "\n" in title):
        errors.append(FieldError("title", f"one line of at most {MAX_TITLE} characters"))
    if body is not None and len(body) > MAX_BODY:
        errors.append(FieldError("body", f"at most {MAX_BODY} characters"))
    return errors


async def _rollout(name: str | None, errors: list[FieldError]) -> Rollout | None:
    if name is None:
        return None
    found = await where(Rollout.all(), name=name).first()
    if found is None:
        errors.append(FieldError("rollout", f"no rollout named '{name}'"))
    return found


async def create_announcement(
    actor: str, *, slug: str, title: str, body: str, rollout: str | None = None
) -> Announcement:
    """A new draft. Every bad field is reported at once; nothing is written then."""
    errors = _check(slug, title, body)
    linked = await _rollout(rollout, errors)
    if not errors and await Announcement.filter(slug=slug).exists():
        errors.append(FieldError("slug", f"an announcement '{slug}' already exists"))
    if errors:
        raise ValidationError(errors)
    async with in_transaction() as conn:
        a = await Announcement.create(
            slug=slug, title=title.strip(), body=body, rollout=linked, using_db=conn
        )
        await audit.record(actor, "announcement.create", a, {"slug": slug}, connection=conn)
    return a


async def update_announcement(
    actor: str,
    a: Announcement,
    *,
    title: str | None = None,
    body: str | None = None,
    rollout: str | None = None,
) -> Announcement:
    """Change a draft or a published announcement (the site follows; no mail is resent)."""
    errors = _check(None, title, body)
    linked = await _rollout(rollout, errors)
    if errors:
        raise ValidationError(errors)
    changed: dict[str, object] = {}
    if title is not None:
        a.title = changed["title"] = title.strip()
    if body is not None:
        a.body = body
        changed["body"] = f"{len(body)} characters"
    if linked is not None:
        a.rollout = linked
        changed["rollout"] = linked.name
    async with in_transaction() as conn:
        await a.save(using_db=conn)
        await audit.record(actor, "announcement.update", a, changed, connection=conn)
    return a


async def publish_announcement(
    actor: str, a: Announcement, *, groups: Sequence[str] | None = None
) -> Announcement:
    """Publish a draft and mail it to every group, or to the groups named."""
    if a.published_at is not None:
        raise Conflict(f"announcement '{a.slug}' is already published")
    if groups is None:
        targets = await ResourceGroup.all().order_by("name")
    elif len(groups) > MAX_GROUPS:
        raise ValidationError.single(
            "groups", f"at most {MAX_GROUPS} groups; omit groups to mail every group"
        )
    else:
        targets = await where(ResourceGroup.all(), name__in=list(groups)).order_by("name")
        missing = sorted(set(groups) - {g.name for g in targets})
        if missing:
            raise ValidationError.single("groups", f"no such groups: {', '.join(missing)}")
    async with in_transaction() as conn:
        a.published_at = datetime.now(UTC)
        await a.save(using_db=conn)
        for group in targets:
            await notify(a, group, conn)
        await audit.record(
            actor,
            "announcement.publish",
            a,
            {"groups": [g.name for g in targets]},
            connection=conn,
        )
    return a


async def notify(a: Announcement, group: ResourceGroup, conn: object) -> None:
    """Queue announcement ``a``'s mail to ``group`` (once per announcement and group)."""
    await outbox.enqueue(
        AnnouncementPublished(slug=a.slug, title=a.title, body=a.body),
        group=group,
        dedupe_key=announcement_key(a.pk, group.pk),
        connection=conn,  # type: ignore[arg-type]
    )
