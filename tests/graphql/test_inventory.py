"""One bad domain must not stop a host (issue 15, section 3): reportInventory records the
good domains, rejects the bad one alone and marks it; changeDesired bounds memory."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from api.models import AuditEvent, Machine
from tests.graphql.test_mutations import mutate
from tests.graphql.world import World

SEL = "... on InventoryResult { updated unchanged unknown missing rejected { name reason } }"


async def report(
    client: httpx.AsyncClient, world: World, domains: list[dict[str, Any]], **host: Any
) -> dict[str, Any]:
    value = {
        "cpuModel": "AMD EPYC 7302P 16-Core Processor",
        "state": "running",
        "domains": domains,
        **host,
    }
    return await mutate(
        client, world, "agent_1", "reportInventory", "ReportInventoryInput", value, SEL
    )


@pytest.mark.parametrize(
    "bad, why",
    [
        ({"memoryMib": 2147483647}, "memory_mib: must be between 0 and 16 TiB"),
        ({"kernel": "9" * 65}, "kernel: at most 64 printable characters"),
    ],
)
async def test_one_bad_domain_is_rejected_alone(
    client: httpx.AsyncClient, world: World, bad: dict[str, Any], why: str
) -> None:
    good = {"name": "alpha-web", "state": "running", "memoryMib": 3072, "vcpus": 2}
    legacy = {"name": "legacy01", "state": "running", "memoryMib": 512, "vcpus": 1, **bad}
    out = await report(client, world, [good, legacy])
    assert out["rejected"] == [{"name": "legacy01", "reason": why}]
    assert out["updated"] == ["host1", "alpha-web"] and out["missing"] == []
    vm = await Machine.get(name="alpha-web")
    assert (vm.observed_memory_mib, vm.observed_state) == (3072, "running")
    host = await Machine.get(name="host1")
    assert host.cpu_model == "AMD EPYC 7302P 16-Core Processor"


async def test_a_bad_report_of_a_managed_vm_marks_it(
    client: httpx.AsyncClient, world: World
) -> None:
    bad = {"name": "alpha-web", "state": "shut off", "memoryMib": 2147483647, "vcpus": 2}
    out = await report(client, world, [bad])
    assert out["rejected"] == [
        {"name": "alpha-web", "reason": "memory_mib: must be between 0 and 16 TiB"}
    ]
    vm = await Machine.get(name="alpha-web")
    assert (vm.observed_state, vm.observed_memory_mib) == ("report rejected", 2048)
    [event] = await AuditEvent.filter(action="machine.observe_rejected")
    assert event.details == {"why": ["memory_mib: must be between 0 and 16 TiB"]}


async def test_a_vanished_domain_is_missing_and_no_kernel_clears_the_kernel(
    client: httpx.AsyncClient, world: World
) -> None:
    out = await report(client, world, [])
    assert out["missing"] == ["alpha-web"]
    assert (await Machine.get(name="alpha-web")).observed_state == "missing"
    back = {"name": "alpha-web", "state": "running", "memoryMib": 2048, "vcpus": 2}
    await report(client, world, [back])  # running again, with no kernel of its own
    vm = await Machine.get(name="alpha-web")
    assert (vm.observed_state, vm.observed_kernel) == ("running", None)


@pytest.mark.parametrize(
    "mib, message",
    [
        (2147483647, "at most 16777216 MiB (16 TiB)"),
        (65537, "at most 65536 MiB, the memory of its host host1"),
    ],
)
async def test_desired_memory_is_bounded(
    client: httpx.AsyncClient, world: World, mib: int, message: str
) -> None:
    vm = {"name": "alpha-web", "state": "running", "memoryMib": 2048, "vcpus": 2}
    await report(client, world, [vm], memoryMib=65536)  # the host's agent tells its memory
    value = {"machine": "alpha-web", "memoryMib": mib}
    sel = "... on ValidationError { fields { field message } }"
    out = await mutate(client, world, "admin", "changeDesired", "ChangeDesiredInput", value, sel)
    assert out["__typename"] == "ValidationError"
    assert any(message in f["message"] for f in out["fields"]), out
    assert (await Machine.get(name="alpha-web")).desired_memory_mib == 2048


async def test_desired_memory_is_bounded_by_the_configured_maximum(
    client: httpx.AsyncClient, world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FENSTER_MAX_VM_MEMORY_MIB", "65536")
    value = {"machine": "alpha-web", "memoryMib": 65537}
    sel = "... on ValidationError { fields { field message } }"
    out = await mutate(client, world, "admin", "changeDesired", "ChangeDesiredInput", value, sel)
    assert out["fields"] == [
        {
            "field": "memoryMib",
            "message": "at most 65536 MiB, the provider's maximum for a VM (got 65537 MiB)",
        }
    ]
