"""The guest agent's calls (issue 12) over the ASGI app: a guest token sees only its machine's
due guest work, reports outcome and facts once, and operators see what the facts break."""

from __future__ import annotations

import mailbox
from datetime import UTC, datetime, timedelta
from email import message_from_bytes
from email.policy import default
from typing import Any

import httpx
import pytest

from api.errors import ValidationError
from api.graphql.relay import encode_id
from api.models import Activity, AuditEvent, Machine, Notification, Window
from api.notify.mailer import run_once
from api.services import agents, guests, tokens
from api.settings import Settings
from tests.graphql.test_mutations import mutate
from tests.graphql.world import World, gql

ACT = "... on Activity { id state exitCode changedPackages log attempts }"
HOST_CPU = "AMD EPYC 7302P 16-Core Processor"
RESULTS = ["window_completed", "window_failed"]


async def update(machine: str, **kw: Any) -> Activity:
    fields = {
        "kind": "system_update",
        "state": "scheduled",
        "not_before": datetime.now(UTC) - timedelta(minutes=1),
        "requested_by": "test",
        **kw,
    }
    return await Activity.create(machine_id=(await Machine.get(name=machine)).id, **fields)


def aid(a: Activity) -> str:
    return encode_id("Activity", a.id)


async def work(client: httpx.AsyncClient, world: World, role: str = "guest_a") -> list[str]:
    out = await gql(client, "{ guestWork { id kind state } }", token=world.tokens[role])
    assert "errors" not in out, out
    return [a["id"] for a in out["data"]["guestWork"]]


async def start(client: httpx.AsyncClient, world: World, a: Activity) -> dict[str, Any]:
    value = {"activity": aid(a)}
    return await mutate(
        client, world, "guest_a", "startGuestUpdate", "StartGuestUpdateInput", value, ACT
    )


async def report(client: httpx.AsyncClient, world: World, a: Activity, **kw: Any) -> dict[str, Any]:
    value = {
        "activity": aid(a),
        "outcome": "DONE",
        "exitCode": 0,
        "log": "updated 2 packages",
        "packages": ["sys-kernel/gentoo-sources 2.6.32 -> 2.6.38", "dev-lang/python 2.7.1"],
        "facts": {"kernel": "2.6.38-gentoo", "swapMib": 2048, "cpuModel": HOST_CPU},
        **kw,
    }
    return await mutate(
        client, world, "guest_a", "reportGuestUpdate", "ReportGuestUpdateInput", value, ACT
    )


async def test_guest_work_is_its_machines_due_updates_only(
    client: httpx.AsyncClient, world: World
) -> None:
    due = await update("alpha-web")
    later = await update("alpha-web", not_before=datetime.now(UTC) + timedelta(hours=1))
    other = await update("beta-db")
    await Activity.create(
        machine_id=due.machine_id, kind="reboot", state="scheduled", requested_by="test"
    )
    assert await work(client, world) == [aid(due)]  # not later's, beta-db's, nor the reboot
    # another machine's update reads as not found, and changes nothing
    value = {"activity": aid(other)}
    out = await mutate(
        client, world, "guest_a", "startGuestUpdate", "StartGuestUpdateInput", value, ACT
    )
    assert out["__typename"] == "NotFound"
    assert (await Activity.get(id=other.id)).state == "scheduled"
    out = await start(client, world, later)
    assert out["__typename"] == "ValidationError"
    me = await gql(client, "{ me { role machine host } }", token=world.tokens["guest_a"])
    assert me["data"]["me"] == {"role": "GUEST", "machine": "alpha-web", "host": None}
    # the guest token reads nothing else
    others = (
        "{ machines { nodes { name } } }",
        "{ dueWork { uid } }",
        "{ groups { nodes { name } } }",
    )
    for query in others:
        out = await gql(client, query, token=world.tokens["guest_a"])
        assert [e["extensions"]["code"] for e in out["errors"]] == ["PermissionDenied"], query
    # customers and host agents may not call the guest's fields
    for role in ("customer_a", "agent_1", "admin"):
        out = await gql(client, "{ guestWork { id } }", token=world.tokens[role])
        assert [e["extensions"]["code"] for e in out["errors"]] == ["PermissionDenied"], role


async def test_report_stores_outcome_and_facts_once(
    client: httpx.AsyncClient, world: World
) -> None:
    a = await update("alpha-web")
    assert (await start(client, world, a))["state"] == "RUNNING"
    assert (await start(client, world, a))["attempts"] == 1  # again: a no-op
    out = await report(client, world, a)
    assert out["state"] == "DONE" and out["exitCode"] == 0
    assert out["changedPackages"] == [
        "sys-kernel/gentoo-sources 2.6.32 -> 2.6.38",
        "dev-lang/python 2.7.1",
    ]
    vm = await Machine.get(name="alpha-web")
    assert vm.observed_kernel == "2.6.32"  # the host agent's word (the definition), untouched
    assert (vm.guest_kernel, vm.observed_swap_mib, vm.guest_cpu_model) == (
        "2.6.38-gentoo",
        2048,
        HOST_CPU,
    )
    events = await AuditEvent.filter(action="activity.report").count()
    again = await report(client, world, a)  # the same report: nothing changes
    assert again == out
    assert await AuditEvent.filter(action="activity.report").count() == events
    other = await report(client, world, a, outcome="FAILED", exitCode=1)
    assert other["__typename"] == "ValidationError"
    assert (await Activity.get(id=a.id)).state == "done"
    assert await work(client, world) == []


