"""Carry out one window's activities on this host, recording crash-relevant progress in the
journal. Returns one result (outcome + log) per activity. What each kind does is its handler
class (``agents.host.registry``); this module runs a window's handlers and its last step.

A guest that ran before the window runs after it: config steps change the definition, and
the window's last step restarts the guest when its definition changed (once, however many
activities changed it) or starts it when a step had to stop it.
"""

from __future__ import annotations

import logging
import time

from agents.client import Result
from agents.errors import AgentError, ConnectionLost, DomainNotFound
from agents.host import steps
from agents.host.handler import BOOT_ID, Context, RebootPending, guest_down
from agents.host.journal import Entry, JournalActivity
from agents.host.registry import GUEST_HANDLERS, HANDLERS, HOST_HANDLERS
from agents.host.steps import StepLog
from agents.host.summary import summarize
from agents.virt.libvirt import Guest
from api.kinds import Executor, spec

__all__ = ["BOOT_ID", "Context", "RebootPending", "apply_entry"]

log = logging.getLogger("fenster.agent.apply")

MAX_ATTEMPTS = 3


def apply_entry(ctx: Context, entry: Entry) -> list[Result]:
    """Carry the window out (again). libvirt going away (``ConnectionLost``) is raised with
    the journal kept: it is not counted as an interruption, and the window resumes once
    libvirt answers again."""
    counted = not _waiting_for_reboot(entry)
    host = any(a.kind in HOST_HANDLERS for a in entry.activities)
    if counted:  # waiting for a reboot is not an interruption
        entry.attempts += 1
        if host or entry.machine in entry.was_running:
            ctx.journal.save(entry)
        # else a guest window's first attempt: _guest_window saves the count durably with
        # the guest's state, before it acts (one fsync less per window)
    head = []
    if entry.attempts > 1:
        head.append(f"resumed after an interrupted run (attempt {entry.attempts})")
    if entry.libvirt_losses:
        head.append(f"resumed after libvirt came back ({entry.libvirt_losses} time(s))")
    try:
        if host:
            if entry.attempts > MAX_ATTEMPTS:
                return _host_gave_up(ctx, entry, head)
            return _host_window(ctx, entry, head)
        return _guest_window(ctx, entry, head)
    except ConnectionLost:
        if counted:
            entry.attempts -= 1
        entry.libvirt_losses += 1
        ctx.journal.save(entry)
        raise


def _logger(ctx: Context, entry: Entry, activity_id: str, head: list[str]) -> StepLog:
    """A step log that keeps every attempt's lines in the journal as they are written."""
    kept = entry.logs.setdefault(activity_id, [])

    def sink(line: str) -> None:
        kept.append(line)
        ctx.journal.save(entry, durable=False)  # survives SIGKILL; state saves fsync

    out = StepLog(list(head), sink)
    kept.extend(head)
    return out


def _guest_window(ctx: Context, entry: Entry, head: list[str]) -> list[Result]:
    began = time.monotonic()
    try:
        guest = ctx.hv.guest(entry.machine)
    except DomainNotFound as e:
        why = f"{e}: is {entry.machine} placed on this host?"
        return [Result(a.id, "failed", "\n".join([*head, why])) for a in entry.activities]
    if entry.machine not in entry.was_running:
        entry.was_running[entry.machine] = guest.running
        entry.booted[entry.machine] = guest.definition()
        ctx.journal.save(entry)
    was_running = entry.was_running[entry.machine]
    give_up = entry.attempts > MAX_ATTEMPTS
    outcomes: dict[str, str] = {}
    logs = {a.id: _logger(ctx, entry, a.id, head) for a in entry.activities}
    for activity in entry.activities:
        out = logs[activity.id]
        if give_up:
            out.add(f"gave up: the agent was interrupted {entry.attempts - 1} times in this window")
            outcomes[activity.id] = "failed"
            continue
        try:
            _guest_activity(ctx, entry, guest, activity, out)
            outcomes[activity.id] = "done"
        except ConnectionLost:
            raise
        except (AgentError, ValueError, KeyError, TypeError) as e:
            out.add(f"error: {e}")
            outcomes[activity.id] = "failed"

    def to_every_log(line: str) -> None:
        for a in entry.activities:
            sink = logs[a.id].sink
            if sink is not None:
                sink(line)

    final = StepLog(sink=to_every_log)
    ok = _finish_guest(ctx, entry, guest, was_running, give_up, final)
    results = []
    for activity in entry.activities:
        outcome = outcomes[activity.id]
        if activity.kind in GUEST_HANDLERS and not ok:
            outcome = "failed"
        logs[activity.id].add(
            summarize(outcome, logs[activity.id], final, time.monotonic() - began)
        )
        results.append(Result(activity.id, outcome, "\n".join(entry.logs[activity.id])))
    return results


