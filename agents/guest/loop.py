"""The guest agent's cycle: resume -> due work -> each update -> report.

Each update: ``startGuestUpdate``, journal it, start the command (under the wrapper, in a
process group of its own), journal its pid, wait for it, journal the report, send it, clear the
journal. The journal is written before the command starts, so an update is never run twice for
one activity. A killed agent leaves the command running: the next agent adopts it (the
journaled pid), waits for it within the same timeout and reports its real exit code and log.
Only a command killed too, without its exit status, is reported failed (unknown). A report the API
could not be reached for stays in the journal and is sent first in the next cycle.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from agents.client import Client, DueActivity
from agents.cycles import install_stop_signals, run_cycles
from agents.errors import ApiError, TransportError
from agents.guest import command, hooks
from agents.guest.facts import Facts, gather
from agents.guest.hooks import AnswerJournal
from agents.jsonfile import JsonFile
from api.kinds import Executor, spec

__all__ = ["GuestAgent", "GuestJournal", "Pending", "Settings"]

log = logging.getLogger("fenster.agent.guest")
VERSION = 1
ADOPTED = "fenster-agent guest: adopted after the agent restarted while this update ran\n"
UNKNOWN = (
    "fenster-agent guest: the agent was interrupted while this update ran; its outcome is "
    "unknown, and it is not run again (check the machine, then queue a new update)"
)


@dataclass
class Pending:
    """The update in hand: started (report None) or finished (its report not yet sent)."""

    activity: str
    kind: str
    report: dict[str, Any] | None = None
    bare: bool = False  # the report is the bare outcome sent after a refused one
    pid: int | None = None  # the update's wrapper (its process group), once it started
    started: float = 0.0  # when it started (epoch seconds): its timeout holds across restarts


class GuestJournal(JsonFile[Pending]):
    """The update in hand (``guest-journal.json`` in the state directory)."""

    def __init__(self, state_dir: Path) -> None:
        super().__init__(state_dir / "guest-journal.json", _pending, asdict, VERSION)


def _pending(data: dict[str, Any]) -> Pending:
    return Pending(
        str(data["activity"]),
        str(data["kind"]),
        data.get("report"),
        bool(data.get("bare", False)),
        None if data.get("pid") is None else int(data["pid"]),
        float(data.get("started", 0.0)),
    )


@dataclass(frozen=True)
class Settings:
    command: str
    timeout: float
    state_dir: Path
    proc: Path = Path("/proc")
    hooks_dir: Path = Path("/etc/fenster/hooks")  # enter.d/ and leave.d/ (agents.guest.hooks)
    hook_timeout: float = 300.0
    facts_interval: float = 300.0  # seconds between reports of the guest's facts


@dataclass
class Cycle:
    updates: dict[str, str] = field(default_factory=dict)  # activity -> done | failed | ...
    hooks: dict[str, str] = field(default_factory=dict)  # "window phase" -> verdict
    facts: dict[str, Any] = field(default_factory=dict)

    @property
    def failed(self) -> bool:
        return any(v != "done" for v in self.updates.values())


def _ids(pending: Pending) -> tuple[str, int]:
    return pending.activity, pending.pid or 0


def _report(activity: str, out: command.Outcome, head: str = "") -> dict[str, Any]:
    return {
        "activity": activity,
        "outcome": "DONE" if out.ok else "FAILED",
        "exitCode": out.exit_code,
        "log": head + out.log[-(command.MAX_LOG - len(head)) :],
        "packages": out.packages,
    }


def _ours(kind: str) -> bool:
    known = spec(kind)
    return known is not None and known.executor is Executor.GUEST_AGENT


class GuestAgent:
    def __init__(self, client: Client, settings: Settings) -> None:
        self.client = client
        self.settings = settings
        self.journal = GuestJournal(settings.state_dir)
        self.answers = AnswerJournal(settings.state_dir)
        self.stopping = threading.Event()
        self.facts_sent: float | None = None  # when (monotonic) the facts were last sent

    def cycle(self) -> Cycle:
        summary = Cycle()
        facts = gather(self.settings.proc)
        summary.facts = asdict(facts)
        self._report_facts(facts)
        self._answer_hooks(summary)  # first: a host agent is waiting
        pending = self.journal.load()
        if pending is not None:
            summary.updates[pending.activity] = self._resume(pending, facts)
        for activity in self.client.guest_work():
            if self.stopping.is_set():
                break
            if activity.id in summary.updates or not _ours(activity.kind):
                continue  # (the API sends only guest work; the registry says so too)
            summary.updates[activity.id] = self._update(activity, facts)
        return summary

    def _report_facts(self, facts: Facts) -> None:
        """On start-up and every ``facts_interval``: operators see the guest's warnings before
        any rollout, and the directory knows the guest agent runs."""
        now = time.monotonic()
        if self.facts_sent is not None and now - self.facts_sent < self.settings.facts_interval:
            return
        try:
            self.client.report_guest_facts(facts.as_input())
            self.facts_sent = now
        except ApiError as e:
            if isinstance(e, TransportError):
                raise
            log.error("the API refused the guest's facts: %s", e)

    def _answer_hooks(self, summary: Cycle) -> None:
        held = self.answers.load()  # sent by a killed agent, or not: sent (again) first
        if held is not None:
            summary.hooks[f"{held.window} {held.phase}"] = self._send_answer(held)
        for hook in self.client.guest_hooks():
            if self.stopping.is_set():
                break
            if held is not None and (hook.window, hook.phase, hook.asks) == (
                held.window,
                held.phase,
                held.asks,
            ):
                continue
            log.info("window %s: running the %s hooks (ask %d)", hook.window, hook.phase, hook.asks)
            reply, reason = hooks.run_hooks(
                self.settings.hooks_dir,
                hook.phase,
                hook.window,
                self.settings.hook_timeout,
                self.settings.state_dir / "hook.log",
            )
            answer = hooks.Answer(hook.window, hook.phase, hook.asks, reply, reason)
            self.answers.save(answer)  # before it is sent: answered once
            summary.hooks[f"{hook.window} {hook.phase}"] = self._send_answer(answer)

    def _send_answer(self, answer: hooks.Answer) -> str:
        value = {
            "window": answer.window,
            "phase": answer.phase.upper(),
            "asks": answer.asks,
            "reply": answer.reply.upper(),
            "reason": answer.reason,
            "facts": gather(self.settings.proc).as_input(),
        }
        try:
            verdict = self.client.answer_guest_hook(value)
        except ApiError as e:
            if isinstance(e, TransportError):
                raise  # kept: sent on the next cycle
            log.error("the API refused the %s hooks' answer: %s", answer.phase, e)
            verdict = f"refused: {e}"
        self.answers.clear()
        log.info("window %s: %s hooks: %s", answer.window, answer.phase, verdict)
        return verdict

    def _resume(self, pending: Pending, facts: Facts) -> str:
        if pending.report is None and pending.pid is not None:
            log.warning("update %s still runs or ran on (pid %d): adopting it", *_ids(pending))
            out = command.finish(
                pending.pid,
                pending.started + self.settings.timeout,
                self.settings.timeout,
                self.settings.state_dir / "update.log",
                self.settings.state_dir / "update.status",
            )
            pending.report = _report(pending.activity, out, ADOPTED)
            self.journal.save(pending)
            facts = gather(self.settings.proc)  # the facts after the update
        elif pending.report is None:
            log.error("update %s was interrupted; reporting it failed (unknown)", pending.activity)
            pending.report = {
                "activity": pending.activity,
                "outcome": "FAILED",
                "exitCode": None,
                "log": UNKNOWN,
                "packages": [],
            }
            self.journal.save(pending)
        else:
            log.warning("sending the report of update %s from the journal", pending.activity)
        return self._send(pending, facts)

    def _update(self, activity: DueActivity, facts: Facts) -> str:
        try:
            self.client.start_guest_update(activity.id)
        except ApiError as e:
            if isinstance(e, TransportError):
                raise
            log.warning("update %s not started: %s", activity.id, e)
            return f"not started: {e}"
        pending = Pending(activity.id, activity.kind, started=time.time())
        self.journal.save(pending)  # before the command: never run twice
        log.info("update %s: running %s", activity.id, self.settings.command)
        logs, status = (
            self.settings.state_dir / "update.log",
            self.settings.state_dir / "update.status",
        )
        child = command.start(
            self.settings.command, logs, status, {"FENSTER_ACTIVITY": activity.id}
        )
        if isinstance(child, command.Outcome):
            out = child
        else:
            pending.pid = child.pid
            self.journal.save(pending)  # a killed agent's successor adopts it
            out = command.finish(
                child.pid,
                pending.started + self.settings.timeout,
                self.settings.timeout,
                logs,
                status,
                child,
            )
        pending.report = _report(activity.id, out)
        self.journal.save(pending)
        return self._send(pending, gather(self.settings.proc))  # the facts after the update

    def _send(self, pending: Pending, facts: Facts) -> str:
        """Send the journal's report; a TransportError keeps it for the next cycle."""
        assert pending.report is not None
        try:
            state = self.client.report_guest_update({**pending.report, "facts": facts.as_input()})
        except ApiError as e:
            if isinstance(e, TransportError):
                raise  # the journal keeps the report; the next cycle sends it again
            log.error("the API refused the report of update %s: %s", pending.activity, e)
            if e.kind == "ValidationError" and not pending.bare:
                # the update is not left running for ever: the bare outcome, failed, saying why
                pending.report = {
                    "activity": pending.activity,
                    "outcome": "FAILED",
                    "exitCode": pending.report.get("exitCode"),
                    "log": f"fenster-agent guest: the directory refused the report ({e})"[
                        : command.MAX_LOG
                    ],
                    "packages": [],
                }
                pending.bare = True
                self.journal.save(pending)
                return self._send(pending, Facts(None, None, None))
            self.journal.clear()
            return f"refused: {e}"
        self.journal.clear()
        log.info("update %s: %s", pending.activity, state)
        return state

    def run(self, interval: float) -> int:
        """Cycles every ``interval`` seconds until SIGTERM/SIGINT (the update in hand is
        finished first). Returns the exit code."""
        self.install_signals()
        return run_cycles(self.stopping, lambda: self.cycle().failed, interval, log)

    def install_signals(self) -> None:
        install_stop_signals(self.stopping, log, "the update in hand")
