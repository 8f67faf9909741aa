"""The libvirt wrapper against libvirt's test driver (real libvirt code paths)."""

from __future__ import annotations

import pytest

from agents.errors import DomainNotFound, VirtError
from agents.virt.libvirt import Guest, Hypervisor

from .conftest import node_uri


def test_reads_the_node_and_its_guests(hv: Hypervisor) -> None:
    assert hv.cpu_model == "AMD Opteron(tm) Processor 6174"
    assert hv.kernel is None  # test driver: not this machine's kernel
    web = {g.name: g for g in hv.domains()}["web01"]
    assert [g.name for g in hv.domains()] == ["db01", "web01"]
    assert (web.state, web.running) == ("running", True)
    assert (web.memory_mib, web.max_memory_mib, web.vcpus, web.kernel) == (2048, 4096, 2, "2.6.32")
    assert web.config_memory_mib == (2048, 4096)
    assert web.config_vcpus == 2


def test_unknown_domain_is_domain_not_found(hv: Hypervisor) -> None:
    with pytest.raises(DomainNotFound) as caught:
        hv.guest("nope")
    assert caught.value.name == "nope"
    assert caught.value.code == 42  # VIR_ERR_NO_DOMAIN


def test_unusable_uri_is_a_virt_error() -> None:
    with pytest.raises(VirtError):
        Hypervisor.connect("test:///no/such/node.xml")


def test_stop_and_start_treat_already_there_as_success(hv: Hypervisor) -> None:
    web = hv.guest("web01")
    assert web.start() is False  # already running
    assert web.shutdown() is True
    assert web.state == "shut off"
    assert web.shutdown() is False  # already off
    assert web.start() is True
    assert web.running


def test_memory_up_needs_a_shut_off_guest_and_raises_the_maximum(hv: Hypervisor) -> None:
    web = hv.guest("web01")
    with pytest.raises(VirtError):
        web.set_memory(8192)
    assert web.config_memory_mib == (2048, 4096)  # nothing changed
    web.shutdown()
    web.set_memory(8192)
    assert web.config_memory_mib == (8192, 8192)
    web.start()
    assert (web.memory_mib, web.max_memory_mib) == (8192, 8192)


def test_memory_down_lowers_current_then_maximum(hv: Hypervisor) -> None:
    web = hv.guest("web01")
    web.shutdown()
    web.set_memory(1024)
    web.start()
    assert (web.memory_mib, web.max_memory_mib) == (1024, 1024)


def test_vcpus_change_the_definition_and_the_next_boot(hv: Hypervisor) -> None:
    web = hv.guest("web01")
    web.set_vcpus(4)
    assert (web.config_vcpus, web.vcpus) == (4, 2)  # the running guest keeps its count
    web.shutdown()
    web.start()
    assert web.vcpus == 4
    web.set_vcpus(16)  # above the <vcpu> maximum of 12: the maximum is raised first
    assert (web.config_max_vcpus, web.config_vcpus) == (16, 16)
    with pytest.raises(VirtError) as caught:
        web.set_vcpus(64)  # above what the (test) host supports, 32
    assert caught.value.code == 8  # VIR_ERR_INVALID_ARG
    assert web.config_vcpus == 16  # unchanged


def test_kernel_redefines_the_inactive_xml(hv: Hypervisor) -> None:
    web = hv.guest("web01")
    web.set_kernel("2.6.38")
    assert (web.config_kernel, web.kernel) == ("2.6.38", "2.6.32")
    web.shutdown()
    web.start()
    assert web.kernel == "2.6.38"
    with pytest.raises(VirtError):
        web.set_kernel("2.6.38</kernel><evil/>")


def test_guests_carry_the_shutdown_timeout() -> None:
    with Hypervisor.connect(node_uri(), shutdown_timeout=7.5) as h:
        assert h.guest("web01").shutdown_timeout == 7.5
        assert {g.shutdown_timeout for g in h.domains()} == {7.5}


def test_every_connection_gets_a_fresh_node() -> None:
    with Hypervisor.connect(node_uri()) as first:
        first.guest("web01").shutdown()
        with Hypervisor.connect(node_uri()) as second:
            assert second.guest("web01").running


def test_reconnect_opens_a_new_connection(hv: Hypervisor) -> None:
    hv.guest("web01").shutdown()
    hv.reconnect()
    assert hv.guest("web01").running  # the test driver builds a fresh node per connection
    hv.reconnect()  # twice is fine
    assert [g.name for g in hv.domains()] == ["db01", "web01"]


def test_inventory_skips_a_domain_undefined_while_listing(
    hv: Hypervisor, caplog: pytest.LogCaptureFixture
) -> None:
    """libvirt lists db01, then db01 is destroyed and undefined before its values are read."""
    from agents.host.loop import inventory

    class Racing:
        def __getattr__(self, name: str) -> object:
            return getattr(hv, name)

        def domains(self) -> list[Guest]:
            listed = hv.domains()
            gone = hv.guest("db01")
            if gone.running:
                gone._dom.destroy()
            gone._dom.undefine()
            return listed

    with caplog.at_level("WARNING", logger="fenster.agent"):
        seen = inventory(Racing())  # type: ignore[arg-type]
    assert [d.name for d in seen["domains"]] == ["web01"]
    assert "domain db01 disappeared while it was being listed; skipped" in caplog.text
