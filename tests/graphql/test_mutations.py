"""Every mutation through the ASGI app, on each database backend."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from api.models import (
    Activity,
    ApiToken,
    AuditEvent,
    Freeze,
    Machine,
    Notification,
    ResourceGroup,
    Window,
)
from tests.graphql.world import World, gql

ALL = (
    "... on ValidationError { fields { field message } } "
    "... on NotFound { objectType key } ... on PermissionDenied { message }"
)


async def mutate(
    client: httpx.AsyncClient,
    world: World,
    role: str,
    field: str,
    input_type: str,
    value: dict[str, Any],
    selection: str = "",
) -> dict[str, Any]:
    query = (
        f"mutation($input: {input_type}!) {{ {field}(input: $input) {{ __typename {selection} "
        f"{ALL} }} }}"
    )
    out = await gql(client, query, {"input": value}, world.tokens[role])
    assert "errors" not in out, out
    return out["data"][field]


async def test_create_group_and_duplicate(client: httpx.AsyncClient, world: World) -> None:
    value = {
        "name": "gamma",
        "contacts": ["a@gamma.example"],
        "timezone": "Asia/Tokyo",
        "windowStart": "03:30",
        "windowMinutes": 60,
        "weekdays": [5, 6],
    }
    out = await mutate(
        client,
        world,
        "admin",
        "createGroup",
        "CreateGroupInput",
        value,
        "... on Group { name policy { label weekdays } }",
    )
    assert out["__typename"] == "Group"
    assert out["policy"] == {"label": "03:30-04:30 Asia/Tokyo", "weekdays": [5, 6]}
    assert await Notification.filter(kind="group_settings", group__name="gamma").count() == 1
    again = await mutate(client, world, "admin", "createGroup", "CreateGroupInput", value)
    assert again["__typename"] == "ValidationError"
    assert again["fields"][0]["field"] == "name"


async def test_update_policy_with_freezes(client: httpx.AsyncClient, world: World) -> None:
    start = datetime.now(UTC).replace(microsecond=0) + timedelta(days=300)  # within two years
    value = {
        "group": "alpha",
        "windowMinutes": 90,
        "contacts": ["new@alpha.example"],
        "freezes": [
            {
                "startsAt": start.isoformat(),
                "endsAt": (start + timedelta(days=14)).isoformat(),
                "reason": "holidays",
            }
        ],
    }
    out = await mutate(
        client,
        world,
        "customer_a",
        "updateGroupPolicy",
        "UpdatePolicyInput",
        value,
        "... on Group { policy { windowMinutes contacts freezes { reason } } }",
    )
    assert out["policy"] == {
        "windowMinutes": 90,
        "contacts": ["new@alpha.example"],
        "freezes": [{"reason": "holidays"}],
    }
    group = await ResourceGroup.get(name="alpha")
    assert group.window_minutes == 90
    assert await Freeze.filter(group=group).count() == 1
    events = await AuditEvent.filter(action__in=["group.update", "group.freezes"]).count()
    again = await mutate(
        client, world, "customer_a", "updateGroupPolicy", "UpdatePolicyInput", value
    )
    assert again["__typename"] == "Group"
    assert await AuditEvent.filter(action__in=["group.update", "group.freezes"]).count() == events


async def test_rotate_feed_token(client: httpx.AsyncClient, world: World) -> None:
    before = (await ResourceGroup.get(name="alpha")).feed_token
    out = await mutate(
        client,
        world,
        "customer_a",
        "rotateFeedToken",
        "RotateFeedTokenInput",
        {"group": "alpha"},
        "... on FeedUrl { https webcal }",
    )
    after = (await ResourceGroup.get(name="alpha")).feed_token
    assert after != before and out["https"].endswith(after)


async def test_register_machine_and_flags(client: httpx.AsyncClient, world: World) -> None:
    value = {
        "name": "alpha-db",
        "group": "alpha",
        "host": "host1",
        "cores": 4,
        "memoryMib": 4096,
        "swapMib": 2048,
        "arch": "X86_64",
    }
    out = await mutate(
        client,
        world,
        "admin",
        "registerMachine",
        "RegisterMachineInput",
        value,
        "... on Machine { name monthlyPriceEur host { name } }",
    )
    assert out == {
        "__typename": "Machine",
        "name": "alpha-db",
        "monthlyPriceEur": 75,
        "host": {"name": "host1"},
    }
    sel = "... on Machine { autoSchedule representative redundancy }"
    out = await mutate(
        client,
        world,
        "customer_a",
        "setAutoSchedule",
        "SetAutoScheduleInput",
        {"machine": "alpha-db", "autoSchedule": False},
        sel,
    )
    assert out["autoSchedule"] is False
    out = await mutate(
        client,
        world,
        "admin",
        "setRepresentative",
        "SetRepresentativeInput",
        {"machine": "alpha-db", "representative": True},
        sel,
    )
    assert out["representative"] is True
    out = await mutate(
        client,
        world,
        "customer_a",
        "setRedundancy",
        "SetRedundancyInput",
        {"machine": "alpha-db", "redundancy": "db"},
        sel,
    )
    assert out["redundancy"] == "db"
    m = await Machine.get(name="alpha-db")
    assert (m.auto_schedule, m.representative, m.redundancy) == (False, True, "db")


async def test_change_desired_queues_the_matching_activity(
    client: httpx.AsyncClient, world: World
) -> None:
    sel = (
        "... on ChangeDesiredResult { machine { desired { cores memoryMib } } "
        "activities { kind params state } }"
    )
    out = await mutate(
        client,
        world,
        "customer_a",
        "changeDesired",
        "ChangeDesiredInput",
        {"machine": "alpha-web", "memoryMib": 4096},
        sel,
    )
    assert out["machine"]["desired"] == {"cores": 2, "memoryMib": 4096}
    assert out["activities"] == [
        {"kind": "MEMORY_RESIZE", "params": {"memory_mib": 4096}, "state": "QUEUED"}
    ]
    out = await mutate(
        client,
        world,
        "customer_a",
        "changeDesired",
        "ChangeDesiredInput",
        {"machine": "alpha-web", "memoryMib": 2048},
        sel,
    )
    assert out["activities"] == []
    assert await Activity.filter(kind="memory_resize", state="queued").count() == 0


async def test_queue_and_cancel_activity(client: httpx.AsyncClient, world: World) -> None:
    out = await mutate(
        client,
        world,
        "customer_a",
        "queueActivity",
        "QueueActivityInput",
        {"machine": "alpha-web", "kind": "REBOOT", "estimateMinutes": 7},
        "... on Activity { id kind state estimateMinutes requestedBy }",
    )
    assert out["kind"] == "REBOOT" and out["estimateMinutes"] == 7
    assert out["requestedBy"] == "customer:cust a"
    out = await mutate(
        client,
        world,
        "customer_a",
        "cancelActivity",
        "CancelActivityInput",
        {"activity": out["id"]},
        "... on Activity { state }",
    )
    assert out["state"] == "CANCELLED"
    denied = await mutate(
        client,
        world,
        "customer_a",
        "queueActivity",
        "QueueActivityInput",
        {"machine": "alpha-web", "kind": "HOST_REBOOT"},
    )
    assert denied["__typename"] == "PermissionDenied"


async def test_schedule_postpone_and_cancel_windows(
    client: httpx.AsyncClient, world: World
) -> None:
    preview = await gql(
        client,
        '{ group(name: "alpha") { windowPreview(count: 3) { startsAt } } }',
        token=world.tokens["customer_a"],
    )
    start = preview["data"]["group"]["windowPreview"][1]["startsAt"]
    sel = "... on Window { uid startsAt state sequence postpones activities { kind } }"
    out = await mutate(
        client,
        world,
        "customer_a",
        "scheduleAt",
        "ScheduleAtInput",
        {"machine": "alpha-web", "startsAt": start},
        sel,
    )
    assert out["__typename"] == "Window", out
    assert out["activities"] == [{"kind": "SYSTEM_UPDATE"}]
    moved = await mutate(
        client,
        world,
        "customer_a",
        "postponeWindow",
        "PostponeWindowInput",
        {"window": out["uid"]},
        sel,
    )
    assert moved["__typename"] == "Window", moved
    assert moved["startsAt"] > out["startsAt"] and moved["postpones"] == 1
    assert moved["sequence"] > out["sequence"]
    cancelled = await mutate(
        client,
        world,
        "admin",
        "cancelWindow",
        "CancelWindowInput",
        {"window": out["uid"], "reason": "not needed"},
        sel,
    )
    assert cancelled["state"] == "CANCELLED"
    assert await Notification.filter(kind="window_cancelled").count() == 1


async def test_force_host_reboot(client: httpx.AsyncClient, world: World) -> None:
    start = (datetime.now(UTC) + timedelta(days=3)).replace(
        hour=22, minute=0, second=0, microsecond=0
    )
    out = await mutate(
        client,
        world,
        "admin",
        "forceHostReboot",
        "ForceHostRebootInput",
        {"host": "host1", "startsAt": start.isoformat()},
        "... on HostRebootResult { windows { forced machine { name } } }",
    )
    assert out["__typename"] == "HostRebootResult", out
    assert [w["machine"]["name"] for w in out["windows"]] == ["host1", "alpha-web"]
    assert all(w["forced"] for w in out["windows"])


async def test_a_vms_reboot_keys_its_hosts_reboot(client: httpx.AsyncClient, world: World) -> None:
    """The VM's reboot names its host's reboot by a foreign key; operators (and host agents)
    read the host's name in its params, customers never."""
    from api.graphql.relay import encode_id
    from api.models import Activity, Machine

    start = (datetime.now(UTC) + timedelta(days=3)).replace(
        hour=22, minute=0, second=0, microsecond=0
    )
    value = {"host": "host1", "startsAt": start.isoformat()}
    out = await mutate(client, world, "admin", "forceHostReboot", "ForceHostRebootInput", value, "")
    assert out["__typename"] == "HostRebootResult", out
    host = await Machine.get(name="host1")
    [vm_reboot] = await Activity.filter(kind="reboot", for_host_reboot_id__not_isnull=True)
    assert vm_reboot.for_host_reboot_id == host.id
    assert "host_reboot" not in vm_reboot.params  # the name is no longer stored
    doc = "query($id: ID!) { node(id: $id) { ... on Activity { params } } }"
    node = {"id": encode_id("Activity", vm_reboot.id)}
    admin = await gql(client, doc, node, world.tokens["admin"])
    assert admin["data"]["node"]["params"] == {"host_reboot": "host1", "reboot": True}
    customer = await gql(client, doc, node, world.tokens["customer_a"])
    assert customer["data"]["node"]["params"] == {"reboot": True}


