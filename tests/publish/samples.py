"""A small directory as site values, for the page tests."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from api.publish.values import (
    SERVICE_ENTRY_POINTS,
    AnnouncementView,
    PackageView,
    RebootView,
    RolloutView,
    SiteView,
    WaveView,
)

NOW = datetime(2026, 3, 27, 12, 0, tzinfo=UTC)


def rollout(name: str = "upd-1", state: str = "announced", start: datetime = NOW) -> RolloutView:
    waves = tuple(
        WaveView(i + 1, f"wave {i + 1}", sel, pct, start + timedelta(days=i), "pending")
        for i, (sel, pct) in enumerate(
            [("infrastructure", None), ("representative", None), ("percent", 20), ("hosts", None)]
        )
    )
    return RolloutView(
        name, f"Update {name}", "What it does.", "Linux 2.6.38", state, None, NOW, waves
    )


def site(**changes: object) -> SiteView:
    values: dict[str, object] = dict(
        title="Example hosting",
        public_url="https://status.example.com",
        timezone="Europe/Berlin",
        now=NOW,
        announcements=(
            AnnouncementView("older", "Older news", "First paragraph.", NOW - timedelta(days=9)),
            AnnouncementView("newest", "Newest news", "Read *this*.", NOW, rollout="upd-1"),
        ),
        rollouts=(rollout(),),
        reboots=(
            RebootView(NOW + timedelta(days=6), NOW + timedelta(days=6, hours=2), "planned", 4),
        ),
        packages=(
            PackageView("linux", "2.6.39", "b" * 64, NOW - timedelta(days=30)),
            PackageView("linux", "2.6.38", "a" * 64, NOW),
            PackageView("Python", "2.7.1", "c" * 64, NOW, "maintenance | release"),
            PackageView("7zip", "9.20", "d" * 64, NOW),
        ),
        entry_points=SERVICE_ENTRY_POINTS,
    )
    values.update(changes)
    return SiteView(**values)  # type: ignore[arg-type]
