"""`fenster serve` writes no feed token into its access log."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

FENSTER = [sys.executable, "-m", "api.cli"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_feed_tokens_are_redacted_in_the_access_log(tmp_path: Path) -> None:
    env = {
        **os.environ,
        "FENSTER_DATABASE_URL": f"sqlite://{tmp_path / 'f.sqlite3'}",
        "FENSTER_SCHEDULE_INTERVAL": "0",
        "FENSTER_MAIL_INTERVAL": "0",
    }
    root = Path(__file__).resolve().parents[2]
    migrate = subprocess.run([*FENSTER, "migrate"], env=env, cwd=root, capture_output=True)
    assert migrate.returncode == 0, migrate.stderr
    port = _free_port()
    log = tmp_path / "serve.log"
    secret = "s3cr3t-feed-token-value"
    with log.open("w") as out:
        proc = subprocess.Popen(
            [*FENSTER, "serve", "--port", str(port)],
            env=env,
            cwd=root,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                if httpx.get(base + "/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.2)
        answer = httpx.get(f"{base}/feeds/alpha.ics?token={secret}&x=1", timeout=10)
        assert answer.status_code == 404
        time.sleep(0.5)
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    written = log.read_text()
    assert "GET /feeds/alpha.ics?token=REDACTED&x=1" in written, written
    assert secret not in written
