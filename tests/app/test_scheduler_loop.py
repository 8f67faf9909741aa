"""The periodic scheduling pass that `fenster serve` runs in the app's lifespan."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import time

from tortoise.context import TortoiseContext

from api.app import background_loops, create_app
from api.models import Activity, Machine, ResourceGroup, Window
from api.settings import Settings


async def test_serve_runs_the_scheduler_periodically(
    db: TortoiseContext, settings: Settings
) -> None:
    group = await ResourceGroup.create(
        name="acme", contacts=["ops@acme.example"], timezone="UTC", window_start=time(2, 0)
    )
    host = await Machine.create(name="kvm1", kind="host", group=group)
    vm = await Machine.create(name="vm1", kind="vm", group=group, host=host)
    await Activity.create(machine=vm, kind="reboot", estimate_minutes=5)
    app = create_app(replace(settings, schedule_interval=3600), manage_db=False)
    async with app.router.lifespan_context(app):
        for _ in range(100):
            if await Window.all().count():
                break
            await asyncio.sleep(0.05)
    [w] = await Window.all()
    assert w.machine_id == vm.id  # type: ignore[attr-defined]


def test_interval_zero_disables_the_loop(settings: Settings) -> None:
    loops = {
        name: every for name, every, _ in background_loops(replace(settings, schedule_interval=0))
    }
    assert loops["scheduler"] == 0
