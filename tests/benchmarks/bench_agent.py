"""Benchmark of the host agent against real libvirt (run on demand, not collected; root).

    .venv/bin/python tests/benchmarks/bench_agent.py [--guests 10] [--shutdown-timeout 1]

A private session libvirtd with QEMU (tests/agents/realvirt.py) runs ``--guests`` diskless
guests (they ignore ACPI, so each stop waits the shutdown timeout and then powers off). The
API (tests.agents.api_world's helpers, uvicorn, SQLite) gives each a due window with one
memory resize (256 -> 320 MiB). Timed, in one run:

1. running guests: ``fenster-agent once`` against a plain script of the same libvirt calls
   (shutdown, wait up to the timeout, destroy, setMaxMemory, setMemoryFlags, create), guests
   redefined between the two. Goal (issue 15): ratio <= 1.1x.
2. shut-off guests: the same windows on guests that are off (no restart), against the plain
   script's setMaxMemory + setMemoryFlags; and ``fenster-agent once`` with nothing due. The
   difference is the agent's fixed cost (process start, API calls, journal fsyncs).

Prints figures and ratios; a missed goal is reported, the exit status stays 0.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import httpx
import libvirt

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from api import db  # noqa: E402
from api.models import Machine  # noqa: E402
from api.services import groups, machines, tokens  # noqa: E402
from api.settings import Settings  # noqa: E402
from tests.agents.api_world import _vm, _window  # noqa: E402
from tests.agents.realvirt import Daemon, domain_xml, missing, sweep  # noqa: E402

AGENT = str(Path(sys.executable).with_name("fenster-agent"))
KIB = 1024


def names(n: int) -> list[str]:
    return [f"vm{i:02d}" for i in range(n)]


async def world(settings: Settings, n: int) -> str:
    from datetime import time as dtime

    await db.init(settings)
    try:
        await db.migrate()
        ops = await groups.create_group(
            "bench",
            name="ops",
            contacts=["ops@provider.example"],
            timezone="UTC",
            window_start=dtime(6, 0),
            window_minutes=120,
            weekdays=list(range(7)),
            notice_minutes=0,
        )
        host = await machines.register_machine(
            "bench", name="kvm01", group=ops, kind="host", desired_memory_mib=65536
        )
        now = datetime.now(UTC)
        for name in names(n):
            vm: Machine = await _vm(host, ops, name, 1, 256, None)
            await _window(
                vm, await machines.change_desired("bench", vm, desired_memory_mib=320), now
            )
        _, secret = await tokens.create_token("bench", name="agent", role="agent", host=host)
        return secret
    finally:
        await db.close()


class Api:
    def __init__(self, tmp: Path, n: int, port: int) -> None:
        self.tmp, self.n, self.port = tmp, n, port
        self.proc: subprocess.Popen[bytes] | None = None
        self.token = ""

    def start(self) -> None:
        dbfile = self.tmp / f"fenster-{time.monotonic_ns()}.sqlite3"
        settings = Settings(database_url=f"sqlite://{dbfile}", schedule_interval=0, mail_interval=0)
        self.token = asyncio.run(world(settings, self.n))
        code = (
            "import uvicorn; from api.app import create_app; from api.settings import Settings;"
            f"uvicorn.run(create_app(Settings(database_url='sqlite://{dbfile}',"
            " schedule_interval=0, mail_interval=0)),"
            f" host='127.0.0.1', port={self.port}, log_level='warning')"
        )
        self.proc = subprocess.Popen([sys.executable, "-c", code], cwd=ROOT)
        for _ in range(200):
            try:
                httpx.get(f"http://127.0.0.1:{self.port}/healthz", timeout=1)
                return
            except httpx.TransportError:
                time.sleep(0.1)
        raise RuntimeError("API did not start")

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait()


def reset(daemon: Daemon, conn: libvirt.virConnect, n: int, running: bool) -> None:
    for name in names(n):
        try:
            dom = conn.lookupByName(name)
            if dom.isActive():
                dom.destroy()
            dom.undefine()
        except libvirt.libvirtError:
            pass
        dom = conn.defineXML(domain_xml(name, daemon.root / "guests" / f"{name}.log"))
        if running:
            dom.create()


def plain(conn: libvirt.virConnect, n: int, timeout: float, running: bool) -> float:
    """The same libvirt calls as the agent's memory resize, without the agent."""
    start = time.perf_counter()
    for name in names(n):
        dom = conn.lookupByName(name)
        if running:
            dom.shutdown()
            deadline = time.monotonic() + timeout
            while dom.isActive() and time.monotonic() < deadline:
                time.sleep(0.2)
            if dom.isActive():
                dom.destroy()
        dom.setMaxMemory(320 * KIB)
        dom.setMemoryFlags(320 * KIB, libvirt.VIR_DOMAIN_AFFECT_CONFIG)
        if running:
            dom.create()
    return time.perf_counter() - start


def agent(api: Api, daemon: Daemon, state: Path, timeout: float) -> tuple[float, dict]:
    env = {**os.environ, "FENSTER_AGENT_TOKEN": api.token}
    cmd = [
        AGENT,
        "--api",
        f"http://127.0.0.1:{api.port}/graphql",
        "--uri",
        daemon.uri,
        "--state-dir",
        str(state),
        "--shutdown-timeout",
        str(timeout),
        "once",
    ]
    start = time.perf_counter()
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
    took = time.perf_counter() - start
    if done.returncode != 0:
        raise RuntimeError(done.stderr)
    return took, json.loads(done.stdout)


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--guests", type=int, default=10)
    p.add_argument("--shutdown-timeout", type=float, default=1.0)
    p.add_argument("--port", type=int, default=8231)
    args = p.parse_args()
    if why := missing():
        print(f"bench_agent: skipped: {why}")
        return 0
    n, timeout = args.guests, args.shutdown_timeout
    sweep()  # what a killed tier or benchmark left behind
    daemon = Daemon()
    daemon.prepare()
    daemon.start()
    tmp = Path(tempfile.mkdtemp(prefix="fenster-bench-agent-"))
    api = Api(tmp, n, args.port)
    try:
        conn = libvirt.open(daemon.uri)
        conn.getCapabilities()  # QEMU's capabilities probe, once, not timed
        for running in (True, False):
            what = "running" if running else "shut off"
            reset(daemon, conn, n, running)
            raw = plain(conn, n, timeout, running)
            reset(daemon, conn, n, running)
            api.start()
            took, summary = agent(api, daemon, tmp / f"state-{what}", timeout)
            idle, _ = agent(api, daemon, tmp / f"state-{what}", timeout)  # nothing due now
            api.stop()
            states = {w["state"] for w in summary["windows"]}
            assert states == {"completed"} and len(summary["windows"]) == n, summary
            ratio = took / raw
            print(f"{n} {what} guests, one memory resize each (shutdown timeout {timeout:g} s):")
            print(f"  plain libvirt script : {raw:7.3f} s")
            print(f"  fenster-agent once   : {took:7.3f} s   ratio {ratio:.2f}x", end="")
            if running:
                print("   goal <= 1.10x:", "met" if ratio <= 1.1 else "MISSED")
            else:
                print()
                print(f"  fixed cost: {took - raw:7.3f} s over the plain calls; of it, an agent")
                print(f"  cycle with nothing due (process start, inventory, dueWork): {idle:.3f} s")
    finally:
        api.stop()
        daemon.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