async def test_create_and_revoke_token(client: httpx.AsyncClient, world: World) -> None:
    out = await mutate(
        client,
        world,
        "admin",
        "createToken",
        "CreateTokenInput",
        {"name": "alpha ci", "role": "CUSTOMER", "groups": ["alpha"]},
        "... on CreatedToken { secret token { id name role groups prefix } }",
    )
    secret = out["secret"]
    assert out["token"]["groups"] == ["alpha"] and secret.startswith(out["token"]["prefix"])
    assert not await ApiToken.filter(secret_hash=secret).exists()  # only the hash is stored
    me = await gql(client, "{ me { name } }", token=secret)
    assert me["data"]["me"]["name"] == "alpha ci"
    out = await mutate(
        client,
        world,
        "admin",
        "revokeToken",
        "RevokeTokenInput",
        {"token": out["token"]["id"]},
        "... on Token { revokedAt }",
    )
    assert out["revokedAt"] is not None
    me = await gql(client, "{ me { name } }", token=secret)
    assert me["errors"][0]["extensions"]["code"] == "PermissionDenied"


async def test_report_inventory_is_idempotent(client: httpx.AsyncClient, world: World) -> None:
    value = {
        "cpuModel": "AMD Opteron(tm) Processor 6174",
        "kernel": "2.6.38",
        "domains": [
            {
                "name": "alpha-web",
                "state": "running",
                "memoryMib": 3072,
                "vcpus": 2,
                "kernel": "2.6.38",
            },
            {"name": "beta-db", "state": "running", "memoryMib": 1, "vcpus": 1},
        ],
    }
    sel = "... on InventoryResult { updated unchanged unknown }"
    out = await mutate(
        client, world, "agent_1", "reportInventory", "ReportInventoryInput", value, sel
    )
    assert out == {
        "__typename": "InventoryResult",
        "updated": ["host1", "alpha-web"],
        "unchanged": [],
        "unknown": ["beta-db"],
    }
    vm = await Machine.get(name="alpha-web")
    assert (vm.observed_memory_mib, vm.observed_kernel) == (3072, "2.6.38")
    assert (await Machine.get(name="beta-db")).observed_memory_mib == 4096  # not agent 1's
    stamp, events = vm.observed_at, await AuditEvent.all().count()
    out = await mutate(
        client, world, "agent_1", "reportInventory", "ReportInventoryInput", value, sel
    )
    assert out["updated"] == [] and out["unchanged"] == ["host1", "alpha-web"]
    assert (await Machine.get(name="alpha-web")).observed_at == stamp
    assert await AuditEvent.all().count() == events


