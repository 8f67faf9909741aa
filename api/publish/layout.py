"""Where each page of the notice site lives: the one home of its paths and of the split of
``docs/`` into the public customer guide and fenster's own manual.

Pure: no database, no MkDocs. The page builders, the build step and the MkDocs hook all read
their paths here.
"""

from __future__ import annotations

import re
import unicodedata

__all__ = [
    "ANNOUNCEMENTS",
    "CALENDAR",
    "CATALOG",
    "CHANGELOG",
    "FEED_RSS",
    "GENERATED_NAV",
    "GUIDE_PAGES",
    "HOME",
    "MAINTENANCE",
    "MANUAL_PAGES",
    "ROLLOUTS",
    "announcement_path",
    "catalog_letter",
    "catalog_path",
    "page_url",
    "rollout_path",
]

HOME = "index.md"
ANNOUNCEMENTS = "announcements/index.md"
ROLLOUTS = "rollouts/index.md"
MAINTENANCE = "maintenance.md"
CHANGELOG = "changelog.md"
CATALOG = "catalog/index.md"
CALENDAR = "maintenance.ics"  # the public maintenance calendar, a static file of the site
# Written by mkdocs-rss-plugin under its default name, which Material links in every page head.
FEED_RSS = "feed_rss_created.xml"

# Pages in the nav of mkdocs.yml that only the generator writes (absent from docs/).
GENERATED_NAV = frozenset({ANNOUNCEMENTS, ROLLOUTS, MAINTENANCE, CHANGELOG, CATALOG})
# Hand-written pages of docs/ that customers read: the customer guide.
GUIDE_PAGES = frozenset({"scheduling.md", "notifications.md", "vms.md"})
# fenster's own manual: on the public site only when FENSTER_SITE_MANUAL is true.
MANUAL_PAGES = frozenset(
    {
        "operators.md",
        "system-update.md",
        "configuration.md",
        "production.md",
        "agents.md",
        "architecture.md",
        "graphql.md",
    }
)


def slugify(text: str) -> str:
    """'Linux 2.6.38' -> 'linux-2-6-38'; never empty."""
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    slug = re.sub(r"[^a-z0-9]+", "-", ascii_text.lower()).strip("-")
    return slug or "x"


def announcement_path(slug: str) -> str:
    return f"announcements/{slugify(slug)}.md"


def rollout_path(name: str) -> str:
    return f"rollouts/{slugify(name)}.md"


def catalog_letter(package: str) -> str:
    """The catalog page a package is listed on: its first letter, or '0-9' for the rest."""
    first = slugify(package)[0]
    return first if first.isalpha() else "0-9"


def catalog_path(letter: str) -> str:
    return f"catalog/{letter}.md"


def page_url(public_url: str, path: str) -> str:
    """The address of a generated page: 'announcements/x.md' -> '<public>/announcements/x/'."""
    stem = path.removesuffix(".md").removesuffix("index")
    return f"{public_url}/{stem}/".replace("//", "/").replace(":/", "://", 1)
