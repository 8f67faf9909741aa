"""Rollouts over the demo world: create from the template, preview (nothing written)."""

from __future__ import annotations

from collections import Counter
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from tortoise.context import TortoiseContext

from api.demo import load_demo
from api.errors import ValidationError
from api.models import Activity, AuditEvent, Machine, Notification, Rollout, Wave, Window
from api.scheduling.rollout import ConflictKind
from api.scheduling.waves import default_waves
from api.services import rollouts
from api.settings import Settings

# Wednesday of the week before the seed's (29 Aug - 2 Sep 2011 in the seed; here 2027).
NOW = datetime(2027, 3, 3, 9, 0, tzinfo=UTC)


async def counts() -> tuple[int, ...]:
    return (
        await Rollout.all().count(),
        await Wave.all().count(),
        await Window.all().count(),
        await Activity.all().count(),
        await Notification.all().count(),
        await AuditEvent.all().count(),
    )


@pytest.fixture
def ops(settings: Settings) -> Settings:
    return replace(settings, site_timezone="Europe/Berlin")


async def test_preview_of_the_seeds_week_writes_nothing(db: TortoiseContext, ops: Settings) -> None:
    await load_demo()
    r = await rollouts.create_rollout(
        "admin:ops",
        name="su-2027-03",
        title="System update",
        kernel="2.6.38",
        now=NOW,
        settings=ops,
    )
    waves = await rollouts.wave_specs(r)
    assert [f"{w.starts_at:%a %d %H:%M}" for w in waves] == [
        "Mon 08 06:00",
        "Mon 08 18:00",
        "Tue 09 18:00",
        "Wed 10 18:00",
        "Thu 11 18:00",
        "Sat 13 08:00",
    ]  # 07:00, 19:00 and 09:00 in Berlin (CET)
    before = await counts()
    preview = await rollouts.preview_rollout(r, now=NOW, settings=ops)
    assert await counts() == before

    plan = preview.plan
    vms = {m.id: m for m in await Machine.filter(kind="vm")}
    hosts = {m.id for m in await Machine.filter(kind="host")}
    # every VM: one activation after its wave, before the host reboot (or a conflict why not)
    activated = Counter(a.machine_id for a in plan.activations)
    assert set(activated) == set(vms) - {m.id for m in vms.values() if not m.auto_schedule}
    assert set(activated.values()) == {1}
    for a in plan.activations:
        assert a.starts_at is None or a.starts_at >= waves[a.wave].starts_at
    # every VM and host: one host-reboot window on Saturday
    rebooted = Counter(h.machine_id for h in plan.host_reboots)
    assert set(rebooted) == set(vms) | hosts and set(rebooted.values()) == {1}
    assert {h.starts_at for h in plan.host_reboots} == {waves[5].starts_at}
    # the representative wave holds each group's web01
    rep = {preview.machine_names[i] for i in plan.waves[1].machine_ids}
    assert rep == {n for n in preview.machine_names.values() if n.endswith("-web01")}
    kinds = Counter(c.kind for c in plan.conflicts)
    assert kinds[ConflictKind.AUTO_SCHEDULE_OFF] == 1  # sakura-db01
    # the groups with a week's notice cannot be told on Wednesday about Monday
    assert {preview.group_names[g] for g in plan.late_groups} == {"acme", "sakura"}
    assert plan.load and all(n >= 1 for _, _, n in plan.load)


async def test_bad_waves_are_refused_with_every_problem(db: TortoiseContext, ops: Settings) -> None:
    template = default_waves(NOW.date() + timedelta(days=7), "UTC")
    bad = [replace(template[0], starts_at=NOW - timedelta(days=1)), *template[1:]]
    bad[2] = replace(bad[2], percent=90, threshold=-0.1)
    before = await counts()
    with pytest.raises(ValidationError) as exc:
        await rollouts.create_rollout(
            "admin:ops",
            name="Bad Name",
            title="",
            waves=bad,
            releases=[("linux", "9")],
            now=NOW,
            settings=ops,
        )
    fields = {e.field for e in exc.value.errors}
    assert fields == {
        "name",
        "title",
        "waves[0].startsAt",
        "waves[2].failureThreshold",
        "waves",
        "releases",
    }
    assert await counts() == before


async def test_a_preview_refuses_an_empty_wave_and_past_waves(
    db: TortoiseContext, ops: Settings
) -> None:
    r = await rollouts.create_rollout("admin:ops", name="su", title="S", now=NOW, settings=ops)
    with pytest.raises(ValidationError) as exc:  # no machines at all: every wave is empty
        await rollouts.preview_rollout(r, now=NOW, settings=ops)
    assert len(exc.value.errors) == 6
    with pytest.raises(ValidationError) as exc:
        await rollouts.preview_rollout(r, now=NOW + timedelta(days=30), settings=ops)
    assert all("in the past" in e.message for e in exc.value.errors)
