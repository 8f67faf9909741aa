"""Fixtures for the host agent: libvirt's own test driver on node XML files under nodes/,
and a real fenster API (tests.agents.api_world under uvicorn) for end-to-end tests."""

from __future__ import annotations

import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from agents.virt.libvirt import Hypervisor

NODES = Path(__file__).parent / "nodes"


def node_uri(name: str = "kvm01") -> str:
    """A test:/// URI: every connection gets a fresh node built from the file."""
    return f"test://{(NODES / f'{name}.xml').resolve()}"


@pytest.fixture
def hv() -> Iterator[Hypervisor]:
    with Hypervisor.connect(node_uri()) as h:
        yield h


ROOT = Path(__file__).resolve().parents[2]
AGENT = str(Path(sys.executable).with_name("fenster-agent"))


@dataclass
class Api:
    url: str
    token: str
    db: Path
    state: Path
    pid: int = 0  # the API server's process (a drill may stop and continue it)

    def agent(self, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [AGENT, *self.args(), *args],
            env=self.env(**env),
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )

    def args(self) -> list[str]:
        return ["--api", self.url, "--uri", node_uri(), "--state-dir", str(self.state)]

    def env(self, **extra: str) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("FENSTER_")}
        return {**env, "FENSTER_AGENT_TOKEN": self.token, **extra}

    def rows(self, sql: str, *params: object) -> list[tuple]:
        with sqlite3.connect(self.db) as conn:
            return conn.execute(sql, params).fetchall()

    def write(self, sql: str, *params: object) -> None:
        with sqlite3.connect(self.db) as conn:
            conn.execute(sql, params)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def scenario() -> str:
    """Which world tests.agents.api_world builds; a test module may override it."""
    return "changes"


@pytest.fixture
def api(tmp_path: Path, scenario: str) -> Iterator[Api]:
    port, token_file, db = free_port(), tmp_path / "token", tmp_path / "fenster.sqlite3"
    output = (tmp_path / "api.log").open("w")
    world = [str(db), str(port), str(token_file), scenario]
    server = subprocess.Popen(
        [sys.executable, "-m", "tests.agents.api_world", *world],
        cwd=ROOT,
        stdout=output,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 60  # a loaded CI machine starts it slowly
        while True:
            if server.poll() is not None:
                pytest.fail(f"API did not start: {(tmp_path / 'api.log').read_text()}")
            try:
                if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                pytest.fail("API did not answer within 60 s")
            time.sleep(0.1)
        yield Api(
            f"http://127.0.0.1:{port}/graphql",
            token_file.read_text().strip(),
            db,
            tmp_path / "state",
            server.pid,
        )
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
        output.close()
