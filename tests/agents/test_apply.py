"""Carrying out windows on libvirt's test driver, with a real journal in a temp dir."""

from __future__ import annotations

from pathlib import Path

import pytest

from agents.host.apply import Context, RebootPending, apply_entry
from agents.host.journal import Entry, Journal, JournalActivity
from agents.virt.libvirt import Hypervisor
from tests.agents.conftest import NODES


def ctx_for(hv: Hypervisor, tmp_path: Path, **kw: object) -> Context:
    return Context(hv, Journal(tmp_path), **kw)  # type: ignore[arg-type]


def window(machine: str, *activities: tuple[str, dict]) -> Entry:
    return Entry(
        uid=f"w-{machine}",
        machine=machine,
        activities=[JournalActivity(f"a{i}", k, p) for i, (k, p) in enumerate(activities)],
    )


def test_three_changes_one_restart(hv: Hypervisor, tmp_path: Path) -> None:
    entry = window(
        "web01",
        ("memory_resize", {"memory_mib": 8192}),
        ("cpu_change", {"cores": 4}),
        ("kernel_update", {"kernel": "2.6.38"}),
    )
    results = apply_entry(ctx_for(hv, tmp_path), entry)
    assert [r.outcome for r in results] == ["done", "done", "done"]
    web = hv.guest("web01")
    assert (web.running, web.memory_mib, web.vcpus, web.kernel) == (True, 8192, 4, "2.6.38")
    log = results[0].log
    assert "action=set-memory" in log
    assert log.count("action=shutdown") == 1 and log.count("action=start") == 1
    assert "wanted=4 found=2 action=set-vcpus" in results[1].log


def test_reboot_stops_and_starts_once(hv: Hypervisor, tmp_path: Path) -> None:
    entry = window("db01", ("reboot", {}))
    [result] = apply_entry(ctx_for(hv, tmp_path), entry)
    assert result.outcome == "done"
    *steps, summary = result.log.splitlines()
    assert steps == [
        "stop: machine=db01 wanted=shut off found=running action=shutdown",
        "restart: machine=db01 wanted=definition active found=shut off action=none",
        "start: machine=db01 wanted=running found=shut off action=start",
    ]
    assert summary.startswith("summary: 1 start; ") and summary.endswith(" s")
    assert hv.guest("db01").running


def test_resumed_reboot_does_not_stop_twice(hv: Hypervisor, tmp_path: Path) -> None:
    journal = Journal(tmp_path)
    entry = window("db01", ("reboot", {}))
    entry.attempts = 1
    entry.was_running["db01"] = True
    entry.progress["a0"] = {"stopped": True}  # the killed agent stopped it already
    hv.guest("db01").shutdown()
    [result] = apply_entry(Context(hv, journal), entry)
    assert result.outcome == "done"
    assert "action=shutdown" not in result.log
    assert result.log.startswith("resumed after an interrupted run (attempt 2)")
    assert hv.guest("db01").running
    assert journal.load() is not None and journal.load().attempts == 2  # type: ignore[union-attr]


def test_already_right_changes_nothing(hv: Hypervisor, tmp_path: Path) -> None:
    entry = window("db01", ("memory_resize", {"memory_mib": 1024}), ("cpu_change", {"cores": 1}))
    results = apply_entry(ctx_for(hv, tmp_path), entry)
    assert [r.outcome for r in results] == ["done", "done"]
    assert "action=shutdown" not in results[0].log + results[1].log
    assert "action=set" not in results[0].log + results[1].log


def test_shut_off_guest_stays_off(hv: Hypervisor, tmp_path: Path) -> None:
    hv.guest("web01").shutdown()
    [result] = apply_entry(ctx_for(hv, tmp_path), window("web01", ("cpu_change", {"cores": 3})))
    assert result.outcome == "done"
    assert "left shut off" in result.log
    web = hv.guest("web01")
    assert (web.running, web.config_vcpus) == (False, 3)


def test_failures_are_reported_per_activity(hv: Hypervisor, tmp_path: Path) -> None:
    entry = window(
        "web01",
        ("system_update", {}),
        ("cpu_change", {"cores": 99}),
        ("memory_resize", {}),
        ("kernel_update", {"kernel": "2.6.38"}),
    )
    results = apply_entry(ctx_for(hv, tmp_path), entry)
    assert [r.outcome for r in results] == ["failed", "failed", "failed", "done"]
    assert "not the host agent's job" in results[0].log
    assert "exceeds maximum" in results[1].log
    assert "memory_mib" in results[2].log
    assert hv.guest("web01").kernel == "2.6.38" and hv.guest("web01").running


def test_unknown_domain_fails_every_activity(hv: Hypervisor, tmp_path: Path) -> None:
    results = apply_entry(ctx_for(hv, tmp_path), window("ghost", ("reboot", {})))
    assert [r.outcome for r in results] == ["failed"]
    assert "domain 'ghost' not found" in results[0].log


