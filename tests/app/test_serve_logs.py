"""`fenster serve`'s logs: no feed token in the access log; JSON lines with request ids."""

from __future__ import annotations

import json
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


def test_json_lines_carry_the_request_id(tmp_path: Path) -> None:
    env = {
        **os.environ,
        "FENSTER_DATABASE_URL": f"sqlite://{tmp_path / 'f.sqlite3'}",
        "FENSTER_SCHEDULE_INTERVAL": "0",
        "FENSTER_MAIL_INTERVAL": "0",
        "FENSTER_SITE_INTERVAL": "0",
        "FENSTER_LOG_FORMAT": "json",
    }
    root = Path(__file__).resolve().parents[2]
    migrate = subprocess.run([*FENSTER, "migrate"], env=env, cwd=root, capture_output=True)
    assert migrate.returncode == 0, migrate.stderr
    port = _free_port()
    err = tmp_path / "serve.err"
    with err.open("w") as errors:
        proc = subprocess.Popen(
            [*FENSTER, "serve", "--port", str(port)],
            env=env,
            cwd=root,
            stdout=subprocess.DEVNULL,
            stderr=errors,
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
        given = httpx.get(base + "/healthz", headers={"X-Request-ID": "probe-42"}, timeout=10)
        made = httpx.get(f"{base}/feeds/alpha.ics?token=s3cr3t", timeout=10)
        odd = httpx.get(base + "/healthz", headers={"X-Request-ID": 'a b"c'}, timeout=10)
        time.sleep(0.5)
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    assert given.headers["x-request-id"] == "probe-42"
    assert len(made.headers["x-request-id"]) == 16
    assert odd.headers["x-request-id"] not in ('a b"c', "")  # not plain: a new one
    lines = [json.loads(line) for line in err.read_text().splitlines() if line.strip()]
    assert lines and all({"event", "level", "logger", "timestamp"} <= set(x) for x in lines)
    access = [x for x in lines if x["logger"] == "uvicorn.access"]
    by_id = {x.get("request_id"): x["event"] for x in access}
    assert "GET /healthz" in by_id["probe-42"]
    assert "token=REDACTED" in by_id[made.headers["x-request-id"]]
    assert "s3cr3t" not in err.read_text()
