"""The seed's week served for real, under a clock the test moves (run as a subprocess):

    python -m tests.agents.seed_server WORKDIR PORT [DATABASE_URL]

Loads the demo world at Wednesday 2027-03-03 09:00 UTC (the seed's rollout announced for the
week of Monday 2027-03-15) into the database (WORKDIR/fenster.sqlite3 unless given: a
PostgreSQL database must exist and be empty), writes WORKDIR/world.json (an admin
token, an agent token per host, a guest token per VM and infrastructure machine), writes one
libvirt test-driver node per host under WORKDIR/nodes/ (its VMs as the directory knows them),
and serves `fenster serve`'s app, background duties included, on 127.0.0.1:PORT. Started
again on the same WORKDIR (after a kill), it serves what is there, its clock where it was.

The clock: time-machine moves this process's wall clock (``datetime.now``, ``time.time``),
not its monotonic clock, so the wave engine and the scheduler still run every second of real
time. One test-only route, ``POST /_clock {"to": ISO}``, moves the clock forward (never back)
and then runs one pass of each led duty (rollouts, scheduler, reminders, watchdog) and the
mailer, so that what is due at the new time has happened when it answers. Agents are separate
processes on the real clock: what is due is the directory's decision, on its clock.
"""

from __future__ import annotations

import asyncio
import json
import sys
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from xml.sax.saxutils import escape

import time_machine
import uvicorn
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from api import db
from api.app import background_loops, create_app
from api.demo import load_demo
from api.models import Machine
from api.services import tokens
from api.settings import Settings

__all__ = ["WEDNESDAY", "main"]

WEDNESDAY = datetime(2027, 3, 3, 9, 0, tzinfo=UTC)


def node_xml(host: Machine, vms: list[Machine]) -> str:
    """A test-driver node holding ``vms`` as the directory observed them, all running (the
    driver takes a CPU model of at most 31 characters)."""
    domains = []
    for i, vm in enumerate(vms):
        kernel = f"<kernel>/boot/vmlinuz-{escape(vm.observed_kernel)}</kernel>"
        domains.append(
            f"""  <domain type="test">
    <name>{escape(vm.name)}</name>
    <uuid>6695eb01-f6a4-8304-79aa-{host.id:04x}{i:08x}</uuid>
    <memory unit="MiB">{vm.observed_memory_mib * 2}</memory>
    <currentMemory unit="MiB">{vm.observed_memory_mib}</currentMemory>
    <vcpu current="{vm.observed_cores}">{host.desired_cores}</vcpu>
    <os><type arch="{vm.arch}">hvm</type>{kernel if vm.observed_kernel else ""}</os>
    <on_poweroff>destroy</on_poweroff><on_reboot>restart</on_reboot><on_crash>destroy</on_crash>
  </domain>"""
        )
    return f"""<?xml version="1.0"?>
<node>
  <cpu><mhz>2200</mhz><model>{escape((host.cpu_model or "")[:31])}</model><nodes>1</nodes>
    <sockets>2</sockets><cores>12</cores><threads>1</threads><active>24</active></cpu>
  <memory>{host.desired_memory_mib * 1024}</memory>
{chr(10).join(domains)}
</node>
"""


async def build(settings: Settings, workdir: Path) -> None:
    await db.init(settings)
    try:
        await db.migrate()
        with time_machine.travel(WEDNESDAY, tick=True):
            await load_demo(workdir, settings=settings, now=WEDNESDAY)
        world: dict[str, object] = {"hosts": {}, "guests": {}, "nodes": {}}
        _, world["admin"] = await tokens.create_token("test", name="seed admin", role="admin")
        nodes = workdir / "nodes"
        nodes.mkdir(exist_ok=True)
        for host in await Machine.filter(kind="host").order_by("name"):
            _, secret = await tokens.create_token(
                "test", name=f"{host.name} agent", role="agent", host=host
            )
            world["hosts"][host.name] = secret  # type: ignore[index]
            vms = await Machine.filter(host=host).order_by("name")
            path = nodes / f"{host.name}.xml"
            path.write_text(node_xml(host, vms))
            world["nodes"][host.name] = str(path)  # type: ignore[index]
        for m in await Machine.filter(kind__in=["vm", "infrastructure"]).order_by("name"):
            _, secret = await tokens.create_token(
                "test", name=f"{m.name} guest", role="guest", machine=m
            )
            world["guests"][m.name] = secret  # type: ignore[index]
        (workdir / "world.json").write_text(json.dumps(world, indent=1))
    finally:
        await db.close()


def clock_route(settings: Settings, traveller: time_machine.Coordinates, saved: Path) -> Route:
    duties = [d for d in background_loops(settings) if d.name != "site"]

    async def move(request: Request) -> Response:
        to = datetime.fromisoformat((await request.json())["to"])
        if to > datetime.now(UTC):  # forward only: an earlier time runs the duties, no more
            traveller.move_to(to)
            saved.write_text(to.isoformat())  # noqa: ASYNC240 - a few bytes, test only
        for duty in duties:
            await duty.run(settings)
        return JSONResponse({"now": datetime.now(UTC).isoformat()})

    return Route("/_clock", move, methods=["POST"])


def main(argv: list[str]) -> int:
    workdir, port = Path(argv[0]), int(argv[1])
    database = argv[2] if len(argv) > 2 else f"sqlite://{workdir / 'fenster.sqlite3'}"
    settings = Settings(
        database_url=database,
        port=port,
        maildir=str(workdir / "mail"),
        site_dir=str(workdir / "site"),
        site_timezone="Europe/Berlin",
        operator_contacts="ops@provider.example",
        link_secret="seed-week-test",
        schedule_interval=1,
        # the mail duties run from the clock route only: a drain in flight while the clock
        # jumps hours ahead would see its own claims' 10-minute leases run out, and a second
        # drain would send those rows again (a real clock moves 10 minutes in 10 minutes)
        mail_interval=0,
        rollout_interval=1,
        watchdog_interval=1,
        site_interval=0,
        leader_lease_seconds=3,
    )
    saved = workdir / "clock"
    if not (workdir / "world.json").exists():
        asyncio.run(build(settings, workdir))
        saved.write_text(WEDNESDAY.isoformat())
    # started again after a kill: the clock goes on from the last time it was moved to
    traveller = time_machine.travel(datetime.fromisoformat(saved.read_text()), tick=True).start()
    app = create_app(replace(settings))
    app.router.routes.insert(0, clock_route(settings, traveller, saved))
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