async def test_start_and_finish_window_are_idempotent(
    client: httpx.AsyncClient, world: World
) -> None:
    uid = world.ids["window:alpha-web"]
    sel = "... on Window { state startedAt finishedAt activities { id state log } }"
    started = await mutate(
        client, world, "agent_1", "startWindow", "StartWindowInput", {"window": uid}, sel
    )
    assert started["state"] == "RUNNING"
    assert [a["state"] for a in started["activities"]] == ["RUNNING"]
    again = await mutate(
        client, world, "agent_1", "startWindow", "StartWindowInput", {"window": uid}, sel
    )
    assert again["startedAt"] == started["startedAt"]
    results = [
        {"activity": a["id"], "outcome": "DONE", "log": "rebooted in 41 s"}
        for a in started["activities"]
    ]
    value = {"window": uid, "results": results}
    done = await mutate(client, world, "agent_1", "finishWindow", "FinishWindowInput", value, sel)
    assert done["state"] == "COMPLETED"
    assert done["activities"] == [
        {"id": results[0]["activity"], "state": "DONE", "log": "rebooted in 41 s"}
    ]
    assert await Notification.filter(kind="window_completed").count() == 1
    rows = (await Window.all().count(), await AuditEvent.all().count())
    repeat = await mutate(client, world, "agent_1", "finishWindow", "FinishWindowInput", value, sel)
    assert repeat == done
    assert (await Window.all().count(), await AuditEvent.all().count()) == rows
    assert await Notification.filter(kind="window_completed").count() == 1
    other = dict(value, results=[dict(results[0], outcome="FAILED")])
    refused = await mutate(client, world, "agent_1", "finishWindow", "FinishWindowInput", other)
    assert refused["__typename"] == "ValidationError"


