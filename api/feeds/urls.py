"""A group's feed address, in the https form and the webcal:// form calendar apps open."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol
from urllib.parse import quote

__all__ = ["FeedUrls", "feed_url"]


class _HasPublicUrl(Protocol):
    @property
    def public_url(self) -> str: ...


class _HasFeedToken(Protocol):
    name: str
    feed_token: str


@dataclass(frozen=True)
class FeedUrls:
    https: str  # what the server answers (http:// when FENSTER_PUBLIC_URL says so)
    webcal: str  # the same address for one-click subscription


def feed_url(settings: _HasPublicUrl, group: _HasFeedToken) -> FeedUrls:
    base = settings.public_url.rstrip("/")
    url = f"{base}/feeds/{quote(group.name)}.ics?token={quote(group.feed_token)}"
    return FeedUrls(https=url, webcal="webcal://" + url.split("://", 1)[1])
