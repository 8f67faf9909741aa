"""A rollout's kernel activation waits for its machine's system update: the guest installs the
new kernel, and a reboot before the update has finished would boot the old one or break the
update. Found by the seed's week with agents (tests/agents/test_seed_week_agents.py): sakura's
windows open at 18:00 UTC, the very minute its waves start. Through GraphQL, as a host agent."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import httpx
import pytest
import time_machine
from tortoise.context import TortoiseContext

from api.demo import SEED_ROLLOUT, load_demo
from api.kinds import ActivityKind
from api.models import Activity, Machine, Rollout, RolloutMember, Wave, Window
from api.services import guests, tokens
from api.services.rollout_engine import run_rollouts
from api.settings import Settings
from tests.graphql.world import gql

WEDNESDAY = datetime(2027, 3, 3, 9, 0, tzinfo=UTC)
DUE = "{ dueWork { uid machine { name } } }"
START = """mutation($uid: String!) { startWindow(input: {window: $uid}) {
  __typename ... on Window { state } ... on ValidationError { message } } }"""


@pytest.fixture
def ops(settings: Settings) -> Settings:
    return replace(settings, site_timezone="Europe/Berlin")


async def test_activation_waits_for_the_update(
    db: TortoiseContext, ops: Settings, client: httpx.AsyncClient
) -> None:
    await load_demo(now=WEDNESDAY, settings=ops)
    rollout = await Rollout.get(name=SEED_ROLLOUT)
    vm = await Machine.get(name="sakura-web01").prefetch_related("host")
    member = await RolloutMember.get(rollout=rollout, machine=vm).prefetch_related("wave")
    [window] = await Window.filter(
        machine=vm, activities__kind=ActivityKind.KERNEL_UPDATE, activities__rollout_id=rollout.id
    ).distinct()
    assert window.starts_at == member.wave.starts_at  # the case: both at 18:00 UTC
    _, token = await tokens.create_token("t", name="agent", role="agent", host=vm.host)
    at = window.starts_at + timedelta(minutes=1)
    # the infrastructure wave runs and passes; then sakura-web01's wave starts
    infra = await Wave.filter(rollout=rollout).order_by("position").first()
    assert infra is not None and infra.id != member.wave.id
    await run_rollouts(ops, now=infra.starts_at)
    for a in await Activity.filter(
        rollout=rollout, kind=ActivityKind.SYSTEM_UPDATE, machine__kind="infrastructure"
    ):
        await guests.start_update("guest:t", a.machine_id, a.id, now=infra.starts_at)  # type: ignore[attr-defined]
        ok = guests.GuestReport(a.id, "done", 0, "ok")
        await guests.report_update("guest:t", a.machine_id, ok, now=infra.starts_at)  # type: ignore[attr-defined]
    await run_rollouts(ops, now=member.wave.starts_at)
    assert (await Wave.get(id=member.wave.id)).state == "running"
    update = await Activity.get(machine=vm, rollout=rollout, kind=ActivityKind.SYSTEM_UPDATE)

    with time_machine.travel(at, tick=False):
        due = (await gql(client, DUE, token=token))["data"]["dueWork"]
        assert window.uid not in {w["uid"] for w in due}
        refused = (await gql(client, START, {"uid": window.uid}, token=token))["data"]
        assert refused["startWindow"]["__typename"] == "ValidationError"
        assert "system update" in refused["startWindow"]["message"]
        assert (await Window.get(id=window.id)).state == "planned"  # nothing changed

        await guests.start_update("guest:t", vm.id, update.id, now=at)
        assert window.uid not in {  # still running: still held
            w["uid"] for w in (await gql(client, DUE, token=token))["data"]["dueWork"]
        }
        done = guests.GuestReport(update.id, "done", 0, "changed: linux 2.6.38")
        await guests.report_update("guest:t", vm.id, done, now=at)
        due = (await gql(client, DUE, token=token))["data"]["dueWork"]
        assert window.uid in {w["uid"] for w in due}
        started = (await gql(client, START, {"uid": window.uid}, token=token))["data"]
        assert started["startWindow"] == {"__typename": "Window", "state": "RUNNING"}


async def test_a_window_without_rollout_work_is_not_held(
    db: TortoiseContext, ops: Settings, client: httpx.AsyncClient
) -> None:
    """Only a rollout's activation waits: the demo's own queued work starts at its time."""
    await load_demo(now=WEDNESDAY, settings=ops, rollout=False)
    from api.services.scheduling import run_pass

    await run_pass(ops, now=WEDNESDAY)
    window = await Window.filter(state="planned").order_by("starts_at").first()
    assert window is not None
    vm = await Machine.get(id=window.machine_id).prefetch_related("host")  # type: ignore[attr-defined]
    _, token = await tokens.create_token("t", name="agent", role="agent", host=vm.host)
    with time_machine.travel(window.starts_at + timedelta(minutes=1), tick=False):
        due = (await gql(client, DUE, token=token))["data"]["dueWork"]
    assert window.uid in {w["uid"] for w in due}
