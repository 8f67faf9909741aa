"""GraphiQL renders in headless Chromium from the vendored assets, with no internet access."""

from __future__ import annotations

import base64
import hashlib
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
from strawberry.http.ides import get_graphql_ide_html

from api.graphql.ide import ASSETS, CDN_FILES, graphiql_html
from api.settings import Settings

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
SERVE = """
import sys, uvicorn
from api.app import create_app
from api.settings import Settings
settings = Settings(database_url="sqlite://" + sys.argv[2], graphiql=True,
                    schedule_interval=0, mail_interval=0, site_interval=0)
uvicorn.run(create_app(settings), host="127.0.0.1", port=int(sys.argv[1]), log_level="info")
"""


def test_vendored_assets_are_the_files_strawberry_pins() -> None:
    """Each file's SHA-384 is the integrity value in Strawberry's own GraphiQL page."""
    page = get_graphql_ide_html(graphql_ide="graphiql")
    for url, name in CDN_FILES.items():
        digest = hashlib.sha384((ASSETS / name).read_bytes()).digest()
        integrity = "sha384-" + base64.b64encode(digest).decode()
        assert re.search(re.escape(url) + r'"\s+integrity="' + re.escape(integrity), page), name


def test_page_names_no_cdn() -> None:
    html = graphiql_html()
    assert "unpkg.com" not in html and "https://" not in re.sub(r"http://www\.w3\.org\S*", "", html)


async def test_graphiql_off_by_default_and_assets_only_when_on(tmp_path: Path) -> None:
    from api.app import create_app

    for enabled in (False, True):
        app = create_app(
            Settings(database_url=f"sqlite://{tmp_path}/x.db", graphiql=enabled), manage_db=False
        )
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://t"
        ) as c:
            page = await c.get("/graphql", headers={"Accept": "text/html"})
            asset = await c.get("/graphql/static/graphiql.min.js")
        assert (page.status_code == 200 and "graphiql" in page.text) is enabled
        assert (asset.status_code == 200) is enabled


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    port = _free_port()
    log = tmp_path / "server.log"
    with log.open("w") as out:
        proc = subprocess.Popen(
            [sys.executable, "-c", SERVE, str(port), str(tmp_path / "db.sqlite3")],
            stdout=out,
            stderr=subprocess.STDOUT,
            cwd=Path(__file__).resolve().parents[2],
        )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60  # a loaded CI machine starts it slowly
        while time.monotonic() < deadline:
            try:
                if httpx.get(base + "/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.1)
        else:
            pytest.fail("uvicorn did not start:\n" + log.read_text())
        yield base, log
    finally:
        proc.terminate()
        proc.wait(timeout=10)


@pytest.mark.skipif(CHROMIUM is None, reason="needs Debian's chromium (apt-get install chromium)")
def test_graphiql_renders_in_headless_chromium(server: tuple[str, Path], tmp_path: Path) -> None:
    base, log = server
    command = [
        str(CHROMIUM),
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        f"--user-data-dir={tmp_path / 'profile'}",
        # Any host but the test server is unreachable: what renders comes from fenster alone.
        "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
        "--virtual-time-budget=15000",
        "--window-size=1280,800",
    ]
    dom = subprocess.run(
        [*command, "--dump-dom", base + "/graphql"],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "DBUS_SESSION_BUS_ADDRESS": ""},
    ).stdout
    # React mounted GraphiQL: the editor, the run button and the response pane exist.
    for part in ("graphiql-query-editor", "graphiql-execute-button", "graphiql-response"):
        assert part in dom, part
    assert "Loading..." not in dom
    shot = tmp_path / "graphiql.png"
    subprocess.run(
        [*command, f"--screenshot={shot}", base + "/graphql"],
        capture_output=True,
        timeout=120,
        check=False,
    )
    assert shot.exists() and shot.stat().st_size > 10_000
    served = log.read_text()
    # The page fetched every asset from fenster and introspected the schema.
    assert "GET /graphql/static/graphiql.min.js" in served
    assert "POST /graphql" in served


async def test_graphiql_says_where_the_token_goes(tmp_path: Path) -> None:
    from api.app import create_app

    app = create_app(
        Settings(database_url=f"sqlite://{tmp_path}/x.db", graphiql=True), manage_db=False
    )
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as c:
        page = (await c.get("/graphql", headers={"Accept": "text/html"})).text
    assert "Welcome to GraphiQL" not in page
    assert 'Open the "Headers" tab below this editor' in page
    assert '{"Authorization": "Bearer fst_..."}' in page


def test_the_demo_link_opens_the_example_query_with_the_token() -> None:
    from urllib.parse import parse_qs, urlsplit

    from api.commands.demo import EXAMPLE_QUERY, graphiql_link

    link = urlsplit(graphiql_link(Settings(port=8150), "fst_abc"))
    assert (link.scheme, link.netloc, link.path) == ("http", "127.0.0.1:8150", "/graphql")
    params = parse_qs(link.query)
    assert params["q"] == [EXAMPLE_QUERY]
    assert params["headers"] == ['{"Authorization": "Bearer fst_abc"}']
