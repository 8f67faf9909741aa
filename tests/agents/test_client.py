"""The GraphQL client: typed errors from the real API, retries against a real HTTP server."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from agents.client import Client, Result
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
