"""Enter and leave hooks, the host agent's side: before a window stops a VM's guest, the
guest agent inside it is asked to run its enter hooks; once the guest is back, its leave hooks.

The request goes through the directory (``askGuestHook``): the guest agent sees it in
``guestHooks``, runs its hooks and answers. The host agent polls by asking again:

- no guest agent runs on the VM (none reported recently): the window runs as it always did;
- go: the window runs;
- not yet: asked again until ``HookSettings.wait`` has passed since the first ask, then the
  window fails with the hooks' reason, and the guest is left running, unchanged;
- postponed: the directory moved the window within the group's rules; it is left alone;
- no answer within ``HookSettings.answer_wait``: the guest agent is taken as not running,
  and the window goes ahead (the log says so).

What was decided and when the asking began are in the journal: a restarted agent resumes
waiting within the same bound.

Booted means booted: after a window that activated a kernel, the guest agent's answer to the
leave hooks carries the kernel the guest runs (``uname -r``), checked against the one wanted.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from enum import StrEnum

from agents.client import Client, Hook, Result
from agents.errors import ApiError, TransportError
from agents.host.journal import Entry, Journal
from api.kinds import ActivityKind, needs_reboot

__all__ = ["Enter", "HookSettings", "after", "asks_hooks", "enter", "kernel_matches", "leave"]

log = logging.getLogger("fenster.agent.hooks")
KERNEL = ActivityKind.KERNEL_UPDATE


class Enter(StrEnum):
    """What the enter hooks decided, as the journal keeps it."""

    NONE = "none"  # no guest agent: as without hooks
    GO = "go"
    LATE = "late"  # no answer in time: as without hooks
    POSTPONED = "postponed"
    REFUSED = "refused"  # not yet, for longer than the bound: the window fails
    STOPPING = "stopping"  # the agent is stopping: the journal keeps the window for later


@dataclass(frozen=True)
class HookSettings:
    wait: float = 900.0  # seconds "not yet" is asked again before the window fails
    answer_wait: float = 300.0  # seconds an ask may go unanswered before going ahead
    poll: float = 5.0  # seconds between asks
    boot_wait: float = 300.0  # seconds for the guest agent to say which kernel booted


def asks_hooks(entry: Entry) -> bool:
    """A VM's window that stops its guest (any of its activities restarts the machine)."""
    return any(needs_reboot(a.kind, a.params) for a in entry.activities)


def enter(
    client: Client,
    journal: Journal,
    entry: Entry,
    settings: HookSettings,
    stopping: threading.Event,
) -> tuple[Enter, str]:
    """Ask the enter hooks until they decide (or the bounds pass): the decision and the
    line for the window's logs."""
    if entry.hooks and entry.hooks != Enter.STOPPING:
        return Enter(entry.hooks), ""
    if not entry.hooks_since:
        entry.hooks_since = time.time()
        journal.save(entry)
    reason = ""
    while True:
        hook = client.ask_guest_hook(entry.uid, "enter")
        decided = _decided(hook, entry, settings)
        if hook is not None and hook.reason:
            reason = hook.reason
        if decided is not None:
            entry.hooks = decided
            journal.save(entry)
            return decided, _line(decided, reason, settings)
        if stopping.wait(settings.poll):
            return Enter.STOPPING, ""


def _decided(hook: Hook | None, entry: Entry, settings: HookSettings) -> Enter | None:
    waited = time.time() - entry.hooks_since
    if hook is None:
        return Enter.NONE
    if hook.verdict == "go":
        return Enter.GO
    if hook.verdict == "postponed":
        return Enter.POSTPONED
    if hook.verdict == "not_yet":
        return Enter.REFUSED if waited >= settings.wait else None
    if hook.asks == 1 and waited >= settings.answer_wait:
        return Enter.LATE  # never answered: no guest agent after all
    return Enter.REFUSED if waited >= settings.wait + settings.answer_wait else None


def _line(decided: Enter, reason: str, settings: HookSettings) -> str:
    said = f": {reason}" if reason else ""
    return {
        Enter.NONE: "",
        Enter.GO: f"enter hooks: go{said}",
        Enter.LATE: f"enter hooks: the guest agent did not answer within "
        f"{settings.answer_wait:g} s; going ahead as without one",
        Enter.POSTPONED: f"enter hooks asked to postpone{said}",
        Enter.REFUSED: f"enter hooks: not yet, for more than {settings.wait:g} s{said}; "
        "the window failed and the guest was left running, unchanged",
    }.get(decided, "")


def leave(client: Client, entry: Entry) -> Hook | None:
    """Ask the leave hooks (the guest is back); None: no guest agent."""
    try:
        return client.ask_guest_hook(entry.uid, "leave")
    except ApiError as e:  # the leave hooks never fail a window
        if isinstance(e, TransportError):
            raise  # the journal keeps the window; the next cycle asks again
        log.warning("window %s: the leave hooks could not be asked: %s", entry.uid, e)
        return None


def kernel_matches(running: str, wanted: str) -> bool:
    """``uname -r`` is the kernel wanted: the same, or it with a local version ("-gentoo")."""
    return running == wanted or running.startswith(f"{wanted}-")


def after(
    client: Client,
    entry: Entry,
    results: list[Result],
    settings: HookSettings,
    stopping: threading.Event,
) -> list[Result]:
    """The guest is back: ask its leave hooks. A kernel activated in this window is checked
    against the kernel the guest agent says it booted (its answer's ``uname -r``): another
    one, or no answer within ``boot_wait``, fails that activity."""
    wanted = {a.id: str(a.params.get("kernel")) for a in entry.activities if a.kind == KERNEL}
    check = [r for r in results if r.activity in wanted and r.outcome == "done"]
    hook = leave(client, entry)
    if not check or hook is None:
        return results
    deadline = time.monotonic() + settings.boot_wait
    while hook is not None and hook.verdict == "asked":
        if time.monotonic() >= deadline or stopping.wait(settings.poll):
            break
        hook = leave(client, entry)
    out = []
    for r in results:
        if r in check:
            r = _booted(r, wanted[r.activity], hook, settings)
        out.append(r)
    return out


def _booted(result: Result, wanted: str, hook: Hook | None, settings: HookSettings) -> Result:
    running = hook.kernel if hook is not None and hook.verdict != "asked" else None
    if running is not None and kernel_matches(running, wanted):
        return Result(result.activity, "done", f"{result.log}\nbooted: the guest runs {running}")
    if running is None:
        why = f"the guest agent did not say which kernel booted within {settings.boot_wait:g} s"
    else:
        why = f"the guest runs {running}, not {wanted}"
    return Result(result.activity, "failed", f"{result.log}\nnot booted: {why}")
