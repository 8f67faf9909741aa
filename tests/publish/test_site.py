"""The notice site built from the directory with the real `mkdocs build --strict`."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime
from pathlib import Path

import feedparser
import icalendar
import pytest
from tortoise.context import TortoiseContext

from api.demo import load_demo
from api.models import Announcement, Machine, ResourceGroup, Rollout, Window
from api.services import site
from api.settings import Settings
from tests.publish.crawl import broken_links

pytestmark = pytest.mark.slow

SECRET_GROUP = "zqxgroupname"
SECRET_MACHINE = "zqxmachinename"


async def _world(settings: Settings) -> Settings:
    await load_demo()
    group = await ResourceGroup.get(name="acme")
    group.name, group.title = SECRET_GROUP, "Zqx Customer Title"
    await group.save()
    host = await Machine.get(name="kvm01")
    host.name = SECRET_MACHINE
    await host.save()
    start = datetime(2030, 1, 5, 6, tzinfo=UTC)
    await Window.create(
        machine=host, starts_at=start, ends_at=start.replace(hour=8), forced=True, reason="x"
    )
    await Announcement.create(slug="draft-1", title="Zqx draft title", body="secret draft")
    await Rollout.create(name="draft-rollout", title="Zqx draft rollout", state="draft")
    return dataclasses.replace(settings, site_timezone="Europe/Berlin")


async def test_demo_world_builds_strict_with_every_link_resolving(
    db: TortoiseContext, settings: Settings
) -> None:
    settings = await _world(settings)
    result = await site.build_site(settings)
    assert result.ok, result.error
    _check_public_site(Path(settings.site_dir))


def _check_public_site(built: Path) -> None:
    assert built.is_symlink()
    assert broken_links(built) == []
    home = (built / "index.html").read_text()
    assert "The stability issue with our iSCSI storage server" in home
    everything = "\n".join(p.read_text(errors="replace") for p in built.rglob("*") if p.is_file())
    for secret in (SECRET_GROUP, SECRET_MACHINE, "Zqx", "secret draft", "oncall@"):
        assert secret not in everything
    assert "Reboot of 1 VM host" in everything  # the forced reboot, without its host's name
    assert not (built / "operators").exists() and not (built / "architecture").exists()


async def test_feed_and_calendar_parse(db: TortoiseContext, settings: Settings) -> None:
    settings = await _world(settings)
    assert (await site.build_site(settings)).ok
    built = Path(settings.site_dir)
    feed = feedparser.parse((built / "feed_rss_created.xml").read_bytes())
    assert not feed.bozo, feed.bozo_exception
    titles = [e.title for e in feed.entries]
    assert titles == [
        "System updates between August 29th and September 2nd",
        "System updates delayed",
    ]
    assert feed.entries[0].link.endswith("/announcements/system-updates-2011-08/")
    cal = icalendar.Calendar.from_ical((built / "maintenance.ics").read_bytes())
    # two rollouts (2011 and the seed's, announced): six waves and one host-reboot slot each
    assert len(cal.walk("VEVENT")) == 14


async def test_a_failed_build_keeps_the_last_good_site_and_says_why(
    db: TortoiseContext, settings: Settings
) -> None:
    settings = await _world(settings)
    assert (await site.build_site(settings)).ok
    good = _resolve(settings)
    await Announcement.create(
        slug="broken",
        title="Broken link",
        body="See [the missing page](missing.md).",
        published_at=datetime.now(UTC),
    )
    failed = await site.build_site(settings)
    assert not failed.ok and "missing.md" in failed.error
    assert _resolve(settings) == good
    assert "Broken link" not in (good / "index.html").read_text()
    status = site.status(settings)
    assert status is not None and not status.ok and status.built_at == failed.built_at != ""


def _resolve(settings: Settings) -> Path:
    return Path(settings.site_dir).resolve()


async def test_rebuild_loop_waits_for_changes_to_settle(
    db: TortoiseContext, settings: Settings
) -> None:
    settings = await _world(settings)
    assert await site.run_periodic(settings) is None  # first sight: wait one pass
    first = await site.run_periodic(settings)
    assert first is not None and first.ok
    assert await site.run_periodic(settings) is None  # nothing changed
    await Announcement.create(
        slug="new-one", title="A new one", body="Hello.", published_at=datetime.now(UTC)
    )
    assert await site.run_periodic(settings) is None  # changed: debounce
    second = await site.run_periodic(settings)
    assert second is not None and second.ok
    assert "A new one" in (Path(settings.site_dir) / "index.html").read_text()
