"""The seed's week replayed on the demo world under a controlled clock, up to the first wave.

Wednesday: the demo world holds the seed's rollout, announced (settings mail first, then one
mail per group with its windows). Friday: the storage trouble; the rollout is delayed, what was
pending is cancelled and every affected group is told. New dates six days away are refused;
eight days away are announced again. All along, a group's feed shows its VMs' system updates
at their waves' starts: confirmed, then cancelled, then at the new dates.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import httpx
import icalendar
import pytest
from tortoise.context import TortoiseContext

from api.demo import SEED_ROLLOUT, load_demo
from api.errors import ValidationError
from api.models import (
    Activity,
    Machine,
    Notification,
    ResourceGroup,
    Rollout,
    RolloutMember,
    Wave,
    Window,
)
from api.notify.mailer import run_once
from api.principal import Principal
from api.scheduling import Policy, occurrences
from api.services.rollout_changes import delay_rollout, resume_rollout
from api.services.window_ops import schedule_at
from api.settings import Settings

WEDNESDAY = datetime(2027, 3, 3, 9, 0, tzinfo=UTC)
FRIDAY = WEDNESDAY + timedelta(days=2)


@pytest.fixture
def ops(settings: Settings) -> Settings:
    return replace(settings, site_timezone="Europe/Berlin")


async def kinds_in_order() -> list[str]:
    return [n.kind for n in await Notification.all().order_by("id")]


async def feed_updates(
    client: httpx.AsyncClient, group: ResourceGroup
) -> dict[str, tuple[str, datetime]]:
    """The group feed's system updates: UID -> (STATUS, start in UTC)."""
    r = await client.get(f"/feeds/{group.name}.ics?token={group.feed_token}")
    assert r.status_code == 200
    return {
        str(e["UID"]): (str(e["STATUS"]), e.decoded("DTSTART").astimezone(UTC))
        for e in icalendar.Calendar.from_ical(r.content).walk("VEVENT")
        if str(e["UID"]).startswith("system-update-")
    }


async def test_the_seeds_week(
    db: TortoiseContext, ops: Settings, client: httpx.AsyncClient
) -> None:
    await load_demo(now=WEDNESDAY, settings=ops)
    rollout = await Rollout.get(name=SEED_ROLLOUT)
    assert rollout.state == "announced"
    # acme's feed: each of its VMs' system update at its wave's start
    acme = await ResourceGroup.get(name="acme")
    waves_of = {
        m.machine_id: m.wave.starts_at
        for m in await RolloutMember.filter(
            rollout=rollout, machine__group_id=acme.id, machine__kind="vm"
        ).prefetch_related("wave")
    }
    announced = await feed_updates(client, acme)
    assert sorted(s for _, s in announced.values()) == sorted(waves_of.values())
    assert {status for status, _ in announced.values()} == {"CONFIRMED"}
    waves = await Wave.filter(rollout=rollout).order_by("position")
    assert f"{waves[0].starts_at:%a %Y-%m-%d %H:%M}" == "Mon 2027-03-15 06:00"  # 07:00 Berlin
    saturday = waves[-1].starts_at
    assert f"{saturday:%a %H:%M}" == "Sat 08:00"

    # sakura-db01's automatic scheduling is off: the operator books its activation by hand,
    # in its group's first regular window after its wave, as the preview's conflict says
    db01 = await Machine.get(name="sakura-db01").prefetch_related("group")
    member = await RolloutMember.get(rollout=rollout, machine=db01).prefetch_related("wave")
    g = db01.group
    policy = Policy(g.timezone, g.window_start, g.window_minutes, tuple(g.weekdays))
    first = next(iter(occurrences(policy, member.wave.starts_at, saturday)))
    await schedule_at(
        Principal.of("admin", "admin:ops"), db01, first.starts_at, now=WEDNESDAY, settings=ops
    )

    # settings mail comes first, then window mail
    kinds = await kinds_in_order()
    assert "group_settings" in kinds and "rollout_announced" in kinds
    assert max(i for i, k in enumerate(kinds) if k == "group_settings") < min(
        i for i, k in enumerate(kinds) if k == "rollout_announced"
    )
    result = await run_once(ops)
    assert result.failed == 0 and result.sent >= len(kinds)

    # every VM: exactly one activation window after its wave, one host-reboot window Saturday
    for vm in await Machine.filter(kind="vm"):
        member = await RolloutMember.get(rollout=rollout, machine=vm).prefetch_related("wave")
        activation = await Window.filter(
            machine=vm, activities__kind="kernel_update", activities__rollout_id=rollout.id
        ).distinct()
        assert len(activation) == 1, vm.name
        kernel = Activity.filter(
            machine=vm, kind="kernel_update", state__in=["queued", "scheduled"]
        )
        assert await kernel.count() == 1, vm.name  # a kernel update queued before is adopted
        assert member.wave.starts_at <= activation[0].starts_at, vm.name
        reboots = await Window.filter(machine=vm, forced=True, state="planned")
        assert [w.starts_at for w in reboots] == [saturday], vm.name

    # Friday: the rollout is delayed; what was pending is cancelled; every group is told
    await Notification.all().update(state="sent")
    rollout = await delay_rollout(
        "admin:ops", rollout, "A stability issue in the storage system.", now=FRIDAY, settings=ops
    )
    assert await Activity.filter(rollout=rollout, state__in=["queued", "scheduled"]).count() == 0
    assert not await Window.filter(activities__rollout_id=rollout.id, state="planned").exists()
    fresh = await Notification.filter(state="pending").prefetch_related("group")
    told = Counter(n.kind for n in fresh)
    members = await RolloutMember.filter(rollout=rollout).prefetch_related("machine__group")
    affected = {m.machine.group.name for m in members}
    assert {n.group.name for n in fresh if n.kind == "rollout_delayed"} == affected
    assert told["window_cancelled"] >= await Machine.filter(kind="vm").count() * 2
    # the feed keeps the same events, cancelled, so subscribed calendars drop them
    assert await feed_updates(client, acme) == {
        uid: ("CANCELLED", start) for uid, (_, start) in announced.items()
    }

    # new dates: six days away refused (naming the date), eight days away announced
    pending = await Wave.filter(rollout=rollout, state="pending").order_by("position")
    offsets = [w.starts_at - pending[0].starts_at for w in pending]
    six = [FRIDAY + timedelta(days=6) + o for o in offsets]
    with pytest.raises(ValidationError) as exc:
        await resume_rollout("admin:ops", rollout, six, now=FRIDAY, settings=ops)
    assert "less than 7 days from now" in str(exc.value)
    assert (await Rollout.get(id=rollout.id)).state == "delayed"
    eight = [FRIDAY + timedelta(days=8) + o for o in offsets]
    rollout = await resume_rollout("admin:ops", rollout, eight, now=FRIDAY, settings=ops)
    assert rollout.state == "announced"
    again = await Notification.filter(kind="rollout_announced", state="pending")
    assert again and all(n.payload["resumed"] for n in again)
    # the new dates are new events; the cancelled ones stay cancelled
    resumed = await feed_updates(client, acme)
    new = {uid: v for uid, v in resumed.items() if uid not in announced}
    assert {uid: resumed[uid][0] for uid in announced} == dict.fromkeys(announced, "CANCELLED")
    assert len(new) == len(announced) and {s for s, _ in new.values()} == {"CONFIRMED"}
    moved = eight[0] - pending[0].starts_at  # every wave moved alike
    assert sorted(t for _, t in new.values()) == sorted(t + moved for t in waves_of.values())
