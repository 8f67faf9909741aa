"""One machine of a rollout: retry or skip its failed update (GraphQL over the ASGI app, typed
errors, the timeline), and activations given back: after a resume, a VM whose window the halt
cancelled gets a new activation window under its group's notice rules; a retried update that
succeeds gets one too."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from typing import Any

import httpx
import pytest
from tortoise.context import TortoiseContext

from api.kinds import ActivityKind
from api.models import Activity, Machine, ResourceGroup, Rollout, RolloutMember, Wave, Window
from api.scheduling.engine import StepKind
from api.services import guests, tokens
from api.services.rollout_changes import cancel_rollout, delay_rollout, resume_rollout
from api.services.rollout_engine import halt_rollout
from api.services.scheduling import run_pass
from api.services.window_ops import cancel_activities
from api.settings import Settings
from tests.graphql.world import gql
from tests.services.test_rollout_engine import announced, engine, report, updates


@pytest.fixture
def ops(settings: Settings) -> Settings:
    return replace(settings, site_timezone="Europe/Berlin", operator_contacts="noc@x.example")


async def test_after_a_delay_the_done_waves_vms_get_their_activation_back(
    db: TortoiseContext, ops: Settings
) -> None:
    """A delay cancels what has not started, the activation windows of a wave already done
    included; the re-plan of a resume with new dates leaves done waves alone, so once the
    rollout runs again each of those VMs gets one activation back, booked under its group's
    notice rules. One an operator cancelled by hand stays cancelled."""
    r, waves = await announced(ops)
    for wave in waves[:2]:  # infrastructure and the representative set run and soak
        await engine(ops, wave.starts_at)
        await report(await updates(r, wave), wave.starts_at)
        await engine(ops, wave.starts_at + timedelta(minutes=wave.soak_minutes + 1))
    rep = waves[1]
    vms = set(await RolloutMember.filter(rollout=r, wave=rep).values_list("machine_id", flat=True))
    booked = await _kernels(r, vms, "scheduled")
    assert {a.machine_id for a in booked} == vms
    by_hand = booked[0]
    soaked = rep.starts_at + timedelta(minutes=rep.soak_minutes + 1)
    await cancel_activities("admin:ops", [by_hand], reason="customer asked")
    await delay_rollout("admin:ops", r, "a fault in the update", now=soaked, settings=ops)
    assert not await _kernels(r, vms, "scheduled")

    pending = await Wave.filter(rollout=r, state="pending").order_by("position")
    start = soaked + timedelta(days=10)
    dates = [start + timedelta(days=i) for i in range(len(pending))]
    resumed = soaked + timedelta(hours=1)
    await resume_rollout("admin:ops", r, dates, force=True, now=resumed, settings=ops)
    assert not await _kernels(r, vms, "queued")  # not before the rollout runs again
    await engine(ops, start)
    await engine(ops, start)  # the next pass gives nothing twice
    given = await _kernels(r, vms, "queued")
    assert sorted(a.machine_id for a in given) == sorted(vms - {by_hand.machine_id})
    await run_pass(ops, now=start)
    for a in await Activity.filter(id__in=[a.id for a in given]):
        assert a.state == "scheduled"
        window = await Window.get(id=a.window_id)  # type: ignore[attr-defined]
        group = await ResourceGroup.get(machines__id=a.machine_id)  # type: ignore[attr-defined]
        assert window.starts_at >= start + timedelta(minutes=group.notice_minutes)
    assert not await _kernels(r, {by_hand.machine_id}, "scheduled")


async def _kernels(r: Rollout, machine_ids: set[int], state: str) -> list[Activity]:
    return await Activity.filter(
        rollout=r, kind=ActivityKind.KERNEL_UPDATE, state=state, machine_id__in=list(machine_ids)
    )


async def test_after_a_resume_vms_whose_window_the_halt_cancelled_get_a_new_one(
    db: TortoiseContext, ops: Settings
) -> None:
    r, waves = await announced(ops)
    await engine(ops, waves[0].starts_at)
    await halt_rollout("admin:ops", r, "storage trouble", now=waves[0].starts_at, settings=ops)
    late = waves[-1].starts_at - timedelta(hours=1)
    await engine(ops, late)  # the halt lasts: later windows are cancelled, customers told
    cancelled = {
        a.machine_id
        for a in await Activity.filter(
            rollout=r, kind=ActivityKind.KERNEL_UPDATE, state="cancelled"
        )
    }
    assert cancelled

    resumed = late + timedelta(hours=1)
    await resume_rollout("admin:ops", r, [], now=resumed, settings=ops)
    await engine(ops, resumed)
    given = await _kernels(r, cancelled, "queued")
    assert {a.machine_id for a in given} == cancelled  # each one, once
    assert len(given) == len(cancelled)
    await engine(ops, resumed)  # the next pass gives nothing twice
    assert len(await _kernels(r, cancelled, "queued")) == len(cancelled)

    # never before its wave has soaked; the scheduling pass books them under the notice rules
    member = {m.machine_id: m.wave_id for m in await RolloutMember.filter(rollout=r)}
    fresh = {w.id: w for w in await Wave.filter(rollout=r)}
    for a in given:
        wave = fresh[member[a.machine_id]]
        assert a.not_before is not None and a.not_before >= resumed
        assert a.not_before >= wave.starts_at + timedelta(minutes=wave.soak_minutes)
    await run_pass(ops, now=resumed)
    booked = await Activity.filter(id__in=[a.id for a in given], state="scheduled")
    assert booked
    for a in booked:
        window = await Window.get(id=a.window_id)  # type: ignore[attr-defined]
        group = await ResourceGroup.get(machines__id=a.machine_id)  # type: ignore[attr-defined]
        assert window.starts_at >= resumed + timedelta(minutes=group.notice_minutes)
        assert a.not_before is not None and window.starts_at >= a.not_before


RETRY = """mutation($input: RolloutMachineInput!) { %s(input: $input) {
  __typename ... on Rollout { progress { waves { name failed skipped running pending } } }
  ... on ValidationError { fields { field message } } ... on NotFound { message } } }"""


async def _do(
    client: httpx.AsyncClient, token: str, what: str, machine: str, name: str = "su"
) -> dict[str, Any]:
    out = await gql(client, RETRY % what, {"input": {"name": name, "machine": machine}}, token)
    assert "errors" not in out, out
    return dict(out["data"][what])


async def test_retry_and_skip_a_failed_machine(
    db: TortoiseContext, ops: Settings, client: httpx.AsyncClient
) -> None:
    r, waves = await announced(ops)
    infra, rep, *_ = waves
    admin = (await tokens.create_token("test", name="admin", role="admin"))[1]
    acme = await ResourceGroup.get(name="acme")
    customer = (await tokens.create_token("test", name="c", role="customer", groups=[acme]))[1]
    await engine(ops, infra.starts_at)
    await report(await updates(r, infra), infra.starts_at + timedelta(minutes=5))
    await engine(ops, rep.starts_at)
    acts = await updates(r, rep)
    at = rep.starts_at + timedelta(minutes=10)
    first, second = await report(acts, at, failing=2)
    assert 2 / len(acts) > rep.failure_threshold  # as it stands, the gate would fail
    assert await engine(ops, at) == []  # the failed machines' activations are cancelled
    failed_ids = {(await Machine.get(name=n)).id for n in (first, second)}
    assert len(await _kernels(r, failed_ids, "cancelled")) == 2

    denied = await _do(client, customer, "skipRolloutMachine", first)
    assert denied["__typename"] == "PermissionDenied"
    missing = await _do(client, admin, "retryRolloutMachine", "no-such-vm")
    assert missing["__typename"] == "NotFound"
    done = acts[-1].machine.name
    not_failed = await _do(client, admin, "retryRolloutMachine", done)
    assert not_failed["__typename"] == "ValidationError" and "not failed" in str(not_failed)

    skipped = await _do(client, admin, "skipRolloutMachine", first)
    wave = skipped["progress"]["waves"][1]
    assert (wave["failed"], wave["skipped"]) == (1, 1)
    twice = await _do(client, admin, "skipRolloutMachine", first)
    assert twice["__typename"] == "ValidationError" and "skipped already" in str(twice)

    retried = await _do(client, admin, "retryRolloutMachine", second)
    wave = retried["progress"]["waves"][1]
    assert (wave["failed"], wave["pending"]) == (0, 1)
    vm = await Machine.get(name=second)
    [due] = await guests.due_updates(vm.id, now=at + timedelta(minutes=1))  # due at once
    assert due.id not in {a.id for a in acts}
    await report([await Activity.get(id=due.id).prefetch_related("machine")], at)

    # the gate passes (one failure skipped, one retried with success); the retried VM gets its
    # activation back, after the wave's soak
    rep_end = rep.starts_at + timedelta(minutes=rep.soak_minutes)
    assert (StepKind.PASS, rep.name) in await engine(ops, rep_end)
    [back] = await _kernels(r, {vm.id}, "queued")
    assert back.not_before is not None and back.not_before >= rep_end
    skipped_vm = await Machine.get(name=first)
    assert not await _kernels(r, {skipped_vm.id}, "queued")  # stays on its old packages

    events = await gql(client, '{ rolloutEvents(name: "su") { kind actor machine } }', {}, admin)
    mine = [e for e in events["data"]["rolloutEvents"] if e["machine"]]
    assert [(e["kind"], e["machine"]) for e in mine] == [
        ("MACHINE_SKIPPED", first),
        ("MACHINE_RETRIED", second),
    ]
    failed_q = "{ rollouts(first: 1) { nodes { failedMachines { machine } } } }"
    listed = await gql(client, failed_q, {}, admin)
    assert listed["data"]["rollouts"]["nodes"][0]["failedMachines"] == []

    await cancel_rollout("admin:ops", r, "no more")
    over = await _do(client, admin, "retryRolloutMachine", first)
    assert over["__typename"] == "ValidationError" and "cancelled" in str(over)
