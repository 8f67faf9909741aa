"""The handler base classes: one handler class per activity kind the host agent carries out
(the fc-nixos activity style). ``run`` does the work from the start; ``resume`` goes on from
the typed state the handler kept in the journal when an earlier run was interrupted (agent
killed, host rebooted). A handler without state is resumed by running it again: its
``ensure_*`` steps are idempotent.

The handlers themselves are ``agents.host.activities`` (a VM's kinds) and
``agents.host.host_reboot`` (the host's); ``agents.host.registry`` maps kinds to them.
Imports flow registry -> handler modules -> this module, never back.
"""

from __future__ import annotations

import dataclasses
import logging
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Generic, TypeVar

from agents.host.journal import Entry, Journal, JournalActivity
from agents.host.steps import StepLog
from agents.virt.libvirt import Guest, Hypervisor
from api.kinds import ActivityKind

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

__all__ = [
    "BOOT_ID",
    "Context",
    "GuestHandler",
    "Handler",
    "HostHandler",
    "NoState",
    "RebootPending",
    "guest_down",
]

log = logging.getLogger("fenster.agent.apply")
BOOT_ID = Path("/proc/sys/kernel/random/boot_id")


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


@dataclass
class NoState:
    """A handler whose steps are idempotent keeps nothing: it resumes by running again."""


# a handler's resume state: a dataclass, kept in the journal as a JSON object per activity
S = TypeVar("S", bound="DataclassInstance")


def _state_of(cls: type[S], raw: dict[str, Any]) -> S:
    names = {f.name for f in dataclasses.fields(cls)}
    return cls(**{k: v for k, v in raw.items() if k in names})


class Handler(ABC, Generic[S]):
    kind: ClassVar[ActivityKind]  # its member of api.kinds.ActivityKind
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


class GuestHandler(Handler[S]):
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


class HostHandler(Handler[S]):
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

    @classmethod
    def waiting(cls, entry: Entry, activity: JournalActivity) -> bool:
        """The window waits for something outside the agent (the host's boot): a run now is
        no interruption. By default never."""
        return False


def guest_down(ctx: Context, entry: Entry, name: str, error: Exception, out: StepLog) -> None:
    """A guest that ran before the window could not be started again: the journal keeps it,
    and finishWindow tells the directory, which alerts the operators at once."""
    out.add(f"GUEST DOWN: {name} could not be started again: {error}")
    log.error("%s is down after window %s: %s", name, entry.uid, error)
    entry.down[name] = str(error)[:2000]
    ctx.journal.save(entry)
