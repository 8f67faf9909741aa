"""The host's own kind: ``HostReboot`` stops every running guest, runs the reboot command,
and after the boot starts the guests again; its typed resume state (``HostRebootState``)
carries it across the reboot in the journal.
"""

from __future__ import annotations

import shlex
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import NoReturn

from agents.errors import AgentError, ConnectionLost, DomainNotFound
from agents.host import steps
from agents.host.handler import Context, HostHandler, RebootPending, guest_down
from agents.host.journal import Entry, JournalActivity
from agents.host.steps import StepLog
from agents.virt.libvirt import Guest
from api.kinds import ActivityKind

__all__ = ["REBOOT_GRACE_SECONDS", "HostReboot", "HostRebootState"]

REBOOT_GRACE_SECONDS = 15 * 60


@dataclass
class HostRebootState:
    running_before: list[str] | None = None  # guests running before the window
    reboot_issued: bool = False  # the reboot command ran: the window goes on after the boot
    boot_id: str = ""  # the boot id before the reboot command
    issued_at: float = 0.0  # when it ran (time.time())
    log: list[str] = field(default_factory=list)  # what was logged before the reboot
    boots: dict[str, int] = field(default_factory=dict)  # guest -> starts in this window
    all_stopped: bool = False  # every guest was stopped: a resume starts them, never stops


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
                _each_guest(ctx, before, self._stop_hard, out)
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

    @classmethod
    def waiting(cls, entry: Entry, activity: JournalActivity) -> bool:
        """The reboot command ran: the window goes on after the boot."""
        state = cls.state_in(entry, activity)
        return state is not None and state.reboot_issued


def _each_guest(
    ctx: Context, names: list[str], step: Callable[[Guest, StepLog], bool], out: StepLog
) -> None:
    for name in names:
        try:
            step(ctx.hv.guest(name), out)
        except DomainNotFound as e:
            out.add(f"skipped: {e}")


def _boot_id(path: Path) -> str:
    try:
        return path.read_text().strip()
    except OSError:
        return "unknown"