async def test_a_failed_activity_fails_the_window(client: httpx.AsyncClient, world: World) -> None:
    uid = world.ids["window:beta-db"]
    started = await mutate(
        client,
        world,
        "agent_2",
        "startWindow",
        "StartWindowInput",
        {"window": uid},
        "... on Window { activities { id } }",
    )
    value = {
        "window": uid,
        "results": [
            {
                "activity": started["activities"][0]["id"],
                "outcome": "FAILED",
                "log": "virsh: timeout",
            }
        ],
    }
    out = await mutate(
        client,
        world,
        "agent_2",
        "finishWindow",
        "FinishWindowInput",
        value,
        "... on Window { state }",
    )
    assert out["state"] == "FAILED"
    note = await Notification.get(kind="window_failed")
    assert note.payload["activities"][0]["log"] == "virsh: timeout"


async def test_concurrent_create_group_with_one_name(
    client: httpx.AsyncClient, world: World
) -> None:
    # all pass the existence check; the unique index refuses all but one
    value = {"name": "gamma", "contacts": ["ops@gamma.example"], "timezone": "UTC"}
    answers = await asyncio.gather(
        *[
            mutate(client, world, "admin", "createGroup", "CreateGroupInput", value)
            for _ in range(8)
        ]
    )
    kinds = sorted(a["__typename"] for a in answers)
    assert kinds == ["Group"] + ["ValidationError"] * 7, answers
    for a in answers:
        if a["__typename"] == "ValidationError":
            assert [f["field"] for f in a["fields"]] == ["name"]
    assert await ResourceGroup.filter(name="gamma").count() == 1


