"""One handler class per activity kind the host agent carries out (the fc-nixos activity
style): ``run`` does the work from the start; ``resume`` goes on from the typed state the
handler kept in the journal when an earlier run was interrupted (agent killed, host
rebooted). A handler without state is resumed by running it again: its ``ensure_*`` steps
are idempotent.

Which kinds are the host agent's, and which run on the host itself, is ``api.kinds``'s
registry; ``tests/agents/test_apply.py`` checks that the handlers here match it.
"""

from __future__ import annotations

import dataclasses
import logging
import shlex
import subprocess
import time
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Generic, NoReturn, TypeVar

from agents.errors import AgentError, ConnectionLost, DomainNotFound
from agents.host import steps
from agents.host.journal import Entry, Journal, JournalActivity
from agents.host.steps import StepLog
from agents.virt.libvirt import Guest, Hypervisor
from api.kinds import CPU_MODES, FOR_HOST_REBOOT, ActivityKind

__all__ = [
    "BOOT_ID",
    "GUEST_HANDLERS",
    "HANDLERS",
    "HOST_HANDLERS",
    "Context",
    "CpuChange",
    "CpuMode",
    "GuestHandler",
    "HostHandler",
    "HostReboot",
    "HostRebootState",
    "KernelUpdate",
    "MemoryResize",
    "NoState",
    "Reboot",
    "RebootPending",
    "RebootState",
    "each_guest",
    "guest_down",
]

log = logging.getLogger("fenster.agent.apply")
BOOT_ID = Path("/proc/sys/kernel/random/boot_id")
REBOOT_GRACE_SECONDS = 15 * 60


class RebootPending(Exception):
    """The reboot command ran; the window finishes when the agent starts after the boot."""


@dataclass
class Context:
    hv: Hypervisor
    journal: Journal
    reboot_command: str | None = None
    cpu_mode: str | None = None  # host-model / host-passthrough: set on every restart
    boot_id_path: Path = BOOT_ID
    rebooted_hosts: set[str] = field(default_factory=set)


# --- the typed resume state (kept in the journal as a JSON object per activity) ------------


@dataclass
class NoState:
    """A handler whose steps are idempotent keeps nothing: it resumes by running again."""


@dataclass
class RebootState:
    stopped: bool = False  # the guest was stopped for this reboot


@dataclass
class HostRebootState:
    running_before: list[str] | None = None  # guests running before the window
    reboot_issued: bool = False  # the reboot command ran: the window goes on after the boot
    boot_id: str = ""  # the boot id before the reboot command
    issued_at: float = 0.0  # when it ran (time.time())
    log: list[str] = field(default_factory=list)  # what was logged before the reboot
    boots: dict[str, int] = field(default_factory=dict)  # guest -> starts in this window
    all_stopped: bool = False  # every guest was stopped: a resume starts them, never stops


S = TypeVar("S", NoState, RebootState, HostRebootState)


def _state_of(cls: type[S], raw: dict[str, Any]) -> S:
    names = {f.name for f in dataclasses.fields(cls)}
    return cls(**{k: v for k, v in raw.items() if k in names})


# --- handlers -------------------------------------------------------------------------------


class _Handler(ABC, Generic[S]):
    kind: ClassVar[ActivityKind]
    state_type: ClassVar[type[Any]] = NoState
    # Every kind stops a guest only inside the window its customers were told about, and none
    # is done until the guest boots again: a guest still running after the shutdown timeout
    # (it ignores ACPI) is powered off (destroy), as nova does, rather than failing and waiting
    # the full timeout again on every retry. docs/agents.md lists this per kind.
    hard_stop: ClassVar[bool] = True

    def __init__(
        self,
        ctx: Context,
        entry: Entry,
        activity: JournalActivity,
        out: StepLog,
        head: list[str] | None = None,
    ) -> None:
        self.ctx = ctx
        self.entry = entry
        self.activity = activity
        self.out = out
        self.head = head or []  # the lines every attempt's log starts with

    @property
    def params(self) -> dict[str, Any]:
        return self.activity.params

    @classmethod
    def state_in(cls, entry: Entry, activity: JournalActivity) -> S | None:
        """The state an earlier run kept in the journal, or None: nothing ran yet."""
        raw = entry.progress.get(activity.id)
        return None if raw is None else _state_of(cls.state_type, raw)

    def load(self) -> S | None:
        return self.state_in(self.entry, self.activity)

    def save(self, state: S) -> None:
        self.entry.progress[self.activity.id] = dataclasses.asdict(state)
        self.ctx.journal.save(self.entry)