def test_host_reboot_without_command_restarts_the_running_guests(
    hv: Hypervisor, tmp_path: Path
) -> None:
    hv.guest("db01").shutdown()
    ctx = ctx_for(hv, tmp_path)
    [result] = apply_entry(ctx, window("kvm01", ("host_reboot", {})))
    assert result.outcome == "done"
    assert "guests running before: web01" in result.log
    assert "the host itself was not rebooted" in result.log
    assert (hv.guest("web01").running, hv.guest("db01").running) == (True, False)
    assert ctx.rebooted_hosts == {"kvm01"}
    [vm] = apply_entry(ctx, window("web01", ("reboot", {"host_reboot": "kvm01"})))
    assert "rebooted with host kvm01; no second reboot" in vm.log
    assert "action=shutdown" not in vm.log


def test_failing_reboot_command_starts_the_guests_again(hv: Hypervisor, tmp_path: Path) -> None:
    ctx = ctx_for(hv, tmp_path, reboot_command="false")
    [result] = apply_entry(ctx, window("kvm01", ("host_reboot", {})))
    assert result.outcome == "failed"
    assert "reboot command failed with status 1" in result.log
    assert hv.guest("web01").running and hv.guest("db01").running


def test_reboot_command_finishes_after_the_boot(hv: Hypervisor, tmp_path: Path) -> None:
    boot = tmp_path / "boot_id"
    boot.write_text("11111111-aaaa\n")
    state = tmp_path / "state"
    state.mkdir()
    ctx = Context(hv, Journal(state), reboot_command="true", boot_id_path=boot)
    entry = window("kvm01", ("host_reboot", {}))
    with pytest.raises(RebootPending):
        apply_entry(ctx, entry)
    assert not hv.guest("web01").running  # stopped for the reboot
    saved = Journal(state).load()
    assert saved is not None and saved.progress["a0"]["reboot_issued"] is True
    for _ in range(5):  # same boot: still waiting (cycle after cycle), nothing repeated
        with pytest.raises(RebootPending):
            apply_entry(ctx, saved)
    boot.write_text("22222222-bbbb\n")  # the host came back
    [result] = apply_entry(ctx, saved)
    assert result.outcome == "done"
    assert "host rebooted (boot id 11111111 -> 22222222)" in result.log
    assert "reboot: true" in result.log
    assert hv.guest("web01").running and hv.guest("db01").running


def acpi_deaf_node(tmp_path: Path) -> str:
    """web01 restarts when asked to power off (on_poweroff=restart): a guest that ignores
    ACPI shutdown, on the test driver."""
    xml = (NODES / "kvm01.xml").read_text()
    node = tmp_path / "kvm01.xml"
    node.write_text(
        xml.replace("<on_poweroff>destroy</on_poweroff>", "<on_poweroff>restart</on_poweroff>", 1)
    )
    return f"test://{node}"


def test_host_reboot_powers_off_a_guest_that_ignores_acpi(tmp_path: Path) -> None:
    with Hypervisor.connect(acpi_deaf_node(tmp_path), shutdown_timeout=0.2) as hv:
        ctx = ctx_for(hv, tmp_path, reboot_command="true")
        entry = window("kvm01", ("host_reboot", {}))
        with pytest.raises(RebootPending):
            apply_entry(ctx, entry)
        log = "\n".join(entry.progress["a0"]["log"])
        assert "machine=web01 wanted=shut off found=running (web01: still running" in log
        assert "action=destroy" in log
        assert not hv.guest("web01").running and not hv.guest("db01").running


@pytest.mark.parametrize(
    "kind, params",
    [("memory_resize", {"memory_mib": 8192}), ("kernel_update", {"kernel": "2.6.38"})],
)
def test_a_guest_that_ignores_acpi_is_powered_off_after_the_timeout(
    tmp_path: Path, kind: str, params: dict
) -> None:
    with Hypervisor.connect(acpi_deaf_node(tmp_path), shutdown_timeout=0.2) as hv:
        [result] = apply_entry(ctx_for(hv, tmp_path), window("web01", (kind, params)))
        assert result.outcome == "done", result.log
        assert result.log.count("action=destroy") == 1
        web = hv.guest("web01")
        assert web.running
        assert (web.memory_mib, web.kernel) == (
            params.get("memory_mib", 2048),
            params.get("kernel", "2.6.32"),
        )


def test_the_handlers_are_the_registrys_host_agent_kinds() -> None:
    from agents.host.registry import GUEST_HANDLERS, HANDLERS, HOST_HANDLERS
    from api.kinds import KINDS, Executor

    ours = {k for k, s in KINDS.items() if s.executor is Executor.HOST_AGENT}
    assert set(HANDLERS) == ours
    assert set(HOST_HANDLERS) == {k for k, s in KINDS.items() if s.host_only}
    assert not set(GUEST_HANDLERS) & set(HOST_HANDLERS)
    for kind, handler in HANDLERS.items():
        assert handler.kind == kind


def test_resume_state_reads_the_journals_json(hv: Hypervisor, tmp_path: Path) -> None:
    from agents.host.host_reboot import HostReboot, HostRebootState

    entry = window("kvm", ("host_reboot", {}))
    assert HostReboot.state_in(entry, entry.activities[0]) is None  # nothing ran yet
    entry.progress["a0"] = {"running_before": ["db01"], "reboot_issued": True, "boot_id": "b"}
    Journal(tmp_path).save(entry)
    loaded = Journal(tmp_path).load()
    assert loaded is not None
    state = HostReboot.state_in(loaded, loaded.activities[0])
    assert state == HostRebootState(running_before=["db01"], reboot_issued=True, boot_id="b")
