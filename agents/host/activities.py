"""The handlers of a VM's kinds (``agents.host.handler``'s ``GuestHandler``): each works on
one guest inside its window, and the window's last step restarts the guest once.

The host's own kind is ``agents.host.host_reboot``; ``agents.host.registry`` maps kinds to
handlers, and ``tests/agents/test_apply.py`` checks that it matches ``api.kinds``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from agents.host import steps
from agents.host.handler import GuestHandler, NoState
from agents.virt.libvirt import Guest
from api.kinds import CPU_MODES, FOR_HOST_REBOOT, ActivityKind

__all__ = ["CpuChange", "CpuMode", "KernelUpdate", "MemoryResize", "Reboot", "RebootState"]


@dataclass
class RebootState:
    stopped: bool = False  # the guest was stopped for this reboot


class MemoryResize(GuestHandler[NoState]):
    kind = ActivityKind.MEMORY_RESIZE

    def run(self, guest: Guest) -> None:
        steps.ensure_memory(guest, _int(self.params, "memory_mib"), self.out, self.hard_stop)


class CpuChange(GuestHandler[NoState]):
    kind = ActivityKind.CPU_CHANGE

    def run(self, guest: Guest) -> None:
        steps.ensure_vcpus(guest, _int(self.params, "cores"), self.out)


class CpuMode(GuestHandler[NoState]):
    """Shows an existing guest the host CPU: ``params.mode`` (api.kinds.CPU_MODES) in its
    definition, booted by the window's single restart. The live values do not show the CPU
    mode, so the change is noted in the journal (``Entry.restart_for``) for that restart."""

    kind = ActivityKind.CPU_MODE

    def run(self, guest: Guest) -> None:
        mode = str(self.params.get("mode") or CPU_MODES[0])
        found = guest.cpu_mode
        reason = f"cpu mode {found or 'none'}->{mode}"
        if found != mode and guest.running and reason not in self.entry.restart_for:
            self.entry.restart_for.append(reason)  # noted first: a crash cannot lose it
            self.ctx.journal.save(self.entry)
        steps.ensure_cpu_mode(guest, mode, self.out)


class KernelUpdate(GuestHandler[NoState]):
    kind = ActivityKind.KERNEL_UPDATE

    def run(self, guest: Guest) -> None:
        steps.ensure_kernel(guest, str(self.params["kernel"]), self.out)


class Reboot(GuestHandler[RebootState]):
    """Stops the guest; the window's last step starts it again."""

    kind = ActivityKind.REBOOT
    state_type = RebootState

    def run(self, guest: Guest) -> None:
        if self._nothing_to_do(guest):
            return
        steps.ensure_stopped(guest, self.out, self.hard_stop)
        self.save(RebootState(stopped=True))

    def resume(self, guest: Guest, state: RebootState) -> None:
        if self._nothing_to_do(guest):
            return
        if not state.stopped:
            self.run(guest)
            return
        self.out.add(f"{guest.name} was already stopped for this reboot; starting it")

    def _nothing_to_do(self, guest: Guest) -> bool:
        host = self.params.get(FOR_HOST_REBOOT)
        if host and host in self.ctx.rebooted_hosts:
            self.out.add(f"{guest.name} was rebooted with host {host}; no second reboot")
            return True
        if not self.entry.was_running[self.entry.machine]:
            self.out.add(f"{guest.name} was shut off before the window; nothing to reboot")
            return True
        return False


def _int(params: dict[str, Any], key: str) -> int:
    value = params[key]
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise ValueError(f"params.{key} is not a number: {value!r}")
    return int(value)
