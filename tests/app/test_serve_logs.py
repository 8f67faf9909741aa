"""`fenster serve`'s logs: no feed token in the access log; JSON lines with request ids; the
workers of `--workers N` log fenster's own lines like a single process does."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import httpx

from tests.drills.servers import Server, fenster


def _env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {
        "FENSTER_DATABASE_URL": f"sqlite://{tmp_path / 'f.sqlite3'}",
        "FENSTER_SCHEDULE_INTERVAL": "0",
        "FENSTER_MAIL_INTERVAL": "0",
        "FENSTER_SITE_INTERVAL": "0",
        **extra,
    }
    migrate = fenster("migrate", env={**os.environ, **env})
    assert migrate.returncode == 0, migrate.stderr
    return env


def test_feed_tokens_are_redacted_in_the_access_log(tmp_path: Path) -> None:
    server = Server(_env(tmp_path), tmp_path / "serve.log").start()
    secret = "s3cr3t-feed-token-value"
    try:
        server.wait_until("/healthz", 200)
        answer = httpx.get(f"{server.url}/feeds/alpha.ics?token={secret}&x=1", timeout=10)
        assert answer.status_code == 404
        time.sleep(0.5)
    finally:
        server.stop()
    written = server.log.read_text()
    assert "GET /feeds/alpha.ics?token=REDACTED&x=1" in written, written
    assert secret not in written


def test_json_lines_carry_the_request_id(tmp_path: Path) -> None:
    env = _env(tmp_path, FENSTER_LOG_FORMAT="json")
    server = Server(env, tmp_path / "serve.out", errors=tmp_path / "serve.err").start()
    err = tmp_path / "serve.err"
    try:
        server.wait_until("/healthz", 200)
        base = server.url
        given = httpx.get(base + "/healthz", headers={"X-Request-ID": "probe-42"}, timeout=10)
        made = httpx.get(f"{base}/feeds/alpha.ics?token=s3cr3t", timeout=10)
        odd = httpx.get(base + "/healthz", headers={"X-Request-ID": 'a b"c'}, timeout=10)
        time.sleep(0.5)
    finally:
        server.stop()
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


def test_workers_log_fenster_lines_in_text_mode_at_the_chosen_level(tmp_path: Path) -> None:
    """Each worker is a new process: without uvicorn carrying fenster's root logger, its INFO
    lines (the lease taken, the passes) were lost and warnings came out unformatted."""
    env = _env(tmp_path)
    server = Server(env, tmp_path / "serve.log", flags=("-v",), serve_args=("--workers", "2"))
    server.start()
    try:
        server.wait_until("/readyz", 200)
        deadline = time.monotonic() + 30
        while "lease" not in server.log.read_text() and time.monotonic() < deadline:
            time.sleep(0.2)
    finally:
        server.stop()
    lines = server.log.read_text().splitlines()
    leader = [line for line in lines if "took the" in line and "lease" in line]
    assert leader, "\n".join(lines)
    # fenster's text format: time, level, logger name
    assert " INFO api.services.leadership: took the " in leader[0], leader[0]
