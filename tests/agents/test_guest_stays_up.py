"""A guest that ran before its window runs after it (issue 15, section 1), on the test
driver. Faults the test driver cannot produce (a start that QEMU refuses, a guest that dies
while booting) are raised from libvirt's own virDomain.create as libvirtErrors; the real
hypervisor tier (test_real_hypervisor.py) shows the same with QEMU."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import libvirt
import pytest

from agents.client import Client
from agents.host.apply import MAX_ATTEMPTS, Context, apply_entry
from agents.host.journal import Entry, Journal, JournalActivity
from agents.host.loop import Agent
from agents.virt.libvirt import Hypervisor

from .conftest import Api, node_uri


def window(machine: str, *activities: tuple[str, dict]) -> Entry:
    return Entry(
        uid=f"w-{machine}",
        machine=machine,
        activities=[JournalActivity(f"a{i}", k, p) for i, (k, p) in enumerate(activities)],
    )


def refuse_start_when(
    monkeypatch: pytest.MonkeyPatch, bad: Callable[[str], bool], message: str
) -> list[str]:
    """virDomain.create fails like QEMU does when the definition matches ``bad``."""
    real = libvirt.virDomain.create
    seen: list[str] = []

    def create(dom: libvirt.virDomain) -> int:
        xml = dom.XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE)
        seen.append(xml)
        if bad(xml):
            err = libvirt.libvirtError(message)
            err.err = (libvirt.VIR_ERR_INTERNAL_ERROR, libvirt.VIR_FROM_QEMU, message, 2)
            raise err
        return real(dom)

    monkeypatch.setattr(libvirt.virDomain, "create", create)
    return seen


def test_giving_up_starts_the_guest_again_with_the_definition_that_booted(
    hv: Hypervisor, tmp_path: Path
) -> None:
    web = hv.guest("web01")
    entry = window("web01", ("memory_resize", {"memory_mib": 8192}))
    entry.attempts = MAX_ATTEMPTS  # killed three times: this run gives up
    entry.was_running["web01"] = True
    entry.booted["web01"] = web.definition()
    web.shutdown()  # where the last killed run left it: stopped, memory changed
    web.set_memory(8192)
    [result] = apply_entry(Context(hv, Journal(tmp_path)), entry)
    assert result.outcome == "failed"
    assert "gave up: the agent was interrupted 3 times" in result.log
    web = hv.guest("web01")
    assert web.running
    assert (web.memory_mib, web.config_memory_mib) == (2048, (2048, 4096))  # rolled back


@pytest.mark.parametrize(
    "kind, params, message",
    [
        (
            "kernel_update",
            {"kernel": "2.6.39"},
            "Cannot access storage file '/boot/vmlinuz-2.6.39': No such file or directory",
        ),
        ("memory_resize", {"memory_mib": 65536}, "cannot set up guest memory: Cannot allocate"),
    ],
)
def test_a_failed_start_rolls_back_and_starts_the_old_definition(
    hv: Hypervisor,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    kind: str,
    params: dict,
    message: str,
) -> None:
    value = str(params.get("kernel") or params["memory_mib"] * 1024)
    refuse_start_when(monkeypatch, lambda xml: value in xml, message)
    [result] = apply_entry(Context(hv, Journal(tmp_path)), window("web01", (kind, params)))
    assert result.outcome == "failed"
    assert message in result.log
    assert "rollback: web01 gets back the definition that last booted" in result.log
    web = hv.guest("web01")
    assert web.running
    assert (web.kernel, web.config_kernel, web.memory_mib) == ("2.6.32", "2.6.32", 2048)
    assert web.config_memory_mib == (2048, 4096)


def test_a_guest_that_dies_while_starting_is_not_reported_booted(
    hv: Hypervisor, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = libvirt.virDomain.create
    crashes = []

    def create(dom: libvirt.virDomain) -> int:
        done = real(dom)
        if dom.info()[3] == 3:  # the new definition's boot fails
            crashes.append(dom.name())
            dom.destroy()  # powered off at once (a kernel that panics, say)
        return done

    monkeypatch.setattr(libvirt.virDomain, "create", create)
    [result] = apply_entry(
        Context(hv, Journal(tmp_path)), window("web01", ("cpu_change", {"cores": 3}))
    )
    assert result.outcome == "failed"
    assert "web01: started, but it is shut off, not running" in result.log
    assert crashes == ["web01"]
    web = hv.guest("web01")
    assert web.running and (web.vcpus, web.config_vcpus) == (2, 2)


def test_a_guest_that_cannot_start_again_is_reported_down(
    hv: Hypervisor, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    refuse_start_when(monkeypatch, lambda _xml: True, "internal error: qemu died")
    [result] = apply_entry(
        Context(hv, Journal(tmp_path)), window("web01", ("cpu_change", {"cores": 3}))
    )
    assert result.outcome == "failed"
    assert "GUEST DOWN: web01 could not be started again" in result.log


def test_a_guest_left_down_alerts_the_operators_at_once(
    api: Api, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The agent against the real API: web01's start and rollback fail; finishWindow names it
    down, the window is flagged and the operators' GUEST DOWN mail is queued, once."""
    refuse_start_when(monkeypatch, lambda xml: "<name>web01</name>" in xml, "qemu died")
    journal = Journal(tmp_path)
    with Hypervisor.connect(node_uri()) as hv, Client(api.url, api.token) as client:
        summary = Agent(client, Context(hv, journal)).cycle()
        assert not hv.guest("web01").running and hv.guest("db01").running
    assert [(w.machine, w.state) for w in summary.windows] == [
        ("web01", "failed"),
        ("db01", "completed"),
    ]
    flagged = api.rows(
        "SELECT m.name, w.guest_down FROM maintenance_window w"
        " JOIN machine m ON m.id = w.machine_id WHERE w.guest_down_at IS NOT NULL"
    )
    assert flagged == [("web01", "web01: web01: start: qemu died")]
    [(recipients, payload)] = api.rows(
        "SELECT recipients, payload FROM notification WHERE kind = 'guest_down'"
    )
    assert json.loads(recipients) == ["noc@provider.example"]
    assert json.loads(payload)["guests"] == ["web01: web01: start: qemu died"]
    assert journal.load() is None
