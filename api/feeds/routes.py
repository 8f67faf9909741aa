"""GET /feeds/{group}.ics?token=... (customers) and /feeds/all.ics (operators, admin token).

A feed shows the maintenance windows and, as events of their own, the system updates of
rollouts (each VM's, at its wave's start, in no window; cancelled ones with STATUS CANCELLED).

The ETag comes from two aggregate queries (window count and latest change, activity count,
latest id and finish, a digest of the activities' states, estimates and parameters; the same
of the system updates with their rollouts' latest change; the group's own row and token),
so a client that already has the current feed gets 304 without a single window being loaded
or rendered. The bytes rendered for an ETag are kept in a
bounded in-process cache (``api.feeds.cache``), so a client that polls without If-None-Match
costs the same query plus sending the bytes; rendering runs in a worker thread so a large
feed does not stall the event loop.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import hmac
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime, parseaddr

from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import BaseRoute, Route

from api import policy
from api.calendar.query import (
    FeedStamp,
    feed_stamp,
    groups_changed,
    update_views,
    window_views,
)
from api.calendar.values import CalendarView
from api.feeds.cache import RenderCache
from api.feeds.ics import build_calendar
from api.models import ResourceGroup
from api.models.keys import where
from api.services import tokens
from api.settings import Settings

__all__ = ["HISTORY", "feed_routes"]

HISTORY = timedelta(days=30)  # how far back a feed shows windows
MAX_AGE = 300
CONTENT_TYPE = "text/calendar; charset=utf-8"
_VERSION = "3"  # bump when the builder's output changes for the same data


def _not_found() -> Response:
    # unknown group, wrong token and missing token all look alike
    return PlainTextResponse(
        "no such feed\n", status_code=404, headers={"Cache-Control": "no-store"}
    )


def _etag(settings: Settings, stamp: FeedStamp, *extra: object) -> str:
    raw = "|".join(
        str(x)
        for x in (
            _VERSION,
            settings.public_url,
            settings.mail_domain,
            settings.mail_from,  # the ORGANIZER
            stamp.key(),
            *extra,
        )
    )
    return '"' + hashlib.sha256(raw.encode()).hexdigest()[:32] + '"'


def _not_modified(request: Request, etag: str) -> bool:
    """Only the ETag decides. If-Modified-Since is not honoured: Last-Modified cannot follow
    every change a feed shows (an activity changed in place, a window leaving the history,
    two changes within the header's one second), and a wrong 304 leaves a stale calendar."""
    inm = request.headers.get("if-none-match")
    if inm is not None:
        tags = {t.strip().removeprefix("W/") for t in inm.split(",")}
        return etag in tags or "*" in tags
    return False


def _cache(request: Request) -> RenderCache:
    """The app's rendered-feed cache, made on first use (one per app, so per process)."""
    state = request.app.state
    cache: RenderCache | None = getattr(state, "feed_cache", None)
    if cache is None:
        cache = state.feed_cache = RenderCache()
    return cache


async def _respond(
    request: Request,
    *,
    stamp: FeedStamp,
    etag: str,
    changed: list[datetime | None],
    render: Callable[[], Awaitable[bytes]],
    filename: str,
) -> Response:
    cache = _cache(request)
    known = [c for c in changed if c is not None]
    last_modified = max(known) if known else None
    headers = {
        "ETag": etag,
        "Cache-Control": f"private, max-age={MAX_AGE}",  # never in a shared cache
        "Vary": "Authorization",
    }
    if last_modified is not None:
        headers["Last-Modified"] = format_datetime(last_modified.astimezone(UTC), usegmt=True)
    if _not_modified(request, etag):
        return Response(status_code=304, headers=headers)
    body = await cache.get_or_render(etag, render)
    headers["Content-Disposition"] = f'inline; filename="{filename}"'
    return Response(body, headers=headers, media_type=CONTENT_TYPE)


async def group_feed(request: Request) -> Response:
    settings: Settings = request.app.state.settings
    token = request.query_params.get("token", "")
    name = request.path_params["group"]
    group = await where(ResourceGroup.all(), name=name).first()
    if (
        group is None
        or not token
        or not hmac.compare_digest(token.encode(), group.feed_token.encode())
    ):
        return _not_found()
    now = datetime.now(UTC)
    since = now - HISTORY
    stamp = await feed_stamp(since=since, group_id=group.id)
    # the token is part of the tag: a rotated token never revalidates an old copy; the year
    # is the one an empty feed's VTIMEZONE covers
    etag = _etag(
        settings, stamp, group.id, group.updated_at.timestamp(), group.feed_token, now.year
    )

    async def render() -> bytes:
        windows = await window_views(settings.public_url, group_id=group.id, since=since)
        updates = await update_views(settings.public_url, group_id=group.id, since=since)
        cal = CalendarView(
            name=f"Maintenance: {group.title or group.name}",
            timezone=group.timezone,
            provider=settings.mail_domain,
            description=f"Maintenance windows of resource group {group.name}",
            organizer=parseaddr(settings.mail_from)[1],
        )
        return await asyncio.to_thread(
            build_calendar, cal, windows, updates=updates, empty_year=now.year
        )

    return await _respond(
        request,
        stamp=stamp,
        etag=etag,
        changed=[stamp.last_change, stamp.last_finish, stamp.last_update_change, group.updated_at],
        render=render,
        filename=f"maintenance-{group.name}.ics",
    )


def _bearer_or_basic(request: Request) -> str | None:
    """The token from ``Authorization: Bearer <t>`` or Basic auth with the token as password
    (calendar apps can send Basic credentials, not Bearer headers)."""
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer":
        return value.strip() or None
    if scheme.lower() == "basic":
        try:
            decoded = base64.b64decode(value.strip(), validate=True).decode()
        except (binascii.Error, UnicodeDecodeError):
            return None
        return decoded.partition(":")[2] or None
    return None


async def all_feed(request: Request) -> Response:
    settings: Settings = request.app.state.settings
    if not policy.may_read_all_feeds(await tokens.principal(_bearer_or_basic(request))):
        return PlainTextResponse(
            "an admin token is needed (Bearer, or Basic with the token as password)\n",
            status_code=401,
            headers={
                "WWW-Authenticate": 'Bearer realm="fenster", Basic realm="fenster feeds"',
                "Cache-Control": "no-store",
            },
        )
    now = datetime.now(UTC)
    since = now - HISTORY
    stamp = await feed_stamp(since=since)
    groups_at = await groups_changed()  # a group's new zone rewrites its events
    etag = _etag(settings, stamp, "all", groups_at and groups_at.timestamp(), now.year)

    async def render() -> bytes:
        windows = await window_views(settings.public_url, since=since)
        updates = await update_views(settings.public_url, since=since)
        cal = CalendarView(
            name="Maintenance: all groups",
            timezone="UTC",
            provider=settings.mail_domain,
            description="Maintenance windows of every resource group",
            organizer=parseaddr(settings.mail_from)[1],
        )
        return await asyncio.to_thread(
            build_calendar, cal, windows, updates=updates, empty_year=now.year
        )

    return await _respond(
        request,
        stamp=stamp,
        etag=etag,
        changed=[stamp.last_change, stamp.last_finish, stamp.last_update_change, groups_at],
        render=render,
        filename="maintenance-all.ics",
    )


def feed_routes(settings: Settings) -> list[BaseRoute]:
    # all.ics first: "all" is therefore not usable as a group's feed name
    return [
        Route("/feeds/all.ics", all_feed, methods=["GET"], name="feed_all"),
        Route("/feeds/{group}.ics", group_feed, methods=["GET"], name="feed_group"),
    ]