class GuestHandler(_Handler[S]):
    """Work on one VM inside its window; the window's last step restarts the guest once."""

    def apply(self, guest: Guest) -> None:
        state = self.load()
        if state is None:
            self.run(guest)
        else:
            self.resume(guest, state)

    @abstractmethod
    def run(self, guest: Guest) -> None: ...

    def resume(self, guest: Guest, state: S) -> None:
        self.run(guest)


class HostHandler(_Handler[S]):
    """Work on the host itself (it takes every guest of the host down)."""

    def apply(self) -> None:
        state = self.load()
        if state is None:
            self.run()
        else:
            self.resume(state)

    @abstractmethod
    def run(self) -> None: ...

    def resume(self, state: S) -> None:
        self.run()

    def gave_up(self) -> None:
        """Interrupted too often: undo what the runs left half done (by default nothing)."""


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


class HostReboot(HostHandler[HostRebootState]):
    """Stops every running guest, runs the reboot command, and after the boot starts the
    guests again. Without a reboot command the guests start again at once."""

    kind = ActivityKind.HOST_REBOOT
    state_type = HostRebootState

    def run(self) -> None:
        running = [g.name for g in self.ctx.hv.domains() if g.running]
        state = HostRebootState(running_before=running)
        self.save(state)
        self._reboot_host(state, running)

    def resume(self, state: HostRebootState) -> None:
        self.out.lines.extend(state.log)  # what ran before the reboot
        if state.running_before is None:
            self.run()
        elif state.reboot_issued:
            self._after_reboot_command(state, state.running_before)
            self.ctx.rebooted_hosts.add(self.entry.machine)
        else:  # interrupted before the reboot command: stopping the guests again is idempotent
            self._reboot_host(state, state.running_before)

    def _reboot_host(self, state: HostRebootState, before: list[str]) -> None:
        ctx, out = self.ctx, self.out
        out.add(f"guests running before: {', '.join(before) or 'none'}")
        if not state.all_stopped:  # (a resume after some guests started again stops none)
            try:
                each_guest(ctx, before, self._stop_hard, out)
            except ConnectionLost:
                raise
            except AgentError as e:  # one guest will not stop: the others must not stay down
                out.add(f"error: {e}")
                self._start_all(state, before)
                raise AgentError("the host was not rebooted; its guests were started again") from e
            state.all_stopped = True
            self.save(state)
        if ctx.reboot_command:
            self._reboot(state, ctx.reboot_command, before)
        out.add("no reboot command configured: the host itself was not rebooted")
        self._start_again(state, before)
        out.add(f"guests started again: {', '.join(before) or 'none'}")
        ctx.rebooted_hosts.add(self.entry.machine)

    def _reboot(self, state: HostRebootState, command: str, before: list[str]) -> NoReturn:
        """Run the reboot command: raises RebootPending, or AgentError if it failed."""
        out = self.out
        out.add(f"reboot: {command}")
        state.reboot_issued = True
        state.boot_id = _boot_id(self.ctx.boot_id_path)
        state.issued_at = time.time()
        state.log = [line for line in out.lines if line not in self.head]
        self.save(state)
        done = subprocess.run(shlex.split(command), capture_output=True, text=True, timeout=300)
        if done.returncode != 0:
            state.reboot_issued = False
            self.save(state)
            tail = (done.stderr or done.stdout).strip()[-500:]
            out.add(f"reboot command failed with status {done.returncode}: {tail}")
            self._start_all(state, before)
            raise AgentError("the host was not rebooted; its guests were started again")
        raise RebootPending(command)

    def _after_reboot_command(self, state: HostRebootState, before: list[str]) -> None:
        out = self.out
        now_boot = _boot_id(self.ctx.boot_id_path)
        if now_boot != state.boot_id:
            out.add(f"host rebooted (boot id {state.boot_id[:8]} -> {now_boot[:8]})")
            self._start_again(state, before)
            out.add(f"guests running again: {', '.join(before) or 'none'}")
            return
        if time.time() - float(state.issued_at) < REBOOT_GRACE_SECONDS:
            raise RebootPending("waiting for the host to reboot")
        out.add(f"the host did not reboot within {REBOOT_GRACE_SECONDS // 60} minutes")
        self._start_all(state, before)
        raise AgentError("the host was not rebooted; its guests were started again")

    def _stop_hard(self, guest: Guest, out: StepLog) -> bool:
        return steps.ensure_stopped(guest, out, self.hard_stop)

    def _start_all(self, state: HostRebootState, names: list[str]) -> list[str]:
        """Start each guest that ran before; a guest already running is left alone, so each
        boots once in this window whatever the retries. A guest that cannot start is
        reported down (GUEST DOWN) and the others still start. Returns the guests down."""
        down = []
        for name in names:
            try:
                if steps.ensure_running(self.ctx.hv.guest(name), self.out):
                    state.boots[name] = state.boots.get(name, 0) + 1
                    self.save(state)
            except DomainNotFound as e:
                self.out.add(f"skipped: {e}")
            except ConnectionLost:
                raise
            except AgentError as e:
                guest_down(self.ctx, self.entry, name, e, self.out)
                down.append(name)
        counted = ", ".join(f"{n}={state.boots.get(n, 0)}" for n in names)
        self.out.add(f"boots of each guest in this window: {counted or 'none'}")
        return down

    def _start_again(self, state: HostRebootState, names: list[str]) -> None:
        if down := self._start_all(state, names):
            raise AgentError(f"{len(down)} guest(s) did not start again: {', '.join(down)}")

    def gave_up(self) -> None:
        """The guests that ran before the window run again."""
        state = self.load() or HostRebootState()
        self._start_all(state, state.running_before or [])