def _finish_guest(
    ctx: Context, entry: Entry, guest: Guest, was_running: bool, give_up: bool, final: StepLog
) -> bool:
    """The window's last step: a guest that ran before runs again, with the new definition,
    or else rolled back to the definition that last booted. False: the changes did not
    take (the guest runs the old definition, or is down and the log says so)."""
    if not was_running:
        final.add(
            f"{guest.name} was shut off before the window and is left shut off; "
            "its next boot uses the new definition"
        )
        return not give_up
    if give_up:
        return _roll_back(ctx, entry, guest, final) and False
    try:
        if ctx.cpu_mode and (steps.needs_restart(guest) or not guest.running):
            steps.ensure_cpu_mode(guest, ctx.cpu_mode, final)  # rides on the restart
        hard = any(h.hard_stop for a in entry.activities if (h := HANDLERS.get(a.kind)))
        steps.ensure_restarted(guest, final, hard, entry.restart_for)
        steps.ensure_running(guest, final)
        return True
    except ConnectionLost:
        raise
    except AgentError as e:
        final.add(f"error: {e}")
        _roll_back(ctx, entry, guest, final)
        return False


def _roll_back(ctx: Context, entry: Entry, guest: Guest, out: StepLog) -> bool:
    """Define the XML that booted before the window and run it. True if the guest runs."""
    booted = entry.booted.get(entry.machine)
    try:
        if booted:
            out.add(f"rollback: {guest.name} gets back the definition that last booted")
            guest.define(booted)
        steps.ensure_running(guest, out)
        return True
    except ConnectionLost:
        raise
    except AgentError as e:
        guest_down(ctx, entry, guest.name, e, out)
        return False


def _guest_activity(
    ctx: Context, entry: Entry, guest: Guest, activity: JournalActivity, out: StepLog
) -> None:
    known = spec(activity.kind)
    if known is not None and known.executor is not Executor.HOST_AGENT:
        raise AgentError(
            f"{activity.kind} is not the host agent's job: the {known.executor.value} carries "
            "it out inside the VM (or it is done by hand); the host agent did nothing"
        )
    handler = GUEST_HANDLERS.get(activity.kind)
    if handler is None:
        raise AgentError(f"{activity.kind} is not something a VM's window can do here")
    handler(ctx, entry, activity, out).apply(guest)


def _host_window(ctx: Context, entry: Entry, head: list[str]) -> list[Result]:
    results = []
    for activity in entry.activities:
        out = StepLog(list(head))
        began = time.monotonic()
        try:
            handler = HOST_HANDLERS.get(activity.kind)
            if handler is None:
                raise AgentError(
                    f"{activity.kind} on the host itself is not the host agent's job; "
                    f"it only performs {', '.join(HOST_HANDLERS)} there; nothing was done"
                )
            handler(ctx, entry, activity, out, head).apply()
            outcome = "done"
        except AgentError as e:
            out.add(f"error: {e}")
            outcome = "failed"
        out.add(summarize(outcome, out, None, time.monotonic() - began))
        results.append(Result(activity.id, outcome, out.text))
    return results


def _host_gave_up(ctx: Context, entry: Entry, head: list[str]) -> list[Result]:
    """Interrupted too often: the guests that ran before the window run again."""
    results = []
    for activity in entry.activities:
        out = StepLog(list(head))
        out.add(f"gave up: the agent was interrupted {entry.attempts - 1} times in this window")
        handler = HOST_HANDLERS.get(activity.kind)
        if handler is not None:
            handler(ctx, entry, activity, out, head).gave_up()
        results.append(Result(activity.id, "failed", out.text))
    return results


def _waiting_for_reboot(entry: Entry) -> bool:
    """A host handler waits for the host's boot (its reboot command ran): the window goes
    on after the boot."""
    return any(h.waiting(entry, a) for a in entry.activities if (h := HOST_HANDLERS.get(a.kind)))
