"""Carry out one window's activities on this host, recording crash-relevant progress in the
journal. Returns one result (outcome + log) per activity.

A guest that ran before the window runs after it: config steps change the definition, and
the window's last step restarts the guest when its definition changed (once, however many
activities changed it) or starts it when a step had to stop it.
"""

from __future__ import annotations

import logging
import shlex
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from agents.client import Result
from agents.errors import AgentError, ConnectionLost, DomainNotFound
from agents.host import steps
from agents.host.journal import Entry, Journal, JournalActivity
from agents.host.steps import StepLog
from agents.virt.libvirt import Guest, Hypervisor
from api.kinds import FOR_HOST_REBOOT, KINDS, ActivityKind, Executor, spec

__all__ = ["BOOT_ID", "Context", "RebootPending", "apply_entry"]

log = logging.getLogger("fenster.agent.apply")

BOOT_ID = Path("/proc/sys/kernel/random/boot_id")
MAX_ATTEMPTS = 3
REBOOT_GRACE_SECONDS = 15 * 60
# kinds the host agent carries out on a VM (api.kinds: the host agent's, and not the host's own)
GUEST_KINDS = frozenset(
    k for k, s in KINDS.items() if s.executor is Executor.HOST_AGENT and not s.host_only
)
# Every kind the host agent carries out stops guests only inside the window the customer was
# told about, and none of them is done until the guest boots again: a guest still running
# after the shutdown timeout (it ignores ACPI) is powered off (destroy), as nova does, rather
# than failing the activity and waiting the full timeout again on every retry.
# docs/agents.md lists this per activity kind.
HARD_STOP = {
    ActivityKind.MEMORY_RESIZE: True,
    ActivityKind.CPU_CHANGE: True,
    ActivityKind.KERNEL_UPDATE: True,
    ActivityKind.REBOOT: True,
    ActivityKind.HOST_REBOOT: True,  # every guest of the host, before the host reboots once
}


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


def apply_entry(ctx: Context, entry: Entry) -> list[Result]:
    """Carry the window out (again). libvirt going away (``ConnectionLost``) is raised with
    the journal kept: it is not counted as an interruption, and the window resumes once
    libvirt answers again."""
    counted = not any(p.get("reboot_issued") for p in entry.progress.values())
    if counted:  # waiting for a reboot is not an interruption
        entry.attempts += 1
        ctx.journal.save(entry)
    head = []
    if entry.attempts > 1:
        head.append(f"resumed after an interrupted run (attempt {entry.attempts})")
    if entry.libvirt_losses:
        head.append(f"resumed after libvirt came back ({entry.libvirt_losses} time(s))")
    try:
        if any(a.kind == ActivityKind.HOST_REBOOT for a in entry.activities):
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
    final = StepLog(sink=lambda line: [logs[a.id].sink(line) for a in entry.activities])
    ok = _finish_guest(ctx, entry, guest, was_running, give_up, final)
    results = []
    for activity in entry.activities:
        outcome = outcomes[activity.id]
        if activity.kind in GUEST_KINDS and not ok:
            outcome = "failed"
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
        hard = any(HARD_STOP.get(a.kind, False) for a in entry.activities)
        steps.ensure_restarted(guest, final, hard)
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
        out.add(f"GUEST DOWN: {guest.name} could not be started again: {e}")
        log.error("%s is down after window %s: %s", guest.name, entry.uid, e)
        return False


def _guest_activity(
    ctx: Context, entry: Entry, guest: Guest, activity: JournalActivity, out: StepLog
) -> None:
    params = activity.params
    known = spec(activity.kind)
    if known is not None and known.executor is not Executor.HOST_AGENT:
        raise AgentError(
            f"{activity.kind} is not the host agent's job: the {known.executor.value} carries "
            "it out inside the VM (or it is done by hand); the host agent did nothing"
        )
    if activity.kind == ActivityKind.MEMORY_RESIZE:
        steps.ensure_memory(guest, _int(params, "memory_mib"), out, HARD_STOP[activity.kind])
    elif activity.kind == ActivityKind.CPU_CHANGE:
        steps.ensure_vcpus(guest, _int(params, "cores"), out)
    elif activity.kind == ActivityKind.KERNEL_UPDATE:
        steps.ensure_kernel(guest, str(params["kernel"]), out)
    elif activity.kind == ActivityKind.REBOOT:
        _reboot(ctx, entry, guest, activity, out)
    else:
        raise AgentError(f"{activity.kind} is not something a VM's window can do here")


def _reboot(
    ctx: Context, entry: Entry, guest: Guest, activity: JournalActivity, out: StepLog
) -> None:
    progress = entry.progress.setdefault(activity.id, {})
    host = activity.params.get(FOR_HOST_REBOOT)
    if host and host in ctx.rebooted_hosts:
        out.add(f"{guest.name} was rebooted with host {host}; no second reboot")
    elif not entry.was_running[entry.machine]:
        out.add(f"{guest.name} was shut off before the window; nothing to reboot")
    elif progress.get("stopped"):
        out.add(f"{guest.name} was already stopped for this reboot; starting it")
    else:
        steps.ensure_stopped(guest, out, HARD_STOP[activity.kind])
        progress["stopped"] = True
        ctx.journal.save(entry)