async def test_concurrent_identical_inventory_reports_change_once(
    client: httpx.AsyncClient, world: World
) -> None:
    # an agent retrying a report whose first attempt is still in flight
    value = {
        "cpuModel": "AMD EPYC 7302",
        "domains": [{"name": "alpha-web", "state": "running", "memoryMib": 4096, "vcpus": 2}],
    }
    answers = await asyncio.gather(
        *[
            mutate(
                client,
                world,
                "agent_1",
                "reportInventory",
                "ReportInventoryInput",
                value,
                "... on InventoryResult { updated unchanged }",
            )
            for _ in range(8)
        ]
    )
    assert sorted(a["updated"] for a in answers) == [[]] * 7 + [["host1", "alpha-web"]]
    assert await AuditEvent.filter(action="machine.observe").count() == 2


async def test_policy_and_freezes_change_together_or_not_at_all(
    client: httpx.AsyncClient, world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    from api.services import freezes

    async def fail(*args: object) -> None:  # a fault after the policy was written
        raise RuntimeError("disk full")

    monkeypatch.setattr(freezes, "replace_freezes", fail)
    start = datetime(2027, 1, 4, tzinfo=UTC)
    value = {
        "group": "alpha",
        "windowMinutes": 45,
        "freezes": [
            {"startsAt": start.isoformat(), "endsAt": (start + timedelta(days=1)).isoformat()}
        ],
    }
    query = (
        "mutation($input: UpdatePolicyInput!) { updateGroupPolicy(input: $input) { __typename } }"
    )
    out = await gql(client, query, {"input": value}, world.tokens["customer_a"])
    assert out["errors"][0]["message"] == "Unexpected error."
    assert "disk full" not in str(out)
    group = await ResourceGroup.get(name="alpha")
    assert group.window_minutes != 45
    assert not await AuditEvent.filter(action="group.update").exists()


async def test_customers_cannot_lift_their_postpone_limit(
    client: httpx.AsyncClient, world: World
) -> None:
    query = (
        "mutation($input: UpdatePolicyInput!) { updateGroupPolicy(input: $input) "
        "{ __typename ... on PermissionDenied { message } "
        "... on Group { policy { maxPostpones } } } }"
    )
    before = (await ResourceGroup.get(name="alpha")).max_postpones
    raised = {"group": "alpha", "maxPostpones": before + 10}
    out = await gql(client, query, {"input": raised}, world.tokens["customer_a"])
    assert out["data"]["updateGroupPolicy"]["__typename"] == "PermissionDenied"
    assert (await ResourceGroup.get(name="alpha")).max_postpones == before
    same = {"group": "alpha", "maxPostpones": before}  # re-sending the policy as it is is fine
    out = await gql(client, query, {"input": same}, world.tokens["customer_a"])
    assert out["data"]["updateGroupPolicy"]["__typename"] == "Group"
    out = await gql(client, query, {"input": raised}, world.tokens["admin"])
    assert out["data"]["updateGroupPolicy"]["policy"]["maxPostpones"] == before + 10
