"""Serve a real fenster API for the agent's end-to-end tests (run as a subprocess):

    python -m tests.agents.api_world SQLITE_PATH PORT TOKEN_FILE [SCENARIO]

SCENARIO is changes (the default), host-reboot, real, guest, guest-window, hooks or
hooks-kernel.

Migrates a fresh SQLite database, builds host kvm01 with the VMs of nodes/kvm01.xml through
api.services and gives them windows that started five minutes ago: "changes" (default):
web01 memory, cores and kernel changed (three activities), db01 a reboot; "host-reboot": the
forced host reboot windows of window_ops.force_host_reboot; "real" (the real-hypervisor tier's
small guests): web01 memory 256 -> 320 MiB and 1 -> 2 cores, db01 a reboot, k01 kernel
fenster-a -> fenster-b, bad01 a kernel that is not in /boot. Then it writes an agent token for
kvm01 to TOKEN_FILE (for "guest": web01 with a due system_update, and a guest token for web01;
"guest-window": web01's window holds a reboot and a system_update, db01's only a
system_update; "hooks": web01's window holds a reboot, "hooks-kernel" its kernel 2.6.32 ->
2.6.38, and a guest token for web01 is written to guest-token beside the database) and
serves the app with uvicorn on 127.0.0.1:PORT until terminated.
"""

from __future__ import annotations

import asyncio
import sys
from datetime import UTC, datetime, time, timedelta
from pathlib import Path

import uvicorn

from api import db
from api.app import create_app
from api.models import Activity, Machine, Window
from api.services import activities, groups, machines, tokens, window_ops
from api.settings import Settings

__all__ = ["build", "main"]


async def _vm(
    host: Machine, group: object, name: str, cores: int, mib: int, kernel: str | None = "2.6.32"
) -> Machine:
    vm = await machines.register_machine(
        "test",
        name=name,
        group=group,  # type: ignore[arg-type]
        host=host,
        desired_cores=cores,
        desired_memory_mib=mib,
        desired_kernel=kernel,
    )
    vm.observed_cores, vm.observed_memory_mib = cores, mib
    vm.observed_kernel, vm.observed_state = kernel, "running"
    await vm.save()
    return vm


async def _window(vm: Machine, work: list[Activity], now: datetime) -> None:
    window = await Window.create(
        machine=vm,
        starts_at=now - timedelta(minutes=5),
        ends_at=now + timedelta(hours=1),
        reason="test: due now",
    )
    await Activity.filter(id__in=[a.id for a in work]).update(state="scheduled", window=window)


async def build(settings: Settings, scenario: str = "changes") -> str:
    await db.init(settings)
    try:
        await db.migrate()
        ops = await groups.create_group(
            "test",
            name="ops",
            contacts=["ops@provider.example"],
            timezone="UTC",
            window_start=time(6, 0),
            window_minutes=120,
            weekdays=[0, 1, 2, 3, 4, 5, 6],
            notice_minutes=0,
        )
        host = await machines.register_machine(
            "test",
            name="kvm01",
            group=ops,
            kind="host",
            desired_cores=24,
            desired_memory_mib=65536,
            auto_schedule=False,
        )
        now = datetime.now(UTC)
        if scenario == "real":
            await _real(host, ops, now)
            _, secret = await tokens.create_token(
                "test", name="kvm01 agent", role="agent", host=host
            )
            return secret
        web = await _vm(host, ops, "web01", 2, 2048)
        if scenario == "guest":  # a rollout's system_update of web01, due since a minute
            host.cpu_model = "AMD EPYC 7302P 16-Core Processor"
            await host.save()
            await Activity.create(
                machine=web,
                kind="system_update",
                state="scheduled",
                not_before=now - timedelta(minutes=1),
                requested_by="test",
            )
            _, secret = await tokens.create_token("test", name="web01", role="guest", machine=web)
            return secret
        dbvm = await _vm(host, ops, "db01", 1, 1024)
        if scenario == "host-reboot":
            forced = await window_ops.force_host_reboot(
                "test", host, now + timedelta(seconds=1), settings=settings
            )  # then moved into the past: due now
            await Window.filter(id__in=[w.id for w in forced]).update(
                starts_at=now - timedelta(minutes=5)
            )
        elif scenario in ("hooks", "hooks-kernel"):  # and a guest token for web01 beside
            if scenario == "hooks":
                work = [await activities.queue_activity("test", web, "reboot")]
            else:
                work = await machines.change_desired("test", web, desired_kernel="2.6.38")
            await _window(web, work, now)
            _, guest = await tokens.create_token("test", name="web01", role="guest", machine=web)
            (Path(settings.maildir).parent / "guest-token").write_text(guest + "\n")
        elif scenario == "guest-window":  # system updates inside the host agent's windows
            reboot = await activities.queue_activity("test", web, "reboot")
            both = [reboot, await activities.queue_activity("test", web, "system_update")]
            await _window(web, both, now)
            await _window(
                dbvm, [await activities.queue_activity("test", dbvm, "system_update")], now
            )
        else:
            changed = await machines.change_desired(
                "test", web, desired_memory_mib=8192, desired_cores=4, desired_kernel="2.6.38"
            )
            await _window(web, changed, now)
            reboot = await activities.queue_activity("test", dbvm, "reboot")
            await _window(dbvm, [reboot], now)
        _, secret = await tokens.create_token("test", name="kvm01 agent", role="agent", host=host)
    finally:
        await db.close()
    return secret


async def _real(host: Machine, ops: object, now: datetime) -> None:
    web = await _vm(host, ops, "web01", 1, 256, None)
    await _window(
        web,
        await machines.change_desired("test", web, desired_memory_mib=320, desired_cores=2),
        now,
    )
    dbvm = await _vm(host, ops, "db01", 1, 256, None)
    await _window(dbvm, [await activities.queue_activity("test", dbvm, "reboot")], now)
    k01 = await _vm(host, ops, "k01", 1, 256, "fenster-a")
    await _window(k01, await machines.change_desired("test", k01, desired_kernel="fenster-b"), now)
    bad = await _vm(host, ops, "bad01", 1, 256, None)
    await _window(bad, await machines.change_desired("test", bad, desired_kernel="2.6.39"), now)


def main(argv: list[str]) -> int:
    path, port, token_file = Path(argv[0]), int(argv[1]), Path(argv[2])
    scenario = argv[3] if len(argv) > 3 else "changes"
    settings = Settings(
        database_url=f"sqlite://{path}",
        port=port,
        maildir=str(path.parent / "mail"),
        site_dir=str(path.parent / "site"),
        operator_contacts="noc@provider.example",
        schedule_interval=0,
        mail_interval=0,
        site_interval=0,
    )
    token_file.write_text(asyncio.run(build(settings, scenario)) + "\n")
    uvicorn.run(create_app(settings), host="127.0.0.1", port=port, log_level="warning")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
