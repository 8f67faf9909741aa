"""A crawl of a built site: every internal link and asset must resolve to a file."""

from __future__ import annotations

import posixpath
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlsplit

from api.publish.values import SERVICE_ENTRY_POINTS

# Served by the app beside the site, not files of it.
SERVICE_PATHS = {e.link for e in SERVICE_ENTRY_POINTS if e.link}


class _Links(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.links: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        for name, value in attrs:
            if name in {"href", "src"} and value:
                self.links.append(value)


def broken_links(site: Path) -> list[tuple[str, str]]:
    """(page, link) for every relative or same-site link that names no file of the site."""
    broken = []
    for page in sorted(site.rglob("*.html")):
        parser = _Links()
        parser.feed(page.read_text())
        base = "/" + page.relative_to(site).parent.as_posix()
        for link in parser.links:
            parts = urlsplit(link)
            if parts.scheme or parts.netloc or not parts.path:
                continue
            path = posixpath.normpath(posixpath.join(base, unquote(parts.path)))
            if path in SERVICE_PATHS:
                continue
            target = site / path.lstrip("/")
            if not (target.is_file() or (target / "index.html").is_file()):
                broken.append((str(page.relative_to(site)), link))
    return broken
