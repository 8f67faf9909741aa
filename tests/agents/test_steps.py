"""ensure_* steps against libvirt's test driver: act once, then do nothing."""

from __future__ import annotations

from pathlib import Path

import pytest

from agents.errors import VirtError
from agents.host import steps
from agents.host.steps import StepLog
from agents.virt.libvirt import Hypervisor

from .conftest import NODES


def test_memory_up_stops_sets_and_is_then_a_no_op(hv: Hypervisor) -> None:
    web, out = hv.guest("web01"), StepLog()
    assert steps.ensure_memory(web, 8192, out) is True
    assert out.lines == [
        "stop: machine=web01 wanted=shut off found=running action=shutdown",
        "memory: machine=web01 wanted=8192MiB found=2048MiB(max 4096MiB) action=set-memory",
    ]
    assert web.config_memory_mib == (8192, 8192)
    again = StepLog()
    assert steps.ensure_memory(web, 8192, again) is False
    assert again.lines == [
        "memory: machine=web01 wanted=8192MiB found=8192MiB(max 8192MiB) action=none"
    ]


def test_memory_down_below_the_maximum(hv: Hypervisor) -> None:
    db = hv.guest("db01")
    db.shutdown()
    assert steps.ensure_memory(db, 512, StepLog()) is True
    assert db.config_memory_mib == (512, 512)


def test_vcpus_and_kernel_then_one_restart(hv: Hypervisor) -> None:
    web, out = hv.guest("web01"), StepLog()
    assert steps.ensure_vcpus(web, 4, out) is True
    assert steps.ensure_kernel(web, "2.6.38", out) is True
    assert web.running  # config only so far
    assert steps.needs_restart(web) == ["vcpus 2->4", "kernel 2.6.32->2.6.38"]
    assert steps.ensure_restarted(web, out) is True
    assert (web.vcpus, web.kernel, web.running) == (4, "2.6.38", True)
    assert steps.needs_restart(web) == []
    assert out.lines[-3:] == [
        "restart: machine=web01 wanted=definition active "
        "found=vcpus 2->4, kernel 2.6.32->2.6.38 action=restart",
        "stop: machine=web01 wanted=shut off found=running action=shutdown",
        "start: machine=web01 wanted=running found=shut off action=start",
    ]
    tail = StepLog()
    assert steps.ensure_restarted(web, tail) is False
    assert tail.lines == [
        "restart: machine=web01 wanted=definition active found=definition active action=none"
    ]


def test_already_right_is_a_no_op(hv: Hypervisor) -> None:
    web, out = hv.guest("web01"), StepLog()
    web.shutdown()
    web.set_memory(2048)
    web.start()
    assert not steps.ensure_memory(web, 2048, out)
    assert not steps.ensure_vcpus(web, 2, out)
    assert not steps.ensure_kernel(web, "2.6.32", out)
    assert not steps.ensure_running(web, out)
    assert all(line.endswith("action=none") for line in out.lines)
    assert len(out.lines) == 4
    assert web.running


def test_stop_and_start_steps(hv: Hypervisor) -> None:
    db, out = hv.guest("db01"), StepLog()
    assert steps.ensure_stopped(db, out) is True
    assert steps.ensure_stopped(db, out) is False
    assert steps.ensure_running(db, out) is True
    assert out.lines == [
        "stop: machine=db01 wanted=shut off found=running action=shutdown",
        "stop: machine=db01 wanted=shut off found=shut off action=none",
        "start: machine=db01 wanted=running found=shut off action=start",
    ]


def test_vcpus_above_the_defined_maximum_raise_it(hv: Hypervisor) -> None:
    web = hv.guest("web01")
    assert steps.ensure_vcpus(web, 16, StepLog()) is True
    assert (web.config_max_vcpus, web.config_vcpus) == (16, 16)


def test_impossible_vcpus_raise_virt_error(hv: Hypervisor) -> None:
    web = hv.guest("web01")
    with pytest.raises(VirtError):
        steps.ensure_vcpus(web, 64, StepLog())  # the (test) host supports 32
    assert web.config_vcpus == 2


def test_memory_of_a_numa_guest_is_refused_before_it_is_stopped(tmp_path: Path) -> None:
    numa = "<cpu><numa><cell id='0' cpus='0-1' memory='2048' unit='MiB'/></numa></cpu>"
    xml = (NODES / "kvm01.xml").read_text().replace("<os>", numa + "<os>", 1)
    (tmp_path / "kvm01.xml").write_text(xml)
    with Hypervisor.connect(f"test://{tmp_path / 'kvm01.xml'}") as hv:
        web = hv.guest("web01")
        out = StepLog()
        with pytest.raises(VirtError, match="NUMA cells"):
            steps.ensure_memory(web, 8192, out)
        assert web.running  # not stopped for a change libvirt would refuse
        assert "action=shutdown" not in out.text and "action=refuse" in out.text
