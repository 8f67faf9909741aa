"""A rollout delayed while its VM waves are done and one host is rebooted, then resumed on new
dates through GraphQL: every host not yet rebooted gets one forced host-reboot window again, on
the new dates, with the reboots of all its VMs (those of the waves done too) linked to it; the
rebooted host gets none; the groups are told."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx

from api.kinds import ActivityKind
from api.models import Activity, Machine, Notification, ResourceGroup, Rollout, Wave, Window
from api.services import guests
from api.services.rollout_engine import run_rollouts
from api.settings import Settings
from tests.graphql.test_mutations import mutate
from tests.graphql.world import World


async def _forced(machine_id: int) -> list[Window]:
    return await Window.filter(machine_id=machine_id, forced=True, state="planned").order_by("id")


async def _vm_waves_done(settings: Settings, start: datetime) -> Rollout:
    """The VMs' wave starts, every update is done, and it passes its gate."""
    rollout = await Rollout.get(name="su-again")
    assert await run_rollouts(settings, now=start)
    for a in await Activity.filter(rollout=rollout, kind=ActivityKind.SYSTEM_UPDATE):
        at = start + timedelta(minutes=5)
        await guests.start_update("guest:test", a.machine_id, a.id, now=at)
        report = guests.GuestReport(a.id, "done", 0, "ok")
        await guests.report_update("guest:test", a.machine_id, report, now=at)
    assert await run_rollouts(settings, now=start + timedelta(minutes=61))
    states = [w.state for w in await Wave.filter(rollout=rollout).order_by("position")]
    assert states == ["completed", "pending"]
    return rollout


async def test_a_resume_books_the_host_reboots_again_once(
    client: httpx.AsyncClient, world: World, settings: Settings
) -> None:
    start = datetime.now(UTC) + timedelta(days=3)
    value = {
        "name": "su-again",
        "title": "System update",
        "waves": [
            {"name": "VMs", "selector": "REST", "startsAt": start.isoformat(), "soakMinutes": 60},
            {
                "name": "hosts",
                "selector": "HOSTS",
                "startsAt": (start + timedelta(days=2)).isoformat(),
            },
        ],
    }
    await mutate(client, world, "admin", "createRollout", "CreateRolloutInput", value)
    name = {"name": "su-again"}
    out = await mutate(client, world, "admin", "announceRollout", "AnnounceRolloutInput", name)
    assert out["__typename"] == "Rollout", out
    ids = {m.name: m.id for m in await Machine.all()}
    ops, beta = [(await ResourceGroup.get(name=n)).id for n in ("ops", "beta")]
    assert len(await _forced(ids["host1"])) == len(await _forced(ids["beta-db"])) == 1
    rollout = await _vm_waves_done(settings, start)
    # host1 and its VM reboot in this rollout already (as their host agent reports)
    for mid in (ids["host1"], ids["alpha-web"]):
        [w] = await _forced(mid)
        await Activity.filter(window=w).update(state="done")
        await Window.filter(id=w.id).update(state="completed")

    delayed = await mutate(
        client,
        world,
        "admin",
        "delayRollout",
        "DelayRolloutInput",
        {**name, "reason": "Storage trouble."},
        "... on Rollout { state }",
    )
    assert delayed == {"__typename": "Rollout", "state": "delayed"}
    assert await _forced(ids["host2"]) == [] and await _forced(ids["beta-db"]) == []
    told = set(await Notification.filter(kind="rollout_announced").values_list("id", flat=True))

    new_start = datetime.now(UTC) + timedelta(days=settings.renotice_days + 1)
    resumed = await mutate(
        client,
        world,
        "admin",
        "resumeRollout",
        "ResumeRolloutInput",
        {**name, "startsAt": [new_start.isoformat()]},
        "... on Rollout { state }",
    )
    assert resumed == {"__typename": "Rollout", "state": "announced"}, resumed

    [host] = await _forced(ids["host2"])
    [vm] = await _forced(ids["beta-db"])
    for w in (host, vm):
        assert abs(w.starts_at - new_start) < timedelta(seconds=1)
    [reboot] = await Activity.filter(window=vm)
    assert reboot.kind == ActivityKind.REBOOT and reboot.state == "scheduled"
    assert reboot.for_host_reboot_id == ids["host2"] and reboot.rollout_id == rollout.id
    [host_reboot] = await Activity.filter(window=host)
    assert host_reboot.kind == ActivityKind.HOST_REBOOT and host_reboot.state == "scheduled"
    # host1 rebooted in this rollout already: nothing again for it or its VM
    assert await _forced(ids["host1"]) == [] and await _forced(ids["alpha-web"]) == []
    assert (
        await Activity.filter(machine_id=ids["host1"], kind=ActivityKind.HOST_REBOOT).count() == 1
    )

    mails = await Notification.filter(kind="rollout_announced").exclude(id__in=list(told))
    by_group = {n.group_id: n.payload for n in mails}
    assert set(by_group) == {ops, beta}, by_group  # host1's groups have nothing new
    assert all(p["resumed"] is True for p in by_group.values())
    assert by_group[ops]["windows"] == [host.uid] and by_group[beta]["windows"] == [vm.uid]
