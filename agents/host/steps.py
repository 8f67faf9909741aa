"""Idempotent steps (fc.qemu style): each looks, compares, acts only when needed, and logs
``machine=... wanted=... found=... action=...``. Running a step twice changes nothing more.

Config steps (memory, vCPUs, kernel) change the guest's persistent definition; the next boot
applies it. ``needs_restart`` tells whether the running guest still differs from its
definition; the window's last step, ``ensure_running``, then restarts it.

``FENSTER_AGENT_TEST_CRASH_AFTER=<step name>`` makes the agent SIGKILL itself right after that
step (``ensure_vcpus`` ...; the loop adds ``window_finished``): the crash drill in tests/agents
uses it. Unset, it does nothing.
"""

from __future__ import annotations

import logging
import os
import signal
from collections.abc import Callable
from dataclasses import dataclass, field

from agents.errors import ConnectionLost, VirtError
from agents.virt.libvirt import Guest

__all__ = [
    "CRASH_ENV",
    "StepLog",
    "checkpoint",
    "ensure_cpu_mode",
    "ensure_kernel",
    "ensure_memory",
    "ensure_restarted",
    "ensure_running",
    "ensure_stopped",
    "ensure_vcpus",
    "needs_restart",
]

log = logging.getLogger("fenster.agent.steps")
CRASH_ENV = "FENSTER_AGENT_TEST_CRASH_AFTER"


@dataclass
class StepLog:
    """The lines an activity reports back (also sent to the agent's own log, and to ``sink``,
    which keeps them in the journal so a crash does not lose them)."""

    lines: list[str] = field(default_factory=list)
    sink: Callable[[str], None] | None = None
    changes: list[str] = field(default_factory=list)  # "memory 2048MiB -> 8192MiB", ...
    starts: int = 0  # guests this log's steps started (boots)

    def step(self, machine: str, what: str, wanted: object, found: object, action: str) -> None:
        self.add(f"{what}: machine={machine} wanted={wanted} found={found} action={action}")
        if action not in ("none", "refuse") and what not in ("stop", "start", "restart"):
            self.changes.append(f"{what} {found} -> {wanted}")

    def add(self, line: str) -> None:
        log.info("%s", line)
        self.lines.append(line)
        if self.sink is not None:
            self.sink(line)

    @property
    def text(self) -> str:
        return "\n".join(self.lines)


def checkpoint(step: str) -> None:
    """Test hook for the crash drill (see the module docstring)."""
    if os.environ.get(CRASH_ENV) == step:
        os.kill(os.getpid(), signal.SIGKILL)


def ensure_stopped(guest: Guest, out: StepLog, hard: bool = False) -> bool:
    """The guest is shut off: gracefully (ACPI), and with ``hard`` powered off (destroy) when
    it is still running after the shutdown timeout. True if it had to be stopped."""
    found = guest.state
    if found == "shut off":
        out.step(guest.name, "stop", "shut off", found, "none")
        changed = False
    else:
        out.step(guest.name, "stop", "shut off", found, "shutdown")
        try:
            guest.shutdown()
        except ConnectionLost:
            raise
        except VirtError as e:
            if not hard:
                raise
            out.step(guest.name, "stop", "shut off", f"running ({e})", "destroy")
            guest.destroy()
        changed = True
    checkpoint("ensure_stopped")
    return changed


def ensure_running(guest: Guest, out: StepLog) -> bool:
    """The guest runs. True if it had to be started."""
    found = guest.state
    if guest.running:
        out.step(guest.name, "start", "running", found, "none")
        changed = False
    else:
        out.step(guest.name, "start", "running", found, "start")
        guest.start()
        out.starts += 1  # booted (Guest.start checks that it runs)
        changed = True
    checkpoint("ensure_running")
    return changed


def ensure_memory(guest: Guest, mib: int, out: StepLog, hard: bool = False) -> bool:
    """The definition has ``mib`` MiB as current and maximum memory. Changing the maximum
    needs the guest shut off, so a running guest is stopped first, once it is clear that
    libvirt can apply the change (a definition with NUMA cells cannot be resized here)."""
    current, maximum = guest.config_memory_mib
    found = f"{current}MiB(max {maximum}MiB)"
    if (current, maximum) == (mib, mib):
        out.step(guest.name, "memory", f"{mib}MiB", found, "none")
        changed = False
    else:
        if problem := guest.memory_problem():
            out.step(guest.name, "memory", f"{mib}MiB", found, "refuse")
            raise VirtError(f"{guest.name}: {problem}")
        if guest.running:
            ensure_stopped(guest, out, hard)
        out.step(guest.name, "memory", f"{mib}MiB", found, "set-memory")
        guest.set_memory(mib)
        changed = True
    checkpoint("ensure_memory")
    return changed


def ensure_vcpus(guest: Guest, count: int, out: StepLog) -> bool:
    """The definition has ``count`` vCPUs (the next boot gets them)."""
    found = guest.config_vcpus
    if found == count:
        out.step(guest.name, "vcpus", count, found, "none")
        changed = False
    else:
        out.step(guest.name, "vcpus", count, found, "set-vcpus")
        guest.set_vcpus(count)
        changed = True
    checkpoint("ensure_vcpus")
    return changed


def ensure_kernel(guest: Guest, version: str, out: StepLog) -> bool:
    """The definition boots /boot/vmlinuz-``version``."""
    found = guest.config_kernel
    if found == version:
        out.step(guest.name, "kernel", version, found, "none")
        changed = False
    else:
        out.step(guest.name, "kernel", version, found, "set-kernel")
        guest.set_kernel(version)
        changed = True
    checkpoint("ensure_kernel")
    return changed


def ensure_cpu_mode(guest: Guest, mode: str, out: StepLog) -> bool:
    """The definition shows the guest the host CPU (``host-model`` or ``host-passthrough``)."""
    found = guest.cpu_mode
    if found == mode:
        out.step(guest.name, "cpu mode", mode, found, "none")
        return False
    out.step(guest.name, "cpu mode", mode, found, "set-cpu-mode")
    guest.set_cpu_mode(mode)
    checkpoint("ensure_cpu_mode")
    return True


def needs_restart(guest: Guest) -> list[str]:
    """What a running guest has that differs from its definition (empty: nothing)."""
    if not guest.running:
        return []
    current, _ = guest.config_memory_mib
    diffs = []
    if guest.memory_mib != current:
        diffs.append(f"memory {guest.memory_mib}MiB->{current}MiB")
    if guest.vcpus != guest.config_vcpus:
        diffs.append(f"vcpus {guest.vcpus}->{guest.config_vcpus}")
    if guest.kernel != guest.config_kernel:
        diffs.append(f"kernel {guest.kernel}->{guest.config_kernel}")
    return diffs


def ensure_restarted(
    guest: Guest, out: StepLog, hard: bool = False, also: list[str] | None = None
) -> bool:
    """A running guest whose definition changed is stopped and started to boot it (a guest
    that is off boots the definition on its next start anyway). ``also``: changes of the
    definition that the live values do not show (the CPU mode), each a reason to restart."""
    if not guest.running:
        out.step(guest.name, "restart", "definition active", guest.state, "none")
        return False
    diffs = [*needs_restart(guest), *(also or [])]
    if not diffs:
        out.step(guest.name, "restart", "definition active", "definition active", "none")
        return False
    out.step(guest.name, "restart", "definition active", ", ".join(diffs), "restart")
    ensure_stopped(guest, out, hard)
    ensure_running(guest, out)
    return True
