"""The window page and the postpone flow in headless Chromium, at desktop and phone widths.

Each page's DOM (after Chromium rendered it) must hold its main element with the page's own
content; the screenshots go to FENSTER_SHOTS (or the test's temporary folder) to be looked at.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
ROOT = Path(__file__).resolve().parents[2]
SECRET = "browser-test-link-secret-" + "b" * 32
SEED = """
import asyncio, json, sys
from datetime import UTC, datetime, timedelta
from api import db
from api.models import Window
from api.pages import links
from api.scheduling import occurrence
from api.services.window_base import group_policy
from api.settings import Settings
from tests.notify.world import make_group, make_window

async def main():
    settings = Settings(database_url="sqlite://" + sys.argv[1], link_secret=sys.argv[2])
    await db.init(settings, create_db=True)
    await db.migrate()
    group = await make_group(title="ACME Webshop", timezone="Europe/Berlin")
    day = (datetime.now(UTC) + timedelta(days=9)).date()
    start = occurrence(group_policy(group), day).starts_at
    window = await make_window(group, "shop-web-01", start, minutes=120)
    await Window.filter(id=window.id).update(
        reason="first day of the group's window (every day 02:00-04:00 Europe/Berlin) "
        "after the notice period of 7 days"
    )
    old = datetime.now(UTC) - timedelta(days=settings.postpone_link_days + 1)
    now = datetime.now(UTC)
    print(json.dumps({
        "uid": window.uid,
        "link": links.postpone_path(settings, window, now),
        "expired": links.postpone_path(settings, window, old),
    }))
    await db.close()

asyncio.run(main())
"""
SERVE = """
import sys, uvicorn
from api.app import create_app
from api.settings import Settings
settings = Settings(database_url="sqlite://" + sys.argv[2], link_secret=sys.argv[3],
                    public_url="http://127.0.0.1:" + sys.argv[1],
                    schedule_interval=0, mail_interval=0, maildir=sys.argv[4])
uvicorn.run(create_app(settings), host="127.0.0.1", port=int(sys.argv[1]), log_level="warning")
"""
WIDTHS = {"desktop": "1280,900", "phone": "390,844"}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[str, dict[str, str]]]:
    database = str(tmp_path / "db.sqlite3")
    seeded = subprocess.run(
        [sys.executable, "-c", SEED, database, SECRET],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
        check=True,
    )
    world = json.loads(seeded.stdout.strip().splitlines()[-1])
    port = _free_port()
    log = tmp_path / "server.log"
    with log.open("w") as out:
        proc = subprocess.Popen(
            [sys.executable, "-c", SERVE, str(port), database, SECRET, str(tmp_path / "mail")],
            stdout=out,
            stderr=subprocess.STDOUT,
            cwd=ROOT,
        )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                if httpx.get(base + "/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.1)
        else:
            pytest.fail("uvicorn did not start:\n" + log.read_text())
        yield base, world
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def _chromium(url: str, profile: Path, size: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            str(CHROMIUM),
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            "--hide-scrollbars",
            f"--user-data-dir={profile}",
            # Any host but the test server is unreachable: the page renders from fenster alone.
            "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
            f"--window-size={size}",
            *args,
            url,
        ],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "DBUS_SESSION_BUS_ADDRESS": ""},
    )


def _main_of(dom: str) -> str:
    found = re.search(r'<main class="md-main" id="main">(.*?)</main>', dom, re.S)
    assert found, "no main element in the rendered page"
    return found.group(1)


@pytest.mark.slow
@pytest.mark.skipif(CHROMIUM is None, reason="needs Debian's chromium (apt-get install chromium)")
def test_window_page_and_postpone_flow_render(
    served: tuple[str, dict[str, str]], tmp_path: Path
) -> None:
    base, world = served
    shots = Path(os.environ.get("FENSTER_SHOTS", tmp_path / "shots"))
    shots.mkdir(parents=True, exist_ok=True)

    def shoot(name: str, url: str, *expected: str) -> None:
        for width, size in WIDTHS.items():
            profile = tmp_path / f"profile-{name}-{width}"
            main = _main_of(_chromium(url, profile, size, "--dump-dom").stdout)
            for text in expected:
                assert text in main, (name, width, text)
            shot = shots / f"{name}-{width}.png"
            _chromium(url, profile, size, f"--screenshot={shot}")
            assert shot.exists() and shot.stat().st_size > 5_000, shot

    shoot("window", f"{base}/windows/{world['uid']}", "Maintenance: shop-web-01", "In UTC")
    shoot("postpone-choose", base + world["link"], "Choose a later window", 'type="radio"')
    # the page after choosing a window is the answer to a POST: keep it as a file (it needs
    # nothing from elsewhere) and render that
    with httpx.Client(base_url=base) as browser:
        form = browser.get(world["link"])
        fields = dict(re.findall(r'name="(csrf|slot)" value="([^"]+)"', form.text))
        done = browser.post(world["link"], data=fields)
        assert done.status_code == 200
    (tmp_path / "postponed.html").write_text(done.text)
    shoot("postpone-done", (tmp_path / "postponed.html").as_uri(), "Postponed.", "In UTC")
    shoot("postpone-stale", base + world["link"], "older version of the window")
    shoot("postpone-expired", base + world["expired"], "This link has expired")