def _host_window(ctx: Context, entry: Entry, head: list[str]) -> list[Result]:
    results = []
    for activity in entry.activities:
        out = StepLog(list(head))
        try:
            if activity.kind != ActivityKind.HOST_REBOOT:
                raise AgentError(
                    f"{activity.kind} on the host itself is not the host agent's job; "
                    f"it only performs {ActivityKind.HOST_REBOOT} there; nothing was done"
                )
            _host_reboot(ctx, entry, activity, out, head)
            results.append(Result(activity.id, "done", out.text))
        except AgentError as e:
            out.add(f"error: {e}")
            results.append(Result(activity.id, "failed", out.text))
    return results


def _host_reboot(
    ctx: Context, entry: Entry, activity: JournalActivity, out: StepLog, head: list[str]
) -> None:
    progress: dict[str, Any] = entry.progress.setdefault(activity.id, {})
    out.lines.extend(progress.get("log", []))  # what ran before the reboot
    if "running_before" not in progress:
        progress["running_before"] = [g.name for g in ctx.hv.domains() if g.running]
        ctx.journal.save(entry)
    before: list[str] = progress["running_before"]
    if progress.get("reboot_issued"):
        _after_reboot_command(ctx, entry, progress, before, out)
        ctx.rebooted_hosts.add(entry.machine)
        return
    out.add(f"guests running before: {', '.join(before) or 'none'}")
    try:
        _each(ctx, before, _stop_hard, out)
    except AgentError as e:  # one guest will not stop: the others must not stay down
        out.add(f"error: {e}")
        _each(ctx, before, steps.ensure_running, out)
        raise AgentError("the host was not rebooted; its guests were started again") from e
    if ctx.reboot_command:
        out.add(f"reboot: {ctx.reboot_command}")
        progress.update(
            reboot_issued=True,
            boot_id=_boot_id(ctx.boot_id_path),
            issued_at=time.time(),
            log=[line for line in out.lines if line not in head],
        )
        ctx.journal.save(entry)
        done = subprocess.run(
            shlex.split(ctx.reboot_command), capture_output=True, text=True, timeout=300
        )
        if done.returncode != 0:
            progress["reboot_issued"] = False
            ctx.journal.save(entry)
            tail = (done.stderr or done.stdout).strip()[-500:]
            out.add(f"reboot command failed with status {done.returncode}: {tail}")
            _each(ctx, before, steps.ensure_running, out)
            raise AgentError("the host was not rebooted; its guests were started again")
        raise RebootPending(ctx.reboot_command)
    out.add("no reboot command configured: the host itself was not rebooted")
    _each(ctx, before, steps.ensure_running, out)
    out.add(f"guests started again: {', '.join(before) or 'none'}")
    ctx.rebooted_hosts.add(entry.machine)


def _after_reboot_command(
    ctx: Context, entry: Entry, progress: dict[str, Any], before: list[str], out: StepLog
) -> None:
    now_boot = _boot_id(ctx.boot_id_path)
    if now_boot != progress["boot_id"]:
        out.add(f"host rebooted (boot id {progress['boot_id'][:8]} -> {now_boot[:8]})")
        _each(ctx, before, steps.ensure_running, out)
        out.add(f"guests running again: {', '.join(before) or 'none'}")
        return
    if time.time() - float(progress["issued_at"]) < REBOOT_GRACE_SECONDS:
        raise RebootPending("waiting for the host to reboot")
    out.add(f"the host did not reboot within {REBOOT_GRACE_SECONDS // 60} minutes")
    _each(ctx, before, steps.ensure_running, out)
    raise AgentError("the host was not rebooted; its guests were started again")


def _stop_hard(guest: Guest, out: StepLog) -> bool:
    return steps.ensure_stopped(guest, out, HARD_STOP[ActivityKind.HOST_REBOOT])


def _host_gave_up(ctx: Context, entry: Entry, head: list[str]) -> list[Result]:
    """Interrupted too often: the guests that ran before the window run again."""
    results = []
    for activity in entry.activities:
        out = StepLog(list(head))
        out.add(f"gave up: the agent was interrupted {entry.attempts - 1} times in this window")
        before = entry.progress.get(activity.id, {}).get("running_before", [])
        _each(ctx, before, steps.ensure_running, out)
        results.append(Result(activity.id, "failed", out.text))
    return results


def _each(
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


def _int(params: dict[str, Any], key: str) -> int:
    value = params[key]
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise ValueError(f"params.{key} is not a number: {value!r}")
    return int(value)
