"""Directory values -> the Markdown pages of the notice site: pure, no I/O beyond reading the
Jinja2 templates beside this module.

:func:`render_site` returns ``{path: text or bytes}`` for every generated file; the build step
writes them next to the hand-written guide and runs MkDocs. Nothing here knows MkDocs: another
static-site builder could take the same Markdown.
"""

from __future__ import annotations

import json
import posixpath
import re
from collections import defaultdict
from datetime import datetime
from functools import lru_cache
from zoneinfo import ZoneInfo

import jinja2

from api.publish import layout
from api.publish.calendar import build_public_calendar
from api.publish.changes import change_entries
from api.publish.values import AnnouncementView, PackageView, RolloutView, SiteView, wave_label

__all__ = ["cell", "render_site", "summary"]

# How many announcements the home page lists under the newest one.
HOME_RECENT = 5


def cell(value: object) -> str:
    """Text safe inside a Markdown table cell: no HTML, no column break, one line."""
    text = str(value).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return text.replace("|", "\\|").replace("\r", " ").replace("\n", " ")


def summary(markdown: str, limit: int = 300) -> str:
    """The first paragraph of a Markdown body as one line of plain text (feeds, lists)."""
    for para in markdown.split("\n\n"):
        text = " ".join(para.split())
        if text and not text.startswith(("#", "<", "|", "!!!", "```")):
            text = re.sub(r"[*_`]|!?\[([^\]]*)\]\([^)]*\)", lambda m: m.group(1) or "", text)
            return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"
    return ""


def _utc(dt: datetime) -> str:
    return dt.astimezone(ZoneInfo("UTC")).strftime("%a %Y-%m-%d %H:%M UTC")


def _day(dt: datetime) -> str:
    return dt.astimezone(ZoneInfo("UTC")).strftime("%Y-%m-%d")


@lru_cache(maxsize=1)
def _environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("api.publish", "templates"),
        autoescape=False,  # Markdown out; table cells go through `cell`
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(
        summary=summary, cell=cell, utc=_utc, day=_day, wave_label=wave_label, yaml=json.dumps
    )
    return env


def _render(template: str, path: str, site: SiteView, **values: object) -> str:
    zone = ZoneInfo(site.timezone)

    def local(dt: datetime) -> str:
        return dt.astimezone(zone).strftime("%a %Y-%m-%d %H:%M %Z")

    def link(target: str) -> str:
        """A relative link from this page to another generated or hand-written page."""
        return posixpath.relpath(target, posixpath.dirname(path) or ".")

    return (
        _environment()
        .get_template(template)
        .render(site=site, local=local, link=link, root=_root(path), layout=layout, **values)
    )


def _root(path: str) -> str:
    """The relative URL of the site's root from the page built from ``path`` (raw HTML links,
    which MkDocs leaves alone): 'index.md' -> '', 'maintenance.md' -> '../'."""
    parts = path.removesuffix(".md").split("/")
    if parts[-1] == "index":
        parts = parts[:-1]
    return "../" * len(parts)


def _newest_first(items: tuple[AnnouncementView, ...]) -> list[AnnouncementView]:
    return sorted(items, key=lambda a: (a.published_at, a.slug), reverse=True)


def _rollouts_by_start(rollouts: tuple[RolloutView, ...]) -> list[RolloutView]:
    return sorted(rollouts, key=lambda r: (r.starts_at or r.created_at, r.name), reverse=True)


def _packages_by_letter(packages: tuple[PackageView, ...]) -> dict[str, dict[str, list]]:
    letters: dict[str, dict[str, list[PackageView]]] = defaultdict(lambda: defaultdict(list))
    for p in sorted(packages, key=lambda p: (p.name.lower(), p.released_at, p.version)):
        letters[layout.catalog_letter(p.name)][p.name].append(p)
    return {k: dict(v) for k, v in sorted(letters.items())}


def render_site(site: SiteView) -> dict[str, str | bytes]:
    """Every generated file of the site, by its path under the docs directory."""
    announcements = _newest_first(site.announcements)
    rollouts = _rollouts_by_start(site.rollouts)
    updates: dict[str, list[AnnouncementView]] = defaultdict(list)
    for a in announcements:
        if a.rollout:
            updates[a.rollout].append(a)
    letters = _packages_by_letter(site.packages)
    upcoming = [r for r in rollouts if not r.is_past]
    reboots = sorted(site.reboots, key=lambda b: b.starts_at, reverse=True)
    open_reboots = [b for b in reboots if b.state in {"planned", "running"}]

    out: dict[str, str | bytes] = {}

    def page(path: str, template: str, **values: object) -> None:
        out[path] = _render(template, path, site, **values)

    page(
        layout.HOME,
        "home.md.j2",
        latest=announcements[0] if announcements else None,
        recent=announcements[1 : 1 + HOME_RECENT],
        upcoming=upcoming,
        reboots=open_reboots,
    )
    page(layout.ANNOUNCEMENTS, "announcements.md.j2", announcements=announcements)
    rollout_titles = {r.name: r.title for r in rollouts}
    for a in announcements:
        page(
            layout.announcement_path(a.slug),
            "announcement.md.j2",
            a=a,
            rollout_title=rollout_titles.get(a.rollout or ""),
        )
    page(layout.ROLLOUTS, "rollouts.md.j2", rollouts=rollouts)
    for r in rollouts:
        page(layout.rollout_path(r.name), "rollout.md.j2", r=r, updates=updates.get(r.name, []))
    page(
        layout.MAINTENANCE,
        "maintenance.md.j2",
        upcoming=upcoming,
        past=[r for r in rollouts if r.is_past],
        open_reboots=open_reboots,
        past_reboots=[b for b in reboots if b not in open_reboots],
    )
    page(layout.CHANGELOG, "changelog.md.j2", entries=change_entries(rollouts, site.packages))
    page(layout.CATALOG, "catalog_index.md.j2", letters=letters, total=len(site.packages))
    for letter, packages in letters.items():
        page(layout.catalog_path(letter), "catalog_letter.md.j2", letter=letter, packages=packages)
    out[layout.CALENDAR] = build_public_calendar(site)
    return out
