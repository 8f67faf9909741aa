"""`fenster serve` as separate processes for the fault drills: started, probed, killed."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[2]
FENSTER = [sys.executable, "-m", "api.cli"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def fenster(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*FENSTER, *args], env=env, cwd=ROOT, capture_output=True, text=True, timeout=120
    )


@dataclass
class Server:
    """One `fenster serve` on a free loopback port, logging to ``log`` (its stderr to
    ``errors`` instead, when given). ``flags`` go before the command (``-v``), ``serve_args``
    after it (``--workers 2``)."""

    env: dict[str, str]
    log: Path
    port: int = field(default_factory=free_port)
    proc: subprocess.Popen[bytes] | None = None
    errors: Path | None = None
    flags: tuple[str, ...] = ()
    serve_args: tuple[str, ...] = ()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def start(self) -> Server:
        with contextlib.ExitStack() as files:
            out = files.enter_context(self.log.open("ab"))
            err = files.enter_context(self.errors.open("ab")) if self.errors else subprocess.STDOUT
            self.proc = subprocess.Popen(
                [*FENSTER, *self.flags, "serve", "--port", str(self.port), *self.serve_args],
                env={**os.environ, **self.env},
                cwd=ROOT,
                stdout=out,
                stderr=err,
            )
        return self

    def wait_until(self, path: str, status: int, seconds: float = 60) -> float:
        """Poll ``path`` until it answers ``status``; returns the seconds it took."""
        started = time.monotonic()
        deadline = started + seconds
        last = "no answer"
        while time.monotonic() < deadline:
            assert self.proc is not None and self.proc.poll() is None, self.log.read_text()
            try:
                r = httpx.get(self.url + path, timeout=2)
                if r.status_code == status:
                    return time.monotonic() - started
                last = f"{r.status_code} {r.text[:200]}"
            except httpx.TransportError as e:
                last = f"{type(e).__name__}"
            time.sleep(0.2)
        raise AssertionError(f"{self.url}{path} did not answer {status} in {seconds} s: {last}")

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=10)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.kill()
