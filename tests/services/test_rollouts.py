"""Rollouts over the demo world: create from the template, preview (nothing written)."""

from __future__ import annotations

from collections import Counter
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from email import message_from_bytes
from pathlib import Path

import pytest
from tortoise.context import TortoiseContext

from api.demo import load_demo
from api.errors import IllegalTransition, ValidationError
from api.models import (
    Activity,
    Announcement,
    AuditEvent,
    Machine,
    Notification,
    Rollout,
    RolloutMember,
    Wave,
    Window,
)
from api.notify.mailer import run_once
from api.scheduling.rollout import ConflictKind
from api.scheduling.waves import default_waves
from api.services import rollouts
from api.services.rollout_announce import announce_rollout
from api.services.rollout_changes import (
    cancel_rollout,
    delay_rollout,
    post_update,
    resume_rollout,
)
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
    await load_demo(rollout=False)
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
    assert set(activated) == set(vms)
    assert set(activated.values()) == {1}
    for a in plan.activations:
        assert a.starts_at is None or a.starts_at >= waves[a.wave].starts_at
        assert (a.starts_at is None) == (preview.machine_names[a.machine_id] == "sakura-db01")
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


def maildir(path: Path) -> list[bytes]:
    return [p.read_bytes() for p in sorted((path / "new").iterdir())]


async def mails() -> list[tuple[str, str]]:
    rows = await Notification.all().order_by("id").prefetch_related("group")
    return [(n.kind, n.group.name) for n in rows]


async def test_announce_books_every_window_and_queues_one_mail_per_group(
    db: TortoiseContext, ops: Settings
) -> None:
    await load_demo(rollout=False)
    await Notification.all().delete()  # the demo's own mail, as if sent long ago
    r = await rollouts.create_rollout(
        "admin:ops",
        name="su",
        title="System update",
        kernel="2.6.38",
        now=NOW,
        settings=ops,
        week=(NOW + timedelta(days=14)).date(),
    )
    waves = await rollouts.wave_specs(r)
    r = await announce_rollout("admin:ops", r, now=NOW, settings=ops)
    assert r.state == "announced" and r.announced_at == NOW
    vms = await Machine.filter(kind="vm")
    for vm in vms:
        kernel = await Activity.filter(machine=vm, kind="kernel_update", rollout=r)
        assert len(kernel) == 1
        if vm.auto_schedule:
            window = await Window.get(id=kernel[0].window_id)  # type: ignore[attr-defined]
            member = await RolloutMember.get(rollout=r, machine=vm).prefetch_related("wave")
            assert window.starts_at >= member.wave.starts_at and not window.forced
        else:  # sakura-db01: waits for an operator, with the reason
            assert kernel[0].state == "queued" and "automatic scheduling is off" in str(
                kernel[0].blocked_reason
            )
        reboot = await Window.filter(machine=vm, forced=True)
        assert [w.starts_at for w in reboot] == [waves[5].starts_at]
        assert (await Machine.get(id=vm.id)).desired_kernel == "2.6.38"
    assert await Activity.filter(kind="system_update", rollout=r, state="scheduled").count() == (
        await Machine.exclude(kind="host").count()
    )
    sent = await mails()
    # the demo's settings mail was deleted above: every group hears its settings first
    kinds = [k for k, _ in sent]
    assert kinds.index("rollout_announced") > max(
        i for i, k in enumerate(kinds) if k == "group_settings"
    )
    assert sorted(g for k, g in sent if k == "rollout_announced") == sorted(
        {g for k, g in sent if k == "rollout_announced"}
    )
    assert await AuditEvent.filter(action="rollout.announce").count() == 1
    # the mail renders: one message per group, its windows in one calendar file
    result = await run_once(ops)
    assert result.failed == 0 and result.sent == len(sent), result
    acme = [
        message_from_bytes(raw)
        for raw in maildir(Path(ops.maildir))
        if b"X-Fenster-Kind: rollout_announced" in raw and b"X-Fenster-Group: acme" in raw
    ]
    assert len(acme) == 1
    text = acme[0].get_payload()[0].get_payload()[0].get_payload(decode=True).decode()
    assert "Order of events (Europe/Berlin)" in text and "acme-web01" in text
    assert text.count("Machine:") == 2 * await Machine.filter(group__name="acme").count()

    before = await counts()
    with pytest.raises(IllegalTransition):  # announcing twice changes nothing
        await announce_rollout("admin:ops", r, now=NOW, settings=ops)
    assert await counts() == before


