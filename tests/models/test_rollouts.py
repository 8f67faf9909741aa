"""Rollouts hold their releases and wave membership."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from tortoise.context import TortoiseContext
from tortoise.exceptions import IntegrityError

from api.models import (
    WAVE_SELECTORS,
    Machine,
    PackageRelease,
    ResourceGroup,
    Rollout,
    RolloutMember,
    Wave,
)
from api.scheduling.waves import WaveSelector

START = datetime(2011, 8, 29, 5, tzinfo=UTC)


async def test_a_rollout_holds_releases_members_and_updates(db: TortoiseContext) -> None:
    group = await ResourceGroup.create(name="acme", contacts=["ops@acme.example"], timezone="UTC")
    host = await Machine.create(name="kvm01", kind="host", group=group, desired_swap_mib=0)
    vm = await Machine.create(name="web01", group=group, host=host)
    linux = await PackageRelease.create(
        name="linux", version="2.6.38", sha256="0" * 64, released_at=START
    )
    rollout = await Rollout.create(name="su-2011-08", title="System update", kernel="2.6.38")
    await rollout.releases.add(linux)
    wave = await Wave.create(
        rollout=rollout, position=1, name="rest", selector="rest", starts_at=START, soak_minutes=720
    )
    await RolloutMember.create(rollout=rollout, wave=wave, machine=vm)

    again = await Rollout.get(id=rollout.id).prefetch_related("releases", "members")
    assert [f"{r.name} {r.version}" for r in again.releases] == ["linux 2.6.38"]
    assert [m.machine_id for m in again.members] == [vm.id]  # type: ignore[attr-defined]
    assert (await Wave.get(id=wave.id)).soak_minutes == 720
    assert again.kernel == "2.6.38" and again.announced_at is None
    with pytest.raises(IntegrityError):  # one wave per machine and rollout
        await RolloutMember.create(rollout=rollout, wave=wave, machine=vm)


def test_wave_selectors_have_one_home() -> None:
    assert WAVE_SELECTORS == tuple(s.value for s in WaveSelector)
