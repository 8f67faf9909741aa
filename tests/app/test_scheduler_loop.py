"""The periodic scheduling pass that `fenster serve` runs in the app's lifespan."""

from __future__ import annotations

import asyncio
import threading
import time as time_module
from dataclasses import replace
from datetime import time

import httpx
import pytest
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
    loops = {d.name: d.every for d in background_loops(replace(settings, schedule_interval=0))}
    assert loops["scheduler"] == 0


async def test_a_long_plan_leaves_the_server_answering(
    db: TortoiseContext, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Planning runs in a worker thread: while a (here deliberately slow) plan is computed in
    the serving process, /healthz still answers at once."""
    import api.services.scheduling as scheduling

    group = await ResourceGroup.create(
        name="acme", contacts=["ops@acme.example"], timezone="UTC", window_start=time(2, 0)
    )
    await Activity.create(
        machine=await Machine.create(name="m1", kind="infrastructure", group=group),
        kind="reboot",
        estimate_minutes=5,
    )
    planning, planned = threading.Event(), threading.Event()
    real_plan = scheduling.plan

    def slow_plan(inp: object) -> object:
        planning.set()
        time_module.sleep(1.5)  # a pass over 100,000 activities, compressed
        planned.set()
        return real_plan(inp)  # type: ignore[arg-type]

    monkeypatch.setattr(scheduling, "plan", slow_plan)
    app = create_app(replace(settings, schedule_interval=3600), manage_db=False)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            for _ in range(200):
                if planning.is_set():
                    break
                await asyncio.sleep(0.01)
            assert planning.is_set()
            started = time_module.perf_counter()
            answer = await client.get("/healthz")
            waited = time_module.perf_counter() - started
        assert answer.status_code == 200
        # answered while the planner still works (on the loop, nothing ran until it was done)
        assert not planned.is_set(), "/healthz was answered only after the plan"
        assert waited < 0.75, f"/healthz waited {waited:.2f} s for the planner"
        for _ in range(300):
            if await Window.all().count():
                break
            await asyncio.sleep(0.02)
    assert await Window.all().count() == 1