async def test_a_failed_update_stays_failed_with_its_error(
    client: httpx.AsyncClient, world: World
) -> None:
    a = await update("alpha-web")
    await start(client, world, a)
    out = await report(
        client, world, a, outcome="FAILED", exitCode=3, log="emerge: conflict", packages=[]
    )
    assert (out["state"], out["exitCode"], out["log"]) == ("FAILED", 3, "emerge: conflict")
    assert await work(client, world) == []


async def test_bad_reports_are_typed_errors_and_change_nothing(
    client: httpx.AsyncClient, world: World
) -> None:
    a = await update("alpha-web")
    out = await report(client, world, a)
    assert out["__typename"] == "ValidationError"  # not started
    await start(client, world, a)
    bad = {
        "exitCode": 1,  # an update that exited 1 is not done
        "log": "x" * (guests.MAX_LOG + 1),
        "packages": ["ok", "bad\x07"],
        "facts": {"kernel": "k" * 65, "swapMib": -1, "cpuModel": "cpu"},
    }
    out = await report(client, world, a, **bad)
    assert out["__typename"] == "ValidationError"
    fields = {f["field"] for f in out["fields"]}
    assert fields == {"exitCode", "log", "packages[1]", "facts.kernel", "facts.swapMib"}
    assert (await Activity.get(id=a.id)).state == "running"
    assert (await Machine.get(name="alpha-web")).guest_cpu_model is None


WARN = (
    '{ machine(name: "alpha-web") { observed { kernel guestKernel swapMib guestCpuModel }'
    " host { name } guestWarnings { flag message } } }"
)


async def test_operators_see_broken_promises_customers_the_facts(
    client: httpx.AsyncClient, world: World
) -> None:
    host = await Machine.get(name="host1")
    host.cpu_model = HOST_CPU
    await host.save()
    a = await update("alpha-web")
    await start(client, world, a)
    facts = {"kernel": "2.6.38", "swapMib": 512, "cpuModel": "QEMU Virtual CPU version 2.5+"}
    await report(client, world, a, facts=facts)
    admin = (await gql(client, WARN, token=world.tokens["admin"]))["data"]["machine"]
    assert [w["flag"] for w in admin["guestWarnings"]] == [
        "SWAP_BELOW_MINIMUM",
        "CPU_MODEL_MISMATCH",
    ]
    customer = (await gql(client, WARN, token=world.tokens["customer_a"]))["data"]["machine"]
    assert customer["observed"] == {
        "kernel": "2.6.32",
        "guestKernel": "2.6.38",
        "swapMib": 512,
        "guestCpuModel": "QEMU Virtual CPU version 2.5+",
    }
    assert customer["host"] is None and customer["guestWarnings"] is None
    trail = '{ machine(name: "alpha-web") { auditTrail { nodes { action actor } } } }'
    out = await gql(client, trail, token=world.tokens["customer_a"])
    nodes = out["data"]["machine"]["auditTrail"]["nodes"]
    assert {"action": "machine.observe", "actor": "the guest agent"} in nodes
    # the host's physical CPU and enough swap: no warning
    b = await update("alpha-web")
    await start(client, world, b)
    await report(client, world, b, facts={"swapMib": 1024, "cpuModel": HOST_CPU})
    admin = (await gql(client, WARN, token=world.tokens["admin"]))["data"]["machine"]
    assert admin["guestWarnings"] == []
    # another physical CPU than the host's is a mismatch too
    c = await update("alpha-web")
    await start(client, world, c)
    await report(client, world, c, facts={"cpuModel": "Intel(R) Xeon(R) CPU E5-2650"})
    admin = (await gql(client, WARN, token=world.tokens["admin"]))["data"]["machine"]
    assert [w["flag"] for w in admin["guestWarnings"]] == ["CPU_MODEL_MISMATCH"]


async def test_the_host_agent_leaves_a_windows_system_update_to_the_guest(
    client: httpx.AsyncClient, world: World
) -> None:
    window = await Window.get(uid=world.ids["window:alpha-web"])
    a = await update("alpha-web", window_id=window.id, not_before=None)
    assert await work(client, world) == [aid(a)]  # its window has started
    await agents.start_window("test", world.ids["host1"], window.uid)
    assert (await Activity.get(id=a.id)).state == "scheduled"
    reboot = await Activity.get(window_id=window.id, kind="reboot")
    done = [agents.ActivityResult(reboot.id, "done", "rebooted")]
    finished = await agents.finish_window("test", world.ids["host1"], window.uid, done)
    assert finished.state == "completed"
    assert (await Activity.get(id=a.id)).state == "scheduled"
    await start(client, world, a)
    assert (await report(client, world, a))["state"] == "DONE"


