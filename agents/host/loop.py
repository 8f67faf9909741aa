"""The host agent's cycle: resume -> report inventory -> due work -> each window -> report.

Each window: journal it, startWindow, apply, journal the results, finishWindow, clear the
journal. A journal left by a killed agent is resumed before anything else. ``run`` repeats
cycles until SIGTERM or SIGINT, finishing the window in hand first.
"""

from __future__ import annotations

import dataclasses
import logging
import signal
import threading
from dataclasses import dataclass, field
from types import FrameType
from typing import Any

from agents.client import Client, DomainReport, DueWindow, Result
from agents.errors import (
    AgentError,
    ApiError,
    ConfigError,
    DomainNotFound,
    TransportError,
    VirtError,
)
from agents.host.apply import Context, RebootPending, apply_entry
from agents.host.journal import Entry, Journal, JournalActivity
from agents.host.steps import checkpoint
from agents.virt.libvirt import Hypervisor

__all__ = ["Agent", "CycleSummary", "WindowSummary", "inventory"]

log = logging.getLogger("fenster.agent")
OPEN = ("scheduled", "running")


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
    logged): it is gone, and the next report says so.
    """
    domains = []
    for g in hv.domains():
        try:
            domains.append(DomainReport(g.name, g.state, g.memory_mib, g.vcpus, g.kernel))
        except DomainNotFound:
            log.warning("domain %s disappeared while it was being listed; skipped", g.name)
    return {"cpu_model": hv.cpu_model, "kernel": hv.kernel, "state": "running", "domains": domains}


class Agent:
    def __init__(self, client: Client, ctx: Context) -> None:
        self.client = client
        self.ctx = ctx
        self.stopping = threading.Event()

    @property
    def journal(self) -> Journal:
        return self.ctx.journal

    def cycle(self) -> CycleSummary:
        summary = CycleSummary()
        try:
            summary.resumed = self.resume()
            summary.inventory = self.report()
            due = sorted(self.client.due_work(), key=_host_first)
            for window in due:
                if self.stopping.is_set():
                    break
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
        failed = False
        while not self.stopping.is_set():
            try:
                summary = self.cycle()
                failed = summary.failed
                if summary.rebooting:
                    self.stopping.wait(interval)
                    continue
            except TransportError as e:
                log.error("API unreachable: %s", e)
            except ConfigError:
                raise  # e.g. a damaged journal: waiting does not fix it
            except VirtError as e:
                log.error("libvirt: %s; reconnecting", e)
                failed = True
                try:
                    self.ctx.hv.reconnect()
                except VirtError as again:
                    log.error("libvirt: %s", again)
            except AgentError as e:
                log.error("cycle failed: %s", e)
                failed = True
            self.stopping.wait(interval)
        log.info("stopped")
        return 1 if failed else 0

    def install_signals(self) -> None:
        def stop(signum: int, _frame: FrameType | None) -> None:
            log.info("%s: finishing the current window, then stopping", signal.strsignal(signum))
            self.stopping.set()

        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)

    def report(self) -> dict[str, list[str]]:
        seen = inventory(self.ctx.hv)
        return self.client.report_inventory(**seen)

    def resume(self) -> WindowSummary | None:
        entry = self.journal.load()
        if entry is None:
            return None
        log.warning("resuming window %s of %s from the journal", entry.uid, entry.machine)
        summary = self._carry_out(entry)
        summary.note = f"resumed from the journal; {summary.note}".rstrip("; ")
        return summary

    def process(self, window: DueWindow) -> WindowSummary:
        activities = [
            JournalActivity(a.id, a.kind, a.params) for a in window.activities if a.state in OPEN
        ]
        if not activities:  # nothing left to do in it (all cancelled or finished)
            return WindowSummary(window.uid, window.machine, "skipped", note="no open activities")
        entry = Entry(uid=window.uid, machine=window.machine, activities=activities)
        self.journal.save(entry)
        return self._carry_out(entry)

    def _carry_out(self, entry: Entry) -> WindowSummary:
        summary = WindowSummary(entry.uid, entry.machine, "skipped")
        if entry.results is None:
            if not entry.started:  # (again, if a crash came before it was noted: a no-op)
                try:
                    self.client.start_window(entry.uid)
                except ApiError as e:
                    if isinstance(e, TransportError):
                        raise
                    self.journal.clear()  # not started and not startable: nothing was done
                    summary.note = f"not started: {e}"
                    log.warning("window %s: %s", entry.uid, summary.note)
                    return summary
                entry.started = True
                self.journal.save(entry)
            results = apply_entry(self.ctx, entry)
            entry.results = [dataclasses.asdict(r) for r in results]
            self.journal.save(entry)
        results = [Result(**r) for r in entry.results]
        try:
            summary.state = self.client.finish_window(entry.uid, results)
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


def _host_first(window: DueWindow) -> tuple[int, str]:
    is_host = any(a.kind == "host_reboot" for a in window.activities)
    return (0 if is_host else 1, window.starts_at)
