"""/windows/{uid} and /windows/{uid}.ics through the ASGI app; the link secret setting."""

from __future__ import annotations

import os
import stat
from datetime import UTC, datetime
from pathlib import Path

import httpx
import icalendar
import pytest
from tortoise.context import TortoiseContext

from api.pages import links
from api.settings import Settings, SettingsError
from tests.notify.world import make_group, make_window

# Sun 25 Oct 2026: Europe/Berlin leaves summer time at 03:00 CEST (01:00 UTC)
START = datetime(2026, 10, 25, 0, 30, tzinfo=UTC)


async def test_window_page_in_the_groups_zone_and_utc(
    db: TortoiseContext, client: httpx.AsyncClient
) -> None:
    group = await make_group()
    window = await make_window(group, "vm01", START, minutes=120, notify=None)
    page = await client.get(f"/windows/{window.uid}")
    assert page.status_code == 200
    text = page.text
    assert '<meta name="viewport" content="width=device-width, initial-scale=1">' in text
    assert '<main class="md-main" id="main">' in text
    assert "Sun 25 Oct 2026, 02:30 CEST to 03:30 CET (Europe/Berlin)" in text  # 2 h
    assert "Sun 25 Oct 2026, 00:30 to 02:30 UTC" in text
    assert "kernel update (to Linux 2.6.38): about 10 min, restarts the machine" in text
    assert "memory resize (to 4096 MiB): about 10 min, restarts the machine" in text
    assert f'href="/windows/{window.uid}.ics"' in text and ">Add to calendar</a>" in text
    assert "<link" not in text and "<script" not in text  # nothing loaded from elsewhere


async def test_window_page_escapes_what_it_shows(
    db: TortoiseContext, client: httpx.AsyncClient
) -> None:
    group = await make_group()
    window = await make_window(group, "vm01", START, notify=None)
    await type(window).filter(id=window.id).update(reason="<script>alert(1)</script>")
    page = await client.get(f"/windows/{window.uid}")
    assert "<script>alert(1)" not in page.text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page.text


async def test_window_alone_as_ics(db: TortoiseContext, client: httpx.AsyncClient) -> None:
    group = await make_group()
    window = await make_window(group, "vm01", START, notify=None)
    await make_window(group, "vm02", START, notify=None)
    r = await client.get(f"/windows/{window.uid}.ics")
    assert r.status_code == 200
    assert r.headers["content-type"] == "text/calendar; charset=utf-8"
    cal = icalendar.Calendar.from_ical(r.content)
    [event] = cal.walk("VEVENT")
    assert str(event["UID"]) == window.uid
    assert event.decoded("DTSTART").astimezone(UTC) == START
    assert str(cal["METHOD"]) == "PUBLISH"
    assert (await client.get("/windows/nosuch@fenster.ics")).status_code == 404


def test_secret_is_made_once_and_kept(tmp_path: Path) -> None:
    settings = Settings(link_secret_file=str(tmp_path / "var" / "link-secret"))
    first = links.signing_secret(settings)
    path = Path(settings.link_secret_file)
    assert len(first) >= 60
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    links._secret_from_file.cache_clear()
    assert links.signing_secret(settings) == first  # survives a restart
    assert links.signing_secret(Settings(link_secret="z" * 40)) == "z" * 40


def test_link_settings_are_checked(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FENSTER_LINK_SECRET", "short")
    with pytest.raises(SettingsError, match="at least 32 characters"):
        Settings.from_env()
    monkeypatch.setenv("FENSTER_LINK_SECRET", "s" * 32)
    monkeypatch.setenv("FENSTER_POSTPONE_LINK_DAYS", "0")
    with pytest.raises(SettingsError, match="POSTPONE_LINK_DAYS"):
        Settings.from_env()
    monkeypatch.setenv("FENSTER_POSTPONE_LINK_DAYS", "3")
    s = Settings.from_env()
    assert s.postpone_link_days == 3 and s.describe()["link_secret"] == "********"
    assert "s" * 32 not in repr(s)
    assert os.environ["FENSTER_LINK_SECRET"] == "s" * 32