async def test_a_guest_token_needs_a_vm(world: World) -> None:
    host = await Machine.get(name="host1")
    for kw in ({}, {"machine": host}):
        with pytest.raises(ValidationError) as e:
            await tokens.create_token("test", name="g", role="guest", **kw)
        assert [f.field for f in e.value.errors] == ["machine"]
    vm = await Machine.get(name="alpha-web")
    with pytest.raises(ValidationError) as e:
        await tokens.create_token("test", name="g", role="agent", host=host, machine=vm)
    assert [f.field for f in e.value.errors] == ["machine"]


async def test_operators_create_guest_tokens_over_graphql(
    client: httpx.AsyncClient, world: World
) -> None:
    sel = "... on CreatedToken { token { role machine host } secret }"
    value = {"name": "web guest", "role": "GUEST", "machine": "alpha-web"}
    out = await mutate(client, world, "admin", "createToken", "CreateTokenInput", value, sel)
    assert out["token"] == {"role": "GUEST", "machine": "alpha-web", "host": None}
    me = await gql(client, "{ me { machine } }", token=out["secret"])
    assert me["data"]["me"] == {"machine": "alpha-web"}
    value = {"name": "bad", "role": "GUEST", "machine": "host1"}
    out = await mutate(client, world, "admin", "createToken", "CreateTokenInput", value, "")
    assert out["__typename"] == "ValidationError"
    assert [f["field"] for f in out["fields"]] == ["machine"]


async def test_a_guest_token_reads_its_window_as_customers_do(
    client: httpx.AsyncClient, world: World
) -> None:
    """The token lives inside the customer's VM: the host's name is not shown to it."""
    window = await Window.get(uid=world.ids["window:alpha-web"])
    await update("alpha-web", window_id=window.id, not_before=None)
    reboot = await Activity.get(window_id=window.id, kind="reboot")
    reboot.params = {"host_reboot": "host1"}
    reboot.log = "shut down for the reboot of host host1"
    await reboot.save()
    q = "{ guestWork { window { activities { kind params log requestedBy } } } }"
    out = await gql(client, q, token=world.tokens["guest_a"])
    assert "errors" not in out, out
    (due,) = out["data"]["guestWork"]
    assert "host1" not in str(due)
    shown = {a["kind"]: a for a in due["window"]["activities"]}
    assert shown["REBOOT"]["log"] == "shut down for the reboot of its host"


async def test_a_window_of_guest_work_mails_its_result_once_the_guest_reports(
    client: httpx.AsyncClient, world: World, settings: Settings
) -> None:
    """The host agent finishes a window whose only work is the guest's: the result mail waits
    for the guest's report, then lists what was done (it used to list nothing)."""
    vm = await Machine.get(name="alpha-web")
    now = datetime.now(UTC)
    window = await Window.create(
        machine=vm, starts_at=now - timedelta(minutes=1), ends_at=now + timedelta(hours=1)
    )
    a = await update("alpha-web", window_id=window.id, not_before=None)
    await agents.start_window("test", world.ids["host1"], window.uid)
    await agents.finish_window("test", world.ids["host1"], window.uid, [])
    assert (await Window.get(id=window.id)).state == "completed"
    results = Notification.filter(window_id=window.id, kind__in=RESULTS)
    assert not await results.exists()  # nothing done yet that a customer would see

    await start(client, world, a)
    await report(client, world, a)
    await report(client, world, a)  # the same report again queues nothing more
    [mail] = await results
    assert mail.kind == "window_completed"
    await Notification.exclude(id=mail.id).delete()
    assert (await run_once(settings)).sent == 1
    box = mailbox.Maildir(settings.maildir, create=False)
    [body] = [
        message_from_bytes(box.get_bytes(k), policy=default).get_body(("plain",)).get_content()
        for k in box.keys()
    ]
    assert "system update: done - updated 2 packages" in body


async def test_a_failed_guest_update_in_a_finished_window_mails_failed(
    client: httpx.AsyncClient, world: World
) -> None:
    window = await Window.get(uid=world.ids["window:alpha-web"])
    a = await update("alpha-web", window_id=window.id, not_before=None)
    await agents.start_window("test", world.ids["host1"], window.uid)
    reboot = await Activity.get(window_id=window.id, kind="reboot")
    done = [agents.ActivityResult(reboot.id, "done", "rebooted")]
    await agents.finish_window("test", world.ids["host1"], window.uid, done)
    results = Notification.filter(window_id=window.id, kind__in=RESULTS)
    assert not await results.exists()
    await start(client, world, a)
    await report(client, world, a, outcome="FAILED", exitCode=100, log="E: dpkg was interrupted")
    [mail] = await results
    assert mail.kind == "window_failed"
    assert [x["outcome"] for x in mail.payload["activities"]] == ["done", "failed"]
