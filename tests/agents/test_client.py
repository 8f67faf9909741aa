"""The GraphQL client: typed errors from the real API, retries against a real HTTP server."""

from __future__ import annotations

import json
import ssl
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest

from agents.client import MAX_RETRY_AFTER, Client, Result, retry_delay
from agents.errors import ApiError, TransportError

from .conftest import Api


def test_error_payloads_become_typed_api_errors(api: Api) -> None:
    with Client(api.url, api.token) as client:
        with pytest.raises(ApiError) as missing:
            client.start_window("no-such-window@fenster")
        assert missing.value.kind == "NotFound"
        [due, _] = client.due_work()
        assert (due.machine, due.state, [a.kind for a in due.activities]) == (
            "web01",
            "planned",
            ["memory_resize", "cpu_change", "kernel_update"],
        )
        assert due.activities[0].params == {"memory_mib": 8192}
        with pytest.raises(ApiError) as early:
            client.finish_window(due.uid, [Result(due.activities[0].id, "done", "")])
        assert early.value.kind == "ValidationError"
        assert [f.field for f in early.value.fields] == ["window"]
        assert client.start_window(due.uid) == "running"
        assert client.start_window(due.uid) == "running"  # a repeat is a no-op


class Flaky(BaseHTTPRequestHandler):
    """Answers 503 to the first two POSTs, then a GraphQL answer."""

    calls: list[str] = []

    def do_POST(self) -> None:
        self.calls.append(self.headers.get("Authorization", ""))
        self.rfile.read(int(self.headers["Content-Length"]))
        if len(self.calls) <= 2:
            self.send_response(503)
            self.end_headers()
            return
        body = json.dumps({"data": {"dueWork": []}}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def flaky() -> Iterator[str]:
    Flaky.calls = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), Flaky)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/graphql"
    server.shutdown()
    server.server_close()
    thread.join(timeout=5)


def test_5xx_is_retried_with_backoff(flaky: str) -> None:
    with Client(flaky, "s3cret", retries=2, backoff=0.01) as client:
        assert client.due_work() == []
    assert Flaky.calls == ["Bearer s3cret"] * 3


def test_gives_up_after_the_retries(flaky: str) -> None:
    with Client(flaky, "s3cret", retries=1, backoff=0.01) as client:
        with pytest.raises(TransportError, match="HTTP 503 \\(after 2 attempts\\)"):
            client.due_work()


class Busy(BaseHTTPRequestHandler):
    """Sheds the first POST (503 or 429 with Retry-After: 1), then answers."""

    status = 503
    calls: list[float] = []

    def do_POST(self) -> None:
        self.calls.append(time.monotonic())
        self.rfile.read(int(self.headers["Content-Length"]))
        if len(self.calls) == 1:
            self.send_response(self.status)
            self.send_header("Retry-After", "1")
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        body = json.dumps({"data": {"dueWork": []}}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.mark.parametrize("status", [503, 429])
def test_a_shed_request_waits_as_long_as_retry_after_says(status: int) -> None:
    Busy.status, Busy.calls = status, []
    server = ThreadingHTTPServer(("127.0.0.1", 0), Busy)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/graphql"
        with Client(url, "s3cret", retries=2, backoff=0.01) as client:
            assert client.due_work() == []
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
    assert len(Busy.calls) == 2
    assert 0.85 <= Busy.calls[1] - Busy.calls[0] < 5  # Retry-After (jittered), not 0.01 s


def test_retry_after_is_bounded_and_jittered() -> None:
    huge = httpx.Response(503, headers={"Retry-After": "86400"})
    assert MAX_RETRY_AFTER * 0.9 <= retry_delay(0.5, huge) <= MAX_RETRY_AFTER * 1.1
    dated = httpx.Response(503, headers={"Retry-After": "Wed, 21 Oct 2026 07:28:00 GMT"})
    assert 0.45 <= retry_delay(0.5, dated) <= 0.55  # not seconds: the backoff
    waits = {round(retry_delay(10.0, None), 6) for _ in range(20)}
    assert len(waits) > 1 and all(9.0 <= w <= 11.0 for w in waits)


def test_a_plain_http_api_costs_no_tls_context(monkeypatch: pytest.MonkeyPatch) -> None:
    """Loading the CA bundle is most of a client's start-up; a plain-http API needs none."""
    made: list[object] = []
    real = ssl.create_default_context

    def counted(*args: Any, **kwargs: Any) -> ssl.SSLContext:
        made.append(args)
        return real(*args, **kwargs)

    monkeypatch.setattr(ssl, "create_default_context", counted)
    Client("http://127.0.0.1:9/graphql", "t").close()
    assert made == []
    Client("https://fenster.example.net/graphql", "t").close()  # verified as before
    assert len(made) == 1