async def test_announce_refuses_to_break_a_notice_unless_forced(
    db: TortoiseContext, ops: Settings
) -> None:
    await load_demo(rollout=False)
    r = await rollouts.create_rollout("admin:ops", name="su", title="S", now=NOW, settings=ops)
    before = await counts()
    with pytest.raises(ValidationError) as exc:
        await announce_rollout("admin:ops", r, now=NOW, settings=ops)
    assert {e.message.split(":")[0] for e in exc.value.errors} == {"acme", "sakura"}
    assert await counts() == before
    r = await announce_rollout("admin:ops", r, force=True, now=NOW, settings=ops)
    event = await AuditEvent.get(action="rollout.announce")
    assert event.details["forced"] is True and event.details["late_groups"] == ["acme", "sakura"]


async def test_delay_cancels_what_is_pending_and_resume_needs_a_weeks_notice(
    db: TortoiseContext, ops: Settings
) -> None:
    await load_demo(rollout=False)
    r = await rollouts.create_rollout(
        "admin:ops",
        name="su",
        title="System update",
        now=NOW,
        settings=ops,
        week=(NOW + timedelta(days=14)).date(),
    )
    r = await announce_rollout("admin:ops", r, now=NOW, settings=ops)
    booked = await Window.filter(activities__rollout_id=r.id).distinct()
    await Notification.all().delete()

    with pytest.raises(ValidationError):  # a reason is required; nothing changes
        await delay_rollout("admin:ops", r, "  ", now=NOW, settings=ops)
    r = await delay_rollout(
        "admin:ops", r, "A *stability issue* in storage.", now=NOW, settings=ops
    )
    assert r.state == "delayed"
    for w in await Window.filter(id__in=[w.id for w in booked]):
        # its own windows are cancelled; an older window it had joined keeps its other work
        assert w.state == "cancelled" or "(the system update is delayed)" in w.reason
    assert await Activity.filter(rollout=r, state__in=["queued", "scheduled"]).count() == 0
    sent = await mails()
    delayed = {g for k, g in sent if k == "rollout_delayed"}
    members = await RolloutMember.filter(rollout=r).prefetch_related("machine__group")
    affected = {m.machine.group.name for m in members}
    assert delayed == affected and "acme" in delayed
    assert {k for k, _ in sent} >= {"window_cancelled", "rollout_delayed"}
    page = await Announcement.get(rollout=r)
    assert page.title == "System updates delayed" and page.published_at is not None

    pending = await Wave.filter(rollout=r).order_by("position")
    later = NOW + timedelta(days=6)
    before = await counts()
    with pytest.raises(ValidationError) as exc:
        await resume_rollout(
            "admin:ops",
            r,
            [later + timedelta(hours=i) for i in range(len(pending))],
            now=NOW,
            settings=ops,
        )
    assert "less than 7 days from now" in exc.value.errors[0].message
    assert await counts() == before
    eight = NOW + timedelta(days=8)
    starts = [eight + timedelta(days=i) for i in range(len(pending))]
    r = await resume_rollout("admin:ops", r, starts, now=NOW, settings=ops)
    assert r.state == "announced"
    assert [w.starts_at for w in await Wave.filter(rollout=r).order_by("position")] == starts
    resumed = await Notification.filter(kind="rollout_announced")
    assert resumed and all(n.payload["resumed"] for n in resumed)


