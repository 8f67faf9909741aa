"""Each activity's log ends with a summary line (what changed, old -> new; the starts; the
time; the error on failure), and the outcome mail shows it (issue 15, section 6)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from agents.host.apply import Context, apply_entry
from agents.host.journal import Journal
from agents.virt.libvirt import Hypervisor
from api.outcomes import outcome_of

from .test_guest_stays_up import refuse_start_when, window


def test_each_activity_says_what_changed_and_how_often_the_guest_started(
    hv: Hypervisor, tmp_path: Path
) -> None:
    entry = window("web01", ("memory_resize", {"memory_mib": 8192}), ("cpu_change", {"cores": 4}))
    memory, cpus = apply_entry(Context(hv, Journal(tmp_path)), entry)
    assert (memory.outcome, cpus.outcome) == ("done", "done")
    assert re.fullmatch(
        r"memory 2048MiB\(max 4096MiB\) -> 8192MiB; 1 start; \d+ s", outcome_of(memory.log)
    ), memory.log
    assert re.fullmatch(r"vcpus 2 -> 4; 1 start; \d+ s", outcome_of(cpus.log)), cpus.log
    assert memory.log.splitlines()[-1].startswith("summary: ")


def test_a_failed_activity_says_why_and_that_it_was_rolled_back(
    hv: Hypervisor, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    refuse_start_when(monkeypatch, lambda xml: "/boot/vmlinuz-2.6.39" in xml, "no such kernel")
    [kernel] = apply_entry(
        Context(hv, Journal(tmp_path)), window("web01", ("kernel_update", {"kernel": "2.6.39"}))
    )
    assert kernel.outcome == "failed"
    assert re.fullmatch(
        r"web01: start: no such kernel; kernel 2\.6\.32 -> 2\.6\.39; "
        r"rolled back to the definition that last booted; 1 start; \d+ s",
        outcome_of(kernel.log),
    ), kernel.log


def test_a_host_reboot_says_how_many_guests_it_started(hv: Hypervisor, tmp_path: Path) -> None:
    entry = window("kvm01", ("host_reboot", {}))
    [host] = apply_entry(Context(hv, Journal(tmp_path)), entry)
    assert host.outcome == "done", host.log
    assert re.fullmatch(r"2 starts; \d+ s", outcome_of(host.log)), host.log


def test_a_log_without_a_summary_shows_its_last_line() -> None:
    assert outcome_of("fetching\n212 packages updated\n") == "212 packages updated"
    assert (
        outcome_of("summary: vcpus 2 -> 4; 1 start; 3 s\nresumed") == "vcpus 2 -> 4; 1 start; 3 s"
    )
    assert outcome_of(None) == ""
