"""Activity kinds: the one registry of what each kind of maintenance work is.

Every rule about a kind lives here: its default estimate, whether it restarts the machine,
whether only an operator schedules it by hand (manual only) or may queue it (operator only),
whether it follows a machine's desired value, and who carries it out. The API (models,
planner, permissions, GraphQL enum, feeds, mail) and the host agent read this module; it
imports only the standard library (and ``api.errors``, itself plain), so the agent can use
it without the API's dependencies.

A new kind is one ``ActivityKind`` member and one ``KindSpec`` in ``KINDS``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from enum import Enum, StrEnum
from typing import Any

from api.errors import ValidationError

__all__ = [
    "BY_DESIRED_FIELD",
    "CPU_MODES",
    "FOR_HOST_REBOOT",
    "KINDS",
    "REBOOT_FLAG",
    "ActivityKind",
    "Desired",
    "Executor",
    "KindSpec",
    "carried_out_by",
    "check_params",
    "label",
    "manual_because",
    "needs_reboot",
    "parse",
    "require",
    "spec",
]


class ActivityKind(StrEnum):
    """The kinds of maintenance work; the value is what the database and the API carry
    (a ``StrEnum``: a member compares equal to its stored string)."""

    MEMORY_RESIZE = "memory_resize"
    CPU_CHANGE = "cpu_change"
    KERNEL_UPDATE = "kernel_update"
    SYSTEM_UPDATE = "system_update"
    REBOOT = "reboot"
    HOST_REBOOT = "host_reboot"
    CPU_MODE = "cpu_mode"


class Executor(Enum):
    """Who carries the work out."""

    HOST_AGENT = "host agent"  # fenster-agent on the VM's host (or on the host itself)
    GUEST_AGENT = "guest agent"  # inside the VM: a guest agent or the customer by hand


@dataclass(frozen=True, slots=True)
class Desired:
    """A kind that brings a machine's observed value to its desired value: queued only by
    changing the desired value (which checks it against the limits), never directly."""

    field: str  # Machine's desired field, e.g. "desired_memory_mib"
    observed: str  # Machine's observed field, e.g. "observed_memory_mib"
    param: str  # the activity's params key the agent applies, e.g. "memory_mib"


@dataclass(frozen=True, slots=True)
class KindSpec:
    kind: ActivityKind
    label: str  # in mail, feeds and pages: "kernel update"
    default_estimate: int  # minutes of work unless the requester says otherwise
    needs_reboot: bool  # the effect needs the machine restarted (params' "reboot" overrides)
    executor: Executor
    # None: the planner schedules it. Otherwise only an operator schedules it, by hand (a forced
    # window), never the planner nor a window scheduled at a chosen time; the text says why and
    # is the queued activity's blocked reason
    manual: str | None = None
    operator_only: bool = False  # only an operator may queue it
    host_only: bool = False  # only a VM host can have it
    desired: Desired | None = None

    @property
    def manual_only(self) -> bool:
        return self.manual is not None


KINDS: Mapping[ActivityKind, KindSpec] = {
    s.kind: s
    for s in (
        KindSpec(
            ActivityKind.MEMORY_RESIZE,
            "memory resize",
            5,
            needs_reboot=True,
            executor=Executor.HOST_AGENT,
            desired=Desired("desired_memory_mib", "observed_memory_mib", "memory_mib"),
        ),
        KindSpec(
            ActivityKind.CPU_CHANGE,
            "CPU change",
            5,
            needs_reboot=True,
            executor=Executor.HOST_AGENT,
            desired=Desired("desired_cores", "observed_cores", "cores"),
        ),
        KindSpec(
            ActivityKind.KERNEL_UPDATE,
            "kernel update",
            15,
            needs_reboot=True,
            executor=Executor.HOST_AGENT,
            desired=Desired("desired_kernel", "observed_kernel", "kernel"),
        ),
        KindSpec(
            ActivityKind.SYSTEM_UPDATE,
            "system update",
            30,
            needs_reboot=False,
            executor=Executor.GUEST_AGENT,
        ),
        KindSpec(ActivityKind.REBOOT, "reboot", 5, needs_reboot=True, executor=Executor.HOST_AGENT),
        KindSpec(
            ActivityKind.HOST_REBOOT,
            "host reboot",
            20,
            needs_reboot=True,
            executor=Executor.HOST_AGENT,
            manual=(
                # api.services.window_ops.force_host_reboot
                "a host reboot is scheduled by an operator, who gives every VM on the host its "
                "own announced window for it"
            ),
            operator_only=True,
            host_only=True,
        ),
        # an existing guest's definition shows it the host CPU (params.mode, one of
        # CPU_MODES); the host agent restarts the guest once for it. Operators queue it for
        # the machines whose observed CPU mode is not the one wanted.
        KindSpec(
            ActivityKind.CPU_MODE,
            "CPU mode",
            5,
            needs_reboot=True,
            executor=Executor.HOST_AGENT,
            operator_only=True,
        ),
    )
}

# The CPU modes that show a guest the host's CPU (libvirt's <cpu mode=...>); the first is the
# default of a cpu_mode activity.
CPU_MODES: tuple[str, ...] = ("host-model", "host-passthrough")

# desired field -> the kind that follows it (queued only by changing the desired value)
BY_DESIRED_FIELD: Mapping[str, tuple[ActivityKind, Desired]] = {
    s.desired.field: (s.kind, s.desired) for s in KINDS.values() if s.desired is not None
}

# A VM's reboot forced by its host's reboot names that host by a foreign key
# (Activity.for_host_reboot); GraphQL shows the host's name under this params key to operators
# and host agents (which read it there), never to customers.
FOR_HOST_REBOOT = "host_reboot"
# A boolean under this params key overrides the kind's needs_reboot (see needs_reboot).
REBOOT_FLAG = "reboot"


def carried_out_by(executor: Executor) -> tuple[ActivityKind, ...]:
    """The kinds ``executor`` carries out, in registry order."""
    return tuple(k for k, s in KINDS.items() if s.executor is executor)


def check_params(kind: ActivityKind, params: Mapping[str, Any] | None) -> dict[str, Any]:
    """The params a queued activity of ``kind`` carries, checked (a ValidationError on the
    field "params" otherwise); a kind without rules of its own takes them as they are."""
    out = dict(params or {})
    if kind is ActivityKind.CPU_MODE:
        mode = out.setdefault("mode", CPU_MODES[0])
        if mode not in CPU_MODES:
            raise ValidationError.single("params", f"mode must be one of {', '.join(CPU_MODES)}")
    return out


def parse(kind: str) -> ActivityKind | None:
    """The kind a stored or requested string names; None for a string that names none."""
    try:
        return ActivityKind(kind)
    except ValueError:
        return None


def require(kind: str) -> ActivityKind:
    """The kind ``kind`` names, or a ValidationError on the field "kind"."""
    known = parse(kind)
    if known is None:
        raise ValidationError.single("kind", f"must be one of {', '.join(KINDS)}")
    return known


def spec(kind: str) -> KindSpec | None:
    known = parse(kind)
    return None if known is None else KINDS[known]


def label(kind: str) -> str:
    """'kernel_update' -> 'kernel update' (an unknown kind is shown with spaces)."""
    known = spec(kind)
    return known.label if known is not None else kind.replace("_", " ")


def manual_because(kind: str) -> str | None:
    """Why only an operator schedules this kind, by hand; None: the planner schedules it."""
    known = spec(kind)
    return known.manual if known is not None else None


def needs_reboot(kind: str, params: Mapping[str, Any] | str | None) -> bool:
    """Whether the work restarts the machine: params' boolean "reboot" flag, else the kind.

    ``params`` is the activity's params, or their JSON text as a raw row holds it (the text is
    decoded only when it mentions the flag)."""
    if isinstance(params, str):
        params = json.loads(params) if f'"{REBOOT_FLAG}"' in params else None
    explicit = (params or {}).get(REBOOT_FLAG)
    if isinstance(explicit, bool):
        return explicit
    known = spec(kind)
    return known is not None and known.needs_reboot