async def test_cancel_and_status_updates(db: TortoiseContext, ops: Settings) -> None:
    await load_demo(rollout=False)
    r = await rollouts.create_rollout(
        "admin:ops",
        name="su",
        title="System update",
        now=NOW,
        settings=ops,
        week=(NOW + timedelta(days=14)).date(),
    )
    r = await announce_rollout("admin:ops", r, now=NOW, settings=ops)
    await Notification.all().delete()
    page = await post_update("admin:ops", r, "All **fine** so far.", mail=True, now=NOW)
    assert page.rollout_id == r.id and page.published_at == NOW  # type: ignore[attr-defined]
    assert {k for k, _ in await mails()} == {"announcement"}
    r = await cancel_rollout("admin:ops", r, "not needed after all")
    assert r.state == "cancelled"
    assert await Activity.filter(rollout=r, state__in=["queued", "scheduled"]).count() == 0
    assert {w.state for w in await Wave.filter(rollout=r)} == {"skipped"}
    with pytest.raises(IllegalTransition):
        await delay_rollout("admin:ops", r, "too late", now=NOW, settings=ops)


async def test_only_a_draft_is_edited_and_bad_edits_write_nothing(
    db: TortoiseContext, ops: Settings
) -> None:
    await load_demo(rollout=False)
    r = await rollouts.create_rollout("admin:ops", name="su", title="S", now=NOW, settings=ops)
    template = await rollouts.wave_specs(r)
    shorter = [*template[:4], template[5]]  # no "rest" wave: the last 50 % stay out
    r = await rollouts.update_rollout("admin:ops", r, title="System update", waves=shorter, now=NOW)
    assert [w.selector for w in await rollouts.wave_specs(r)] == [w.selector for w in shorter]
    before = await counts()
    with pytest.raises(ValidationError) as exc:
        await rollouts.update_rollout(
            "admin:ops", r, title="", waves=[replace(shorter[0], threshold=1.2)], now=NOW
        )
    assert {e.field for e in exc.value.errors} == {"title", "waves[0].failureThreshold"}
    assert await counts() == before and (await Rollout.get(id=r.id)).title == "System update"
    r = await announce_rollout("admin:ops", r, force=True, now=NOW, settings=ops)
    with pytest.raises(ValidationError) as exc:
        await rollouts.update_rollout("admin:ops", r, title="Later", now=NOW)
    assert [e.field for e in exc.value.errors] == ["state"]


async def test_resume_keeps_the_waves_already_done(db: TortoiseContext, ops: Settings) -> None:
    await load_demo(rollout=False)
    r = await rollouts.create_rollout(
        "admin:ops",
        name="su",
        title="S",
        now=NOW,
        settings=ops,
        week=(NOW + timedelta(days=14)).date(),
    )
    r = await announce_rollout("admin:ops", r, now=NOW, settings=ops)
    r = await delay_rollout("admin:ops", r, "Storage trouble.", now=NOW, settings=ops)
    await Wave.filter(rollout=r, position=1).update(state="completed")  # as if it had run
    infra = await Activity.filter(rollout=r, machine__kind="infrastructure").count()
    pending = await Wave.filter(rollout=r, state="pending").order_by("position")
    assert [w.position for w in pending] == [2, 3, 4, 5, 6]
    starts = [NOW + timedelta(days=8 + i) for i in range(len(pending))]
    await Notification.all().delete()
    r = await resume_rollout("admin:ops", r, starts, now=NOW, settings=ops)
    assert await Activity.filter(rollout=r, machine__kind="infrastructure").count() == infra
    done = await RolloutMember.filter(rollout=r, wave__position=1).count()
    assert done == await Machine.filter(kind="infrastructure").count()
    mail = await Notification.filter(kind="rollout_announced").first()
    assert mail is not None
    assert [e["position"] for e in mail.payload["events"]] == [2, 3, 4, 5, 6]
