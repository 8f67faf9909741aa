"""The ChangeLog as values: one entry per rollout and per release of the package catalog.

A catalog release is every package version released on the same UTC day. For each package in
a release the entry says what it replaces ("linux 2.6.39 -> 2.6.38") or that it is new
("python 2.7.1 added"). Pure.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime

from api.publish import layout
from api.publish.values import PackageView, RolloutView

__all__ = ["ChangeEntry", "change_entries", "release_changes"]


@dataclass(frozen=True)
class ChangeEntry:
    when: datetime
    title: str
    link: str | None  # a page of the site, relative to the docs directory
    lines: tuple[str, ...]


def release_changes(packages: Iterable[PackageView]) -> dict[date, list[str]]:
    """Per release day: 'name old -> new' or 'name version added', in name order."""
    by_name: dict[str, list[PackageView]] = defaultdict(list)
    for p in packages:
        by_name[p.name].append(p)
    days: dict[date, list[tuple[str, str]]] = defaultdict(list)
    for name, versions in by_name.items():
        versions.sort(key=lambda p: (p.released_at, p.version))
        for i, p in enumerate(versions):
            day = p.released_at.date()
            earlier = [v for v in versions[:i] if v.released_at.date() < day]
            text = (
                f"{name} {earlier[-1].version} -> {p.version}"
                if earlier
                else f"{name} {p.version} added"
            )
            days[day].append((name.lower(), text))
    return {d: [t for _, t in sorted(items)] for d, items in days.items()}


def change_entries(
    rollouts: Iterable[RolloutView], packages: Iterable[PackageView]
) -> list[ChangeEntry]:
    """Every ChangeLog entry, newest first."""
    entries: list[ChangeEntry] = []
    for r in rollouts:
        lines = [f"Target: {r.target}"] if r.target else []
        lines.append(f"State: {r.state}")
        when = r.starts_at or r.created_at
        entries.append(ChangeEntry(when, r.title, layout.rollout_path(r.name), tuple(lines)))
    for day, lines in release_changes(packages).items():
        when = datetime(day.year, day.month, day.day, tzinfo=UTC)
        entries.append(
            ChangeEntry(when, f"Package catalog release {day.isoformat()}", None, tuple(lines))
        )
    entries.sort(key=lambda e: (e.when, e.title), reverse=True)
    return entries
