"""A forced host reboot (window_ops.force_host_reboot) carried out by fenster-agent."""

from __future__ import annotations

import json
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import libvirt
import pytest

from agents.host.apply import Context, apply_entry
from agents.host.journal import Entry, Journal, JournalActivity
from agents.virt.libvirt import Hypervisor
from api.kinds import FOR_HOST_REBOOT

from .conftest import Api, node_uri


@pytest.fixture
def scenario() -> str:
    return "host-reboot"


def test_host_reboot_restarts_every_guest_once(api: Api) -> None:
    done = api.agent("once")
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    assert [(w["machine"], w["state"], w["activities"]) for w in summary["windows"]] == [
        ("kvm01", "completed", {"host_reboot": "done"}),
        ("db01", "completed", {"reboot": "done"}),
        ("web01", "completed", {"reboot": "done"}),
    ]
    logs = dict(
        api.rows(
            "SELECT m.name, a.log FROM activity a JOIN machine m ON m.id = a.machine_id"
            " ORDER BY a.id"
        )
    )
    host = logs["kvm01"]
    assert "guests running before: db01, web01" in host
    assert host.count("action=shutdown") == 2 and host.count("action=start") == 2
    assert "no reboot command configured: the host itself was not rebooted" in host
    for vm in ("db01", "web01"):
        assert f"{vm} was rebooted with host kvm01; no second reboot" in logs[vm]
        assert "action=shutdown" not in logs[vm]
    states = api.rows("SELECT observed_state FROM machine WHERE kind = 'vm'")
    assert states == [("running",), ("running",)]


class Killed(BaseException):
    """The agent dies here (SIGKILL in production): nothing in the agent catches it."""


GUESTS = [f"g{i:02d}" for i in range(1, 9)]  # with web01 and db01: ten guests


@pytest.fixture
def ten(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Hypervisor, Counter]]:
    """Ten running guests on the test driver; g04 ignores ACPI; boots counted per guest."""
    boots: Counter[str] = Counter()
    real_create, real_shutdown = libvirt.virDomain.create, libvirt.virDomain.shutdown

    def create(dom: libvirt.virDomain) -> int:
        done = real_create(dom)
        boots[dom.name()] += 1
        return done

    def shutdown(dom: libvirt.virDomain) -> int:
        return 0 if dom.name() == "g04" else real_shutdown(dom)  # ACPI-deaf

    with Hypervisor.connect(node_uri(), shutdown_timeout=0.3) as hv:
        template = hv.guest("db01").definition()
        for i, name in enumerate(GUESTS):
            xml = template.replace("<name>db01</name>", f"<name>{name}</name>")
            xml = xml.replace("6695eb01-f6a4-8304-79aa-97f2502e1940", f"{uuid.UUID(int=i)}")
            hv._conn.defineXML(xml).create()  # the test driver's node lives in this connection
        monkeypatch.setattr(libvirt.virDomain, "create", create)
        monkeypatch.setattr(libvirt.virDomain, "shutdown", shutdown)
        yield hv, boots


def host_window() -> Entry:
    return Entry("w-kvm01", "kvm01", [JournalActivity("h", "host_reboot", {})])


def vm_windows() -> list[Entry]:
    return [
        Entry(f"w-{n}", n, [JournalActivity(f"r-{n}", "reboot", {FOR_HOST_REBOOT: "kvm01"})])
        for n in ["db01", "web01", *GUESTS]
    ]


def test_an_acpi_deaf_guest_among_ten_every_guest_boots_once(
    ten: tuple[Hypervisor, Counter], tmp_path: Path
) -> None:
    hv, boots = ten
    ctx = Context(hv, Journal(tmp_path))
    [host] = apply_entry(ctx, host_window())
    assert host.outcome == "done", host.log
    assert "stop: machine=g04 wanted=shut off found=running (g04: still running" in host.log
    for entry in vm_windows():  # the VMs' own windows for the host reboot
        [vm] = apply_entry(ctx, entry)
        assert (vm.outcome, "no second reboot" in vm.log) == ("done", True), vm.log
    every = ["db01", "web01", *GUESTS]
    assert boots == dict.fromkeys(every, 1)
    counted = ", ".join(f"{n}=1" for n in sorted(every))
    assert f"boots of each guest in this window: {counted}" in host.log.replace("\n", " ")
    assert all(hv.guest(n).running for n in every)


def test_killed_while_starting_the_guests_again_each_still_boots_once(
    ten: tuple[Hypervisor, Counter], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    hv, boots = ten
    counting = libvirt.virDomain.create

    def dies_at_the_sixth(dom: libvirt.virDomain) -> int:
        if sum(boots.values()) == 5:
            raise Killed
        return counting(dom)

    journal = Journal(tmp_path)
    journal.save(host_window())
    monkeypatch.setattr(libvirt.virDomain, "create", dies_at_the_sixth)
    with pytest.raises(Killed):
        apply_entry(Context(hv, journal), host_window_from(journal))
    assert sum(boots.values()) == 5
    monkeypatch.setattr(libvirt.virDomain, "create", counting)  # the agent starts again
    [host] = apply_entry(Context(hv, journal), host_window_from(journal))
    assert host.outcome == "done", host.log
    assert boots == dict.fromkeys(["db01", "web01", *GUESTS], 1)


def test_a_guest_that_does_not_start_again_leaves_no_other_down(
    ten: tuple[Hypervisor, Counter], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    hv, boots = ten
    counting = libvirt.virDomain.create

    def g02_fails(dom: libvirt.virDomain) -> int:
        if dom.name() == "g02":
            err = libvirt.libvirtError("Cannot allocate memory")
            err.err = (libvirt.VIR_ERR_INTERNAL_ERROR, libvirt.VIR_FROM_QEMU, "no memory", 2)
            raise err
        return counting(dom)

    monkeypatch.setattr(libvirt.virDomain, "create", g02_fails)
    entry = host_window()
    [host] = apply_entry(Context(hv, Journal(tmp_path)), entry)
    assert host.outcome == "failed"
    assert "GUEST DOWN: g02 could not be started again" in host.log
    assert list(entry.down) == ["g02"]
    up = [n for n in ["db01", "web01", *GUESTS] if n != "g02"]
    assert all(hv.guest(n).running for n in up) and not hv.guest("g02").running
    assert boots == dict.fromkeys(up, 1)


def host_window_from(journal: Journal) -> Entry:
    entry = journal.load()
    assert entry is not None
    return entry
