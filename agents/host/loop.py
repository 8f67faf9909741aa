"""The host agent's cycle: resume -> report inventory -> due work -> each window -> report.

Each window: journal it, startWindow, apply, journal the results, finishWindow, clear the
journal. A journal left by a killed agent is resumed before anything else. ``run`` repeats
cycles until SIGTERM or SIGINT, finishing the window in hand first.

libvirt must answer before a window starts or continues: a lost connection is reopened with
backoff (``ensure_libvirt``), and the window in hand resumes where it was; if libvirt stays
away, the cycle ends with the journal kept and no further window started. One domain that
cannot be read or reported never keeps the cycle from its due work.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from agents.client import Client, DomainReport, DueWindow, Result
from agents.cycles import install_stop_signals, run_cycles
from agents.errors import (
    ApiError,
    ConnectionLost,
    DomainNotFound,
    TransportError,
    VirtError,
)
from agents.host import hooks
from agents.host.apply import Context, RebootPending, apply_entry
from agents.host.hooks import Enter, HookSettings
from agents.host.journal import Entry, Journal, JournalActivity
from agents.host.steps import checkpoint
from agents.virt.libvirt import Hypervisor
from api.kinds import ActivityKind, Executor, spec

__all__ = ["Agent", "CycleSummary", "WindowSummary", "inventory"]

log = logging.getLogger("fenster.agent")
OPEN = ("scheduled", "running")
MAX_LOSSES = 5  # libvirt lost this often in one window and cycle: leave it for the next cycle


@dataclass
class WindowSummary:
    uid: str
    machine: str
    state: str  # completed | failed | skipped
    activities: dict[str, str] = field(default_factory=dict)  # kind -> outcome
    note: str = ""


@dataclass
class CycleSummary:
    resumed: WindowSummary | None = None
    windows: list[WindowSummary] = field(default_factory=list)
    inventory: dict[str, list[str]] = field(default_factory=dict)
    rebooting: bool = False

    @property
    def failed(self) -> bool:
        every = [*self.windows, *([self.resumed] if self.resumed else [])]
        return any(w.state == "failed" for w in every)

    def as_dict(self) -> dict[str, Any]:
        def one(w: WindowSummary) -> dict[str, Any]:
            return {
                "window": w.uid,
                "machine": w.machine,
                "state": w.state,
                "activities": w.activities,
                **({"note": w.note} if w.note else {}),
            }

        return {
            "resumed": one(self.resumed) if self.resumed else None,
            "windows": [one(w) for w in self.windows],
            "inventory": self.inventory,
            "rebooting": self.rebooting,
        }


def inventory(hv: Hypervisor) -> dict[str, Any]:
    """What the host's hypervisor runs, as reported to the API.

    A domain undefined between the listing and the reading of its values is left out (and
    logged): it is gone, and the next report says so. A domain libvirt refuses to read is
    left out and logged too; a lost connection is not (the cycle reconnects).
    """
    domains = []
    for g in hv.domains():
        try:
            domains.append(
                DomainReport(g.name, g.state, g.memory_mib, g.vcpus, g.kernel, g.cpu_mode)
            )
        except DomainNotFound:
            log.warning("domain %s disappeared while it was being listed; skipped", g.name)
        except ConnectionLost:
            raise
        except VirtError as e:
            log.error("inventory: %s is left out: %s", g.name, e)
    return {
        "cpu_model": hv.cpu_model,
        "kernel": hv.kernel,
        "state": "running",
        "memory_mib": hv.memory_mib,
        "domains": domains,
    }


class Agent:
    def __init__(
        self,
        client: Client,
        ctx: Context,
        libvirt_wait: float = 60.0,
        backoff: float = 0.5,
        hooks: HookSettings | None = None,
    ) -> None:
        self.client = client
        self.ctx = ctx
        self.hooks = hooks or HookSettings()
        self.libvirt_wait = libvirt_wait  # how long to wait for libvirt to come back
        self.backoff = backoff
        self.stopping = threading.Event()

    @property
    def journal(self) -> Journal:
        return self.ctx.journal

    def cycle(self) -> CycleSummary:
        summary = CycleSummary()
        try:
            self.ensure_libvirt()
            summary.resumed = self.resume()
            summary.inventory = self.report()
            due = sorted(self.client.due_work(), key=_host_first)
            for window in due:
                if self.stopping.is_set():
                    break
                self.ensure_libvirt()
                summary.windows.append(self.process(window))
            if summary.resumed or summary.windows:
                summary.inventory = self.report()
        except RebootPending as e:
            log.info("host reboot in progress (%s); the window finishes after the boot", e)
            summary.rebooting = True
        return summary

    def run(self, interval: float) -> int:
        """Cycles every ``interval`` seconds until SIGTERM/SIGINT. Returns the exit code."""
        self.install_signals()
        return run_cycles(self.stopping, lambda: self.cycle().failed, interval, log)

    def install_signals(self) -> None:
        install_stop_signals(self.stopping, log, "the current window")

    def ensure_libvirt(self) -> None:
        """libvirt answers: reconnect with backoff for up to ``libvirt_wait`` seconds, else
        raise ConnectionLost (the journal keeps the window in hand)."""
        hv = self.ctx.hv
        if hv.alive:
            return
        deadline = time.monotonic() + self.libvirt_wait
        delay = self.backoff
        while True:
            try:
                hv.reconnect()
                log.warning("libvirt: connected again to %s", hv.uri)
                return
            except VirtError as e:
                if time.monotonic() + delay > deadline or self.stopping.is_set():
                    raise ConnectionLost(
                        f"libvirt did not answer within {self.libvirt_wait:g} s: {e}", e.code
                    ) from e
                log.warning("libvirt: %s; trying again in %.1f s", e, delay)
                self.stopping.wait(delay)
                delay = min(delay * 2, 10.0)

    def report(self) -> dict[str, list[str]]:
        """Report inventory; a refused report is logged and the cycle goes on to its work."""
        seen = inventory(self.ctx.hv)
        try:
            return self.client.report_inventory(**seen)
        except ApiError as e:
            if isinstance(e, TransportError):
                raise
            log.error("the API refused the inventory report: %s", e)
            return {}

    def resume(self) -> WindowSummary | None:
        entry = self.journal.load()
        if entry is None:
            return None
        log.warning("resuming window %s of %s from the journal", entry.uid, entry.machine)
        summary = self._carry_out(entry)
        summary.note = f"resumed from the journal; {summary.note}".rstrip("; ")
        return summary

    def process(self, window: DueWindow) -> WindowSummary:
        open_ = [a for a in window.activities if a.state in OPEN]
        if not open_:  # nothing left to do in it (all cancelled or finished)
            return WindowSummary(window.uid, window.machine, "skipped", note="no open activities")
        # the guest agent's kinds (system_update) stay for it: the window only runs the rest
        # (none at all: it is started and finished, so that it does not count as missed)
        activities = [JournalActivity(a.id, a.kind, a.params) for a in open_ if _ours(a.kind)]
        entry = Entry(uid=window.uid, machine=window.machine, activities=activities)
        self.journal.save(entry)
        return self._carry_out(entry)

    def _apply(self, entry: Entry) -> list[Result]:
        """apply_entry, resumed after libvirt went away and came back."""
        for _ in range(MAX_LOSSES):
            try:
                return apply_entry(self.ctx, entry)
            except ConnectionLost as e:
                log.warning(
                    "window %s: libvirt went away (%s); resuming when it answers", entry.uid, e
                )
                self.ensure_libvirt()
        raise ConnectionLost(f"libvirt went away {MAX_LOSSES} times during window {entry.uid}")

    def _carry_out(self, entry: Entry) -> WindowSummary:
        summary = WindowSummary(entry.uid, entry.machine, "skipped")
        if entry.results is None:
            if not entry.started and not self._start(entry, summary):
                return summary
            if entry.hooks == Enter.REFUSED:  # nothing was done: the guest runs on unchanged
                results = [Result(a.id, "failed", _log(entry, a.id)) for a in entry.activities]
            else:
                results = self._apply(entry) if entry.activities else []
                if entry.hooks == Enter.GO:  # the guest is back: leave hooks, booted kernel
                    results = hooks.after(self.client, entry, results, self.hooks, self.stopping)
            entry.results = [dataclasses.asdict(r) for r in results]
            self.journal.save(entry)
        results = [Result(**r) for r in entry.results]
        try:
            summary.state = self.client.finish_window(entry.uid, results, entry.down)
            checkpoint("window_finished")  # crash drill: the API has it, the journal too
        except ApiError as e:
            if isinstance(e, TransportError):
                raise  # the journal keeps the results; the next cycle sends them again
            self.journal.clear()
            summary.state = "failed"
            summary.note = f"the API refused the outcome: {e}"
            log.error("window %s: %s", entry.uid, summary.note)
            return summary
        self.journal.clear()
        kinds = {a.id: a.kind for a in entry.activities}
        summary.activities = {kinds.get(r.activity, r.activity): r.outcome for r in results}
        log.info("window %s of %s: %s", entry.uid, entry.machine, summary.state)
        return summary

    def _start(self, entry: Entry, summary: WindowSummary) -> bool:
        """The enter hooks, then startWindow (again, if a crash came before it was noted: a
        no-op). False: the window is not to run now (the summary says why)."""
        if hooks.asks_hooks(entry):
            decided, line = hooks.enter(self.client, self.journal, entry, self.hooks, self.stopping)
            if line:
                for a in entry.activities:
                    entry.logs.setdefault(a.id, []).append(line)
                self.journal.save(entry)
            if decided in (Enter.STOPPING, Enter.POSTPONED):
                summary.note = line or "stopping: the enter hooks are asked again on the next run"
                if decided is Enter.POSTPONED:
                    self.journal.clear()  # the window moved: it comes due again later
                log.warning("window %s: %s", entry.uid, summary.note)
                return False
        try:
            self.client.start_window(entry.uid)
        except ApiError as e:
            if isinstance(e, TransportError):
                raise
            self.journal.clear()  # not started and not startable: nothing was done
            summary.note = f"not started: {e}"
            log.warning("window %s: %s", entry.uid, summary.note)
            return False
        entry.started = True
        # not fsynced: a start the power cut makes the agent repeat is a no-op for the
        # same agent, and the next durable save (before anything acts) carries the flag
        self.journal.save(entry, durable=False)
        return True


def _log(entry: Entry, activity: str) -> str:
    return "\n".join(entry.logs.get(activity, []))


def _host_first(window: DueWindow) -> tuple[int, str]:
    is_host = any(a.kind == ActivityKind.HOST_REBOOT for a in window.activities)
    return (0 if is_host else 1, window.starts_at)


def _ours(kind: str) -> bool:
    """The host agent's work by the kinds registry (an unknown kind too: it fails it, saying so)."""
    known = spec(kind)
    return known is None or known.executor is Executor.HOST_AGENT
