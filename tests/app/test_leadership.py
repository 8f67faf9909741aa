"""The leader lease: one process runs the led duties; another takes over when it stops."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import UTC, datetime, time, timedelta

from tortoise.context import TortoiseContext

from api.app import create_app
from api.models import Activity, Lease, Machine, ResourceGroup, Window
from api.services.leadership import Leadership
from api.settings import Settings

T0 = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
LEASE = timedelta(seconds=30)


async def test_one_leader_at_a_time_and_takeover_after_expiry(db: TortoiseContext) -> None:
    a, b = Leadership("node-a", LEASE), Leadership("node-b", LEASE)
    assert await a.beat(T0) and a.held(T0)
    assert not await b.beat(T0) and not b.held(T0)
    # a renews within its lease: b still follows
    assert await a.beat(T0 + timedelta(seconds=10))
    assert not await b.beat(T0 + timedelta(seconds=39))
    # a stops beating (killed): its lease runs out, b takes over, a learns it lost
    assert not a.held(T0 + timedelta(seconds=40 - a.beat_every + 1))  # stops before expiry
    assert await b.beat(T0 + timedelta(seconds=41)) and b.held(T0 + timedelta(seconds=41))
    assert not await a.beat(T0 + timedelta(seconds=42)) and not a.held(T0 + timedelta(seconds=42))
    lease = await Lease.get(name="leader")
    assert (lease.holder, lease.acquired_at) == ("node-b", T0 + timedelta(seconds=41))


async def test_a_clean_stop_hands_over_at_once(db: TortoiseContext) -> None:
    a, b = Leadership("node-a", LEASE), Leadership("node-b", LEASE)
    assert await a.beat(T0)
    await a.release()
    assert not a.held(T0)
    assert await b.beat(T0 + timedelta(seconds=1))


async def _group_with_work() -> None:
    group = await ResourceGroup.create(
        name="acme", contacts=["ops@acme.example"], timezone="UTC", window_start=time(2, 0)
    )
    host = await Machine.create(name="kvm1", kind="host", group=group)
    vm = await Machine.create(name="vm1", kind="vm", group=group, host=host)
    await Activity.create(machine=vm, kind="reboot", estimate_minutes=5)


async def test_a_follower_books_nothing_until_it_leads(
    db: TortoiseContext, settings: Settings
) -> None:
    await _group_with_work()
    other = Leadership("another-node", timedelta(seconds=3))
    assert await other.beat()
    app = create_app(
        replace(settings, schedule_interval=1, leader_lease_seconds=3), manage_db=False
    )
    async with app.router.lifespan_context(app):
        await asyncio.sleep(1.5)
        assert await Window.all().count() == 0  # another process leads: this one waits
        # the other leader stops beating: within a lease and a beat, this process leads
        for _ in range(100):
            if await Window.all().count():
                break
            await asyncio.sleep(0.1)
        assert await Window.all().count() == 1
        lease = await Lease.get(name="leader")
        assert lease.holder != "another-node"
    assert await Lease.filter(name="leader").count() == 0  # given up on a clean stop
