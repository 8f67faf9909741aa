"""The wave engine over the demo world under a controlled clock: the infrastructure wave passes,
the representative wave's failures cross 5 % and halt the rollout (operators mailed, later waves
not started, failed machines' activations cancelled and their groups told), resume continues to
the end; a step taken twice (a crash between steps, two leaders) does nothing twice. Results are
read through GraphQL over the ASGI app."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from tortoise.context import TortoiseContext

from api.demo import load_demo
from api.errors import IllegalTransition, ValidationError
from api.kinds import ActivityKind
from api.models import (
    Activity,
    AuditEvent,
    Notification,
    ResourceGroup,
    Rollout,
    RolloutMember,
    Wave,
    Window,
)
from api.notify.mailer import run_once
from api.scheduling.engine import StepKind
from api.services import guests, rollouts, tokens
from api.services.rollout_announce import announce_rollout
from api.services.rollout_changes import delay_rollout, resume_rollout
from api.services.rollout_engine import halt_rollout, released, run_rollouts, step
from api.settings import Settings
from tests.graphql.world import gql

NOW = datetime(2027, 3, 3, 9, 0, tzinfo=UTC)  # the Wednesday before the rollout's week
OPS = "noc@provider.example"


@pytest.fixture
def ops(settings: Settings) -> Settings:
    return replace(settings, site_timezone="Europe/Berlin", operator_contacts=OPS)


async def announced(ops: Settings) -> tuple[Rollout, list[Wave]]:
    await load_demo(rollout=False)
    await Notification.all().delete()
    r = await rollouts.create_rollout(
        "admin:ops",
        name="su",
        title="System update",
        kernel="2.6.38",
        now=NOW,
        settings=ops,
        week=(NOW + timedelta(days=14)).date(),
    )
    r = await announce_rollout("admin:ops", r, now=NOW, settings=ops)
    return r, list(await Wave.filter(rollout=r).order_by("position"))


async def updates(r: Rollout, wave: Wave) -> list[Activity]:
    ids = await RolloutMember.filter(rollout=r, wave=wave).values_list("machine_id", flat=True)
    return (
        await Activity.filter(rollout=r, kind=ActivityKind.SYSTEM_UPDATE, machine_id__in=list(ids))
        .prefetch_related("machine")
        .order_by("machine__name")
    )


async def report(acts: list[Activity], at: datetime, failing: int = 0) -> list[str]:
    """The guest agents carry out the updates through the guest agent's service (start, then
    report the outcome): the first ``failing`` fail."""
    failed = []
    for i, a in enumerate(acts):
        await guests.start_update("guest:test", a.machine_id, a.id, now=at)
        bad = i < failing
        await guests.report_update(
            "guest:test",
            a.machine_id,
            guests.GuestReport(
                a.id,
                "failed" if bad else "done",
                100 if bad else 0,
                "Reading package lists...\nE: dpkg was interrupted" if bad else "ok",
            ),
            now=at,
        )
        if bad:
            failed.append(a.machine.name)
    return failed


async def engine(ops: Settings, at: datetime) -> list[tuple[StepKind, str]]:
    return [(s.kind, s.wave.name if s.wave else "") for s in await run_rollouts(ops, now=at)]


ROLLOUT_QUERY = """{ rollouts(first: 1) { edges { node {
  name state haltedReason waves { name state }
  failedMachines { machine wave error exitCode } } } } }"""


async def test_a_rollout_halts_on_its_gate_and_resumes_to_the_end(
    db: TortoiseContext, ops: Settings, client: httpx.AsyncClient
) -> None:
    r, waves = await announced(ops)
    infra, rep, *_ = waves
    assert [w.selector for w in waves][:2] == ["infrastructure", "representative"]
    assert await engine(ops, infra.starts_at - timedelta(minutes=1)) == []
    # nothing of the rollout is due before it runs
    assert not await Activity.filter(released(), rollout=r).exists()

    # the infrastructure wave starts at its time, passes after its soak
    assert await engine(ops, infra.starts_at) == [(StepKind.START, infra.name)]
    assert (await Rollout.get(id=r.id)).state == "running"
    await report(await updates(r, infra), infra.starts_at + timedelta(minutes=20))
    soaked = infra.starts_at + timedelta(minutes=infra.soak_minutes)
    assert await engine(ops, soaked - timedelta(seconds=1)) == []
    assert await engine(ops, max(soaked, rep.starts_at)) == [
        (StepKind.PASS, infra.name),
        (StepKind.START, rep.name),
    ]

    # the representative wave: 2 of them fail (above 5 %)
    acts = await updates(r, rep)
    assert len(acts) >= 3
    failed = await report(acts, rep.starts_at + timedelta(minutes=30), failing=2)
    assert 2 / len(acts) > rep.failure_threshold
    rep_end = rep.starts_at + timedelta(minutes=rep.soak_minutes)
    steps = await engine(ops, rep_end)
    assert steps == [(StepKind.HALT, rep.name)]
    halted = await Rollout.get(id=r.id)
    assert halted.state == "halted"
    assert halted.halted_reason is not None
    assert all(f"- {m}: E: dpkg was interrupted" in halted.halted_reason for m in failed)
    [mail] = await Notification.filter(kind="rollout_halted")
    assert mail.recipients == [OPS] and mail.group_id is None  # type: ignore[attr-defined]
    assert await AuditEvent.filter(action="rollout.gate_fail").count() == 1

    # each failed machine's activation is cancelled and its group told
    for name in failed:
        kernel = await Activity.get(rollout=r, kind="kernel_update", machine__name=name)
        assert kernel.state == "cancelled"
        if kernel.window_id is not None:  # type: ignore[attr-defined]
            window = await Window.get(id=kernel.window_id)  # type: ignore[attr-defined]
            assert window.state == "cancelled"
            assert await Notification.filter(kind="window_cancelled", window_id=window.id).exists()
    ok = await Activity.get(rollout=r, kind="kernel_update", machine__name=acts[-1].machine.name)
    assert ok.state == "scheduled"

    # the same pass again (a second leader, a restart after a crash) does nothing
    before = (await AuditEvent.all().count(), await Notification.all().count())
    assert await engine(ops, rep_end) == []
    assert await step(ops, r.id, rep_end) is None
    assert (await AuditEvent.all().count(), await Notification.all().count()) == before

    # days later: no later wave starts; windows of later waves that would now come before
    # their wave could run are cancelled and their customers told
    later = waves[2].starts_at + timedelta(hours=1)
    assert await engine(ops, later) == []
    assert [w.state for w in await Wave.filter(rollout=r).order_by("position")][2:] == [
        "pending"
    ] * (len(waves) - 2)
    early = await Activity.filter(
        rollout=r, kind="kernel_update", state="cancelled", machine__rollout_members__wave=waves[2]
    ).count()
    third = await RolloutMember.filter(rollout=r, wave=waves[2]).count()
    assert 0 < early <= third
    assert not await Activity.filter(released(), rollout=r, state="scheduled").exists()
    held = (await updates(r, waves[2]))[0]
    with pytest.raises(ValidationError, match="its time has not come"):
        await guests.start_update("guest:test", held.machine_id, held.id, now=later)

    # operators see it through GraphQL, with the failed machines and their errors
    admin = (await tokens.create_token("test", name="admin", role="admin"))[1]
    out = await gql(client, ROLLOUT_QUERY, {}, admin)
    data = out["data"]["rollouts"]["edges"][0]["node"]
    assert data["state"] == "halted" and "failed its gate" in data["haltedReason"]
    assert [w["state"] for w in data["waves"]][:3] == ["completed", "halted", "pending"]
    assert sorted(f["machine"] for f in data["failedMachines"]) == sorted(failed)
    assert {(f["error"], f["exitCode"]) for f in data["failedMachines"]} == {
        ("E: dpkg was interrupted", 100)
    }

    # the halt mail renders and goes to the operators only
    result = await run_once(ops)
    assert result.failed == 0, result
    assert (await Notification.get(kind="rollout_halted")).state == "sent"

    # resume: the halted wave runs again from now (its failures were seen), later waves go on
    resumed_at = later + timedelta(hours=1)
    with pytest.raises(ValidationError):
        await resume_rollout("admin:ops", halted, [resumed_at + timedelta(days=9)], now=resumed_at)
    r2 = await resume_rollout("admin:ops", halted, [], now=resumed_at)
    assert r2.state == "running" and r2.halted_reason is None
    assert await engine(ops, resumed_at) == []
    # wave 3's date has passed, but its updates wait until the resumed wave has soaked again
    with pytest.raises(ValidationError, match="its time has not come"):
        await guests.start_update("guest:test", held.machine_id, held.id, now=resumed_at)
    at = resumed_at + timedelta(minutes=rep.soak_minutes)
    steps = await engine(ops, at)
    assert steps == [(StepKind.PASS, rep.name), (StepKind.START, waves[2].name)]
    for w in waves[2:]:
        w = await Wave.get(id=w.id)
        if w.state == "pending":
            at = max(at, w.starts_at)
            steps = await engine(ops, at)
            assert (StepKind.START, w.name) in steps
        await report(
            [a for a in await updates(r, w) if a.state == "scheduled"], at + timedelta(minutes=5)
        )
        at += timedelta(minutes=w.soak_minutes)
        steps += await engine(ops, at)
        assert (StepKind.PASS, w.name) in steps
    assert (await Rollout.get(id=r.id)).state == "completed"
    for kind in (StepKind.START, StepKind.PASS):
        started = [e for e in await AuditEvent.filter(action=f"rollout.wave_{kind.value}")]
        assert len(started) == len({str(e.details) for e in started})  # nothing twice


async def test_an_operator_halts_by_hand(db: TortoiseContext, ops: Settings) -> None:
    r, waves = await announced(ops)
    with pytest.raises(IllegalTransition):  # not running yet
        await halt_rollout("admin:ops", r, "storage trouble", now=NOW, settings=ops)
    await engine(ops, waves[0].starts_at)
    with pytest.raises(ValidationError):
        await halt_rollout("admin:ops", r, " ", settings=ops)
    r = await halt_rollout("admin:ops", r, "storage trouble", settings=ops)
    assert r.state == "halted" and r.halted_reason == "storage trouble"
    assert (await Wave.get(id=waves[0].id)).state == "halted"
    [mail] = await Notification.filter(kind="rollout_halted")
    assert mail.payload["by"] == "admin:ops" and mail.payload["wave"] == waves[0].name
    assert await engine(ops, waves[1].starts_at + timedelta(days=1)) == []


async def test_new_dates_after_a_halt_go_through_delay_and_resume(
    db: TortoiseContext, ops: Settings
) -> None:
    r, waves = await announced(ops)
    await engine(ops, waves[0].starts_at)
    r = await halt_rollout("admin:ops", r, "storage trouble", settings=ops)
    r = await delay_rollout(
        "admin:ops", r, "Storage trouble.", now=waves[0].starts_at, settings=ops
    )
    assert (await Wave.get(id=waves[0].id)).state == "skipped"
    now = waves[0].starts_at + timedelta(hours=1)
    starts = [now + timedelta(days=8 + i) for i in range(len(waves) - 1)]
    r = await resume_rollout("admin:ops", r, starts, force=True, now=now, settings=ops)
    assert r.state == "announced"
    assert await engine(ops, starts[0] - timedelta(minutes=1)) == []
    assert await engine(ops, starts[0]) == [(StepKind.START, waves[1].name)]
    assert (await Rollout.get(id=r.id)).state == "running"


async def test_a_halted_rollout_takes_new_dates_announced_again(
    db: TortoiseContext, ops: Settings
) -> None:
    r, waves = await announced(ops)
    infra, rep, *rest = waves
    await engine(ops, infra.starts_at)
    await report(await updates(r, infra), infra.starts_at + timedelta(minutes=5))
    await engine(ops, rep.starts_at)
    now = rep.starts_at + timedelta(minutes=30)
    r = await halt_rollout("admin:ops", r, "storage trouble", now=now, settings=ops)
    old = set(
        await Window.filter(state="planned", activities__rollout_id=r.id).values_list(
            "id", flat=True
        )
    )
    assert old
    starts = [now + timedelta(days=8 + i) for i in range(len(rest))]
    before = (await AuditEvent.all().count(), await Notification.all().count())
    for bad in (starts[:-1], [now + timedelta(days=1)] * len(rest)):  # refused: nothing changes
        with pytest.raises(ValidationError):
            await resume_rollout("admin:ops", r, bad, force=True, now=now, settings=ops)
    assert (await AuditEvent.all().count(), await Notification.all().count()) == before
    assert (await Rollout.get(id=r.id)).state == "halted"

    announced_before = await Notification.filter(kind="rollout_announced").count()
    r = await resume_rollout("admin:ops", r, starts, force=True, now=now, settings=ops)
    assert r.state == "announced"
    assert await Notification.filter(kind="rollout_announced").count() > announced_before
    assert not await Notification.filter(kind="rollout_delayed").exists()  # the dates follow
    states = [w.state for w in await Wave.filter(rollout=r).order_by("position")]
    assert states == ["completed", "skipped"] + ["pending"] * len(rest)
    # the old windows are cancelled and their customers told; the new ones keep the notice
    assert not await Window.filter(id__in=list(old), state="planned").exists()
    told = await Notification.filter(kind="window_cancelled", window_id__in=list(old)).count()
    assert told > 0
    new = await Window.filter(state="planned", activities__rollout_id=r.id)
    assert new and all(w.starts_at >= starts[0] for w in new)
    actions = await AuditEvent.filter(subject_type="rollout", subject_id=r.id).order_by("-id")
    assert [e.action for e in actions[:2]] == ["rollout.resume", "rollout.reschedule"]
    assert await engine(ops, starts[0]) == [(StepKind.START, rest[0].name)]


async def test_two_leaders_at_once_start_a_wave_once(db: TortoiseContext, ops: Settings) -> None:
    _, waves = await announced(ops)
    at = waves[0].starts_at
    both = await asyncio.gather(run_rollouts(ops, now=at), run_rollouts(ops, now=at))
    assert sorted(len(steps) for steps in both) == [0, 1]
    assert await AuditEvent.filter(action="rollout.wave_start").count() == 1
    assert (await Wave.get(id=waves[0].id)).state == "running"


async def test_a_long_halt_cancels_later_windows_and_host_reboots_with_their_vms(
    db: TortoiseContext, ops: Settings
) -> None:
    r, waves = await announced(ops)
    await engine(ops, waves[0].starts_at)
    await halt_rollout("admin:ops", r, "storage trouble", settings=ops)
    hosts_wave = waves[-1]
    assert hosts_wave.selector == "hosts"
    booked = await Activity.filter(rollout=r, kind="host_reboot", state="scheduled").count()
    assert booked > 0
    await engine(ops, hosts_wave.starts_at - timedelta(hours=1))
    # nothing of a later wave is left before its wave could run, hosts and their VMs included
    assert await Activity.filter(rollout=r, kind="host_reboot", state="scheduled").count() == 0
    assert await Activity.filter(rollout=r, kind="reboot", state="scheduled").count() == 0
    assert await Activity.filter(rollout=r, kind="kernel_update", state="scheduled").count() == 0
    cancelled = set(
        await Window.filter(state="cancelled", activities__rollout_id=r.id).values_list(
            "id", flat=True
        )
    )
    told = await Notification.filter(kind="window_cancelled", window_id__in=list(cancelled))
    assert cancelled and {n.window_id for n in told} == cancelled  # type: ignore[attr-defined]
    assert (await Rollout.get(id=r.id)).state == "halted"


async def test_halt_and_resume_through_graphql(
    db: TortoiseContext, ops: Settings, client: httpx.AsyncClient
) -> None:
    _, waves = await announced(ops)
    await engine(ops, waves[0].starts_at)
    admin = (await tokens.create_token("test", name="admin", role="admin"))[1]
    acme = await ResourceGroup.get(name="acme")
    customer = (await tokens.create_token("test", name="c", role="customer", groups=[acme]))[1]
    halt = """mutation($input: HaltRolloutInput!) { haltRollout(input: $input) {
      __typename ... on Rollout { state haltedReason waves { state } } } }"""
    value = {"input": {"name": "su", "reason": "storage trouble"}}
    denied = await gql(client, halt, value, customer)
    assert denied["data"]["haltRollout"]["__typename"] == "PermissionDenied"
    out = (await gql(client, halt, value, admin))["data"]["haltRollout"]
    assert out["state"] == "halted" and out["haltedReason"] == "storage trouble"
    assert out["waves"][0]["state"] == "halted"
    again = (await gql(client, halt, value, admin))["data"]["haltRollout"]
    assert again["__typename"] == "ValidationError"
    resume = """mutation($input: ResumeRolloutInput!) { resumeRollout(input: $input) {
      __typename ... on Rollout { state haltedReason waves { state } }
      ... on ValidationError { fields { field message } } } }"""
    dated = await gql(
        client, resume, {"input": {"name": "su", "startsAt": ["2030-01-07T06:00:00Z"]}}, admin
    )
    assert dated["data"]["resumeRollout"]["__typename"] == "ValidationError"
    assert "start times, one per wave not yet done" in str(dated["data"]["resumeRollout"])
    out = (await gql(client, resume, {"input": {"name": "su"}}, admin))["data"]["resumeRollout"]
    assert out["state"] == "running" and out["haltedReason"] is None
    assert out["waves"][0]["state"] == "running"
