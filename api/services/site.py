"""The notice site: load its values from the directory, build it, rebuild it when they change.

``load_site_view`` is the only place that reads the database for the site; the pages are pure
functions of what it returns (``api.publish``). ``run_periodic`` is the `fenster serve` loop:
it rebuilds when the stamp of what the site shows (published announcements, rollouts and
their waves, forced host reboots, the catalog) has changed and then held still for one pass.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

from tortoise.functions import Count, Max

from api.models import Announcement, PackageRelease, Rollout, Wave, Window
from api.publish.build import SiteStatus, build, read_status
from api.publish.pages import render_site
from api.publish.values import (
    SERVICE_ENTRY_POINTS,
    AnnouncementView,
    PackageView,
    RebootView,
    RolloutView,
    SiteView,
    WaveView,
)
from api.settings import Settings

__all__ = ["build_site", "load_site_view", "run_periodic", "site_stamp", "status"]

log = logging.getLogger("fenster.site")
_PUBLIC_ROLLOUTS = {"state__not": "draft"}
_HOST_REBOOTS = {"forced": True, "machine__kind": "host"}


async def load_site_view(settings: Settings, now: datetime | None = None) -> SiteView:
    announcements = [
        AnnouncementView(
            slug=row["slug"],
            title=row["title"],
            body=row["body"],
            published_at=row["published_at"],
            rollout=row["rollout__name"],
        )
        for row in await Announcement.filter(published_at__not_isnull=True).values(
            "slug", "title", "body", "published_at", "rollout__name"
        )
    ]
    waves: dict[int, list[WaveView]] = {}
    for w in await Wave.filter(rollout__state__not="draft").order_by("position"):
        waves.setdefault(w.rollout_id, []).append(
            WaveView(w.position, w.name, w.selector, w.percent, w.starts_at, w.state)
        )
    rollouts = [
        RolloutView(
            name=r.name,
            title=r.title,
            description=r.description,
            target=r.target,
            state=r.state,
            halted_reason=r.halted_reason,
            created_at=r.created_at,
            waves=tuple(waves.get(r.id, ())),
        )
        for r in await Rollout.filter(**_PUBLIC_ROLLOUTS)
    ]
    slots = Counter(
        (row[0], row[1], row[2])
        for row in await Window.filter(**_HOST_REBOOTS).values_list("starts_at", "ends_at", "state")
    )
    packages = [
        PackageView(row[0], row[1], row[2], row[3], row[4])
        for row in await PackageRelease.all().values_list(
            "name", "version", "sha256", "released_at", "summary"
        )
    ]
    return SiteView(
        title=settings.site_title,
        public_url=settings.public_url,
        timezone=settings.site_timezone,
        now=now or datetime.now(UTC),
        announcements=tuple(announcements),
        rollouts=tuple(rollouts),
        reboots=tuple(RebootView(s, e, state, n) for (s, e, state), n in slots.items()),
        packages=tuple(packages),
        entry_points=SERVICE_ENTRY_POINTS,
    )


async def site_stamp(settings: Settings) -> str:
    """A digest of everything the site shows; it changes when a rebuild is due."""
    parts: list[object] = [
        settings.site_title,
        settings.site_timezone,
        settings.public_url,
        settings.site_manual,
        await Announcement.filter(published_at__not_isnull=True).values_list(
            "id", "updated_at", "published_at"
        ),
        await Rollout.filter(**_PUBLIC_ROLLOUTS).values_list("id", "state", "updated_at"),
        await Wave.filter(rollout__state__not="draft").values_list(
            "id", "state", "starts_at", "name"
        ),
        await Window.filter(**_HOST_REBOOTS).values_list("id", "state", "starts_at", "ends_at"),
        await PackageRelease.all().annotate(n=Count("id"), last=Max("id")).values_list("n", "last"),
    ]
    return hashlib.sha256(repr(parts).encode()).hexdigest()[:32]


def _mkdocs_env(settings: Settings) -> dict[str, str]:
    return {
        "FENSTER_SITE_URL": settings.public_url + "/",
        "FENSTER_SITE_TITLE": settings.site_title,
    }


async def build_site(settings: Settings) -> SiteStatus:
    """Generate the pages from the directory and build the site into ``settings.site_dir``."""
    stamp = await site_stamp(settings)
    view = await load_site_view(settings)
    pages = await asyncio.to_thread(render_site, view)
    result = await build(
        pages,
        Path(settings.site_dir),
        env=_mkdocs_env(settings),
        stamp=stamp,
        manual=settings.site_manual,
    )
    if not result.ok:
        log.error("site build failed; the last good site stays: %s", result.error[-500:])
    return result


def status(settings: Settings) -> SiteStatus | None:
    return read_status(Path(settings.site_dir))


_seen: dict[str, str] = {}  # site_dir -> the stamp seen on the previous pass, not yet built
_failed: dict[str, str] = {}  # site_dir -> the stamp whose build failed (not retried)


async def run_periodic(settings: Settings) -> SiteStatus | None:
    """One pass of the rebuild loop: build when the stamp changed and held for one pass."""
    key = settings.site_dir
    stamp = await site_stamp(settings)
    current = await asyncio.to_thread(status, settings)
    built = await asyncio.to_thread(Path(settings.site_dir).exists)
    if (built and current is not None and current.stamp == stamp) or _failed.get(key) == stamp:
        _seen.pop(key, None)
        return None
    if _seen.get(key) != stamp:  # debounce: wait for the changes to settle
        _seen[key] = stamp
        return None
    _seen.pop(key, None)
    result = await build_site(settings)
    if result.ok:
        _failed.pop(key, None)
    else:
        _failed[key] = stamp
    return result
