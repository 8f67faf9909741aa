"""The notice site in headless Chromium (Debian's `chromium`): each page renders its main
element at desktop and phone widths. Screenshots go to FENSTER_SHOTS (default: the test's
temporary folder) for a person to look at."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from tortoise.context import TortoiseContext

from api.demo import load_demo
from api.services import site
from api.settings import Settings

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(CHROMIUM is None, reason="needs Debian's chromium (.ci/system-deps --test)"),
]
WIDTHS = {"desktop": "1280,1000", "phone": "390,844"}
# name -> (path, a text the page's main content must show)
PAGES = {
    "home": ("/", "The stability issue with our iSCSI storage server"),
    "announcement": ("/announcements/system-updates-2011-08/", "Order of events"),
    "rollout": ("/rollouts/system-update-2011-08/", "Mon 2011-08-29 08:00 CEST"),
    "catalog-search": ("/catalog/p/?q=python", "python"),
}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[Path, str]]:
    """The built site behind a plain static HTTP server (search needs http, not file:)."""
    root, port = tmp_path / "site", _free_port()
    root.mkdir()
    proc = subprocess.Popen(
        [sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1", "-d", str(root)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        yield root, f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def _chromium(tmp_path: Path, width: str, *args: str) -> subprocess.CompletedProcess[str]:
    command = [
        str(CHROMIUM),
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--hide-scrollbars",
        "--no-first-run",
        f"--user-data-dir={tmp_path / 'profile'}",
        "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
        "--virtual-time-budget=5000",
        f"--window-size={width}",
        *args,
    ]
    return subprocess.run(
        command,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={**os.environ, "DBUS_SESSION_BUS_ADDRESS": ""},
    )


async def test_pages_render_their_main_element_at_desktop_and_phone_widths(
    db: TortoiseContext, settings: Settings, served: tuple[Path, str], tmp_path: Path
) -> None:
    root, base = served
    await load_demo()
    import dataclasses

    settings = dataclasses.replace(
        settings, site_dir=str(tmp_path / "built"), site_timezone="Europe/Berlin"
    )
    assert (await site.build_site(settings)).ok
    shutil.copytree(tmp_path / "built", root, dirs_exist_ok=True)
    _check_pages(base, tmp_path)


def _check_pages(base: str, tmp_path: Path) -> None:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            if httpx.get(base + "/", timeout=1).status_code == 200:
                break
        except httpx.TransportError:
            time.sleep(0.2)
    shots = Path(os.environ.get("FENSTER_SHOTS") or tmp_path / "shots")
    shots.mkdir(parents=True, exist_ok=True)
    for name, (path, text) in PAGES.items():
        for label, width in WIDTHS.items():
            dom = _chromium(tmp_path, width, "--dump-dom", base + path).stdout
            main = dom.split('<main class="md-main"', 1)
            assert len(main) == 2, (name, label, dom[:500])
            content = main[1].split("</main>", 1)[0]
            assert 'class="md-content"' in content, (name, label)
            assert text in content, (name, label, text)
            shot = shots / f"{name}-{label}.png"
            _chromium(tmp_path, width, f"--screenshot={shot}", base + path)
            assert shot.exists() and shot.stat().st_size > 2_000, (name, label)  # a PNG drawn