GUEST_HANDLERS: dict[str, type[GuestHandler[Any]]] = {
    h.kind: h for h in (MemoryResize, CpuChange, KernelUpdate, Reboot, CpuMode)
}
HOST_HANDLERS: dict[str, type[HostHandler[Any]]] = {h.kind: h for h in (HostReboot,)}
HANDLERS: dict[str, type[_Handler[Any]]] = {**GUEST_HANDLERS, **HOST_HANDLERS}


def each_guest(
    ctx: Context, names: list[str], step: Callable[[Guest, StepLog], bool], out: StepLog
) -> None:
    for name in names:
        try:
            step(ctx.hv.guest(name), out)
        except DomainNotFound as e:
            out.add(f"skipped: {e}")


def guest_down(ctx: Context, entry: Entry, name: str, error: Exception, out: StepLog) -> None:
    """A guest that ran before the window could not be started again: the journal keeps it,
    and finishWindow tells the directory, which alerts the operators at once."""
    out.add(f"GUEST DOWN: {name} could not be started again: {error}")
    log.error("%s is down after window %s: %s", name, entry.uid, error)
    entry.down[name] = str(error)[:2000]
    ctx.journal.save(entry)


def _boot_id(path: Path) -> str:
    try:
        return path.read_text().strip()
    except OSError:
        return "unknown"


def _int(params: dict[str, Any], key: str) -> int:
    value = params[key]
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise ValueError(f"params.{key} is not a number: {value!r}")
    return int(value)
