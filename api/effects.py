"""Effects (pure): each domain change as plain row values, and the outbox's key formats.

A change is turned into frozen rows here: the audit trail's events (``AuditRow``), the
outbox's messages (``OutboxRow``), new windows (``WindowRow``), new activities
(``ActivityRow``), a rollout's wave members (``MemberRow``), and the changes to existing rows
(``Update``: ``ActivityMoved``, ``ActivityBlocked``, ``ActivityAdopted``, ``ActivityHeld``,
``WindowExtended``, ``DesiredKernel``). Two sinks in ``api.services.sinks`` write them: one
through the ORM (a single operation), one in bulk with plain SQL (the scheduling pass, a
rollout's announcement), its column lists taken from the models' metadata. No database code
here.

The one home of:
- a window's uid format (``new_uid``) and its name in the audit trail (``window_name``);
- the outbox's dedupe-key and thread-key formats (the ``*_key`` and ``*_thread`` functions);
- the digest rule (``new_windows_notices``: one digest per group with many new windows,
  else one message per window).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, ClassVar

from api.notices import (
    AnnouncementPublished,
    GroupSettings,
    GuestDown,
    Notice,
    RolloutAnnounced,
    RolloutDelayed,
    RolloutHalted,
    WindowScheduled,
    WindowsDigest,
    WindowStuck,
)

__all__ = [
    "ActivityAdopted",
    "ActivityBlocked",
    "ActivityHeld",
    "ActivityMoved",
    "ActivityRow",
    "AuditRow",
    "DesiredKernel",
    "MemberRow",
    "NewWindow",
    "OutboxRow",
    "Update",
    "WindowExtended",
    "WindowRow",
    "announcement_key",
    "announcement_key_prefix",
    "digest_key",
    "group_key",
    "group_thread",
    "guest_down_key",
    "new_uid",
    "new_windows_notices",
    "operators_thread",
    "outbox_row",
    "rollout_announced_key",
    "rollout_announced_key_prefix",
    "rollout_delayed_key",
    "rollout_halted_key",
    "rollout_settings_key",
    "rollout_settings_key_suffix",
    "window_key",
    "window_minute",
    "window_name",
    "window_stuck_key",
    "window_thread",
]


# --- the outbox's key formats: a repeated dedupe key queues nothing; a thread key groups a
# conversation's mails (In-Reply-To / References)


def window_key(kind: str, uid: str, sequence: int) -> str:
    """A notice about one window at one sequence (its iCalendar revision)."""
    return f"{kind}:{uid}:{sequence}"


def group_key(kind: str, group_id: int, stamp: datetime) -> str:
    """A notice about a group as it was at ``stamp`` (its ``updated_at``)."""
    return f"{kind}:{group_id}:{stamp.isoformat()}"


def digest_key(group_id: int, first_uid: str, count: int) -> str:
    """One digest of ``count`` new windows of a group, the first of them ``first_uid``."""
    return f"{WindowsDigest.kind}:{group_id}:{first_uid}:{count}"


def window_stuck_key(uid: str) -> str:
    """The operators hear once that a window is stuck."""
    return f"{WindowStuck.kind}:{uid}"


def guest_down_key(uid: str) -> str:
    """The operators hear once that a host reboot left guests down in a window."""
    return f"{GuestDown.kind}:{uid}"


def announcement_key_prefix(announcement_id: int) -> str:
    return f"{AnnouncementPublished.kind}:{announcement_id}:"


def announcement_key(announcement_id: int, group_id: int) -> str:
    """An announcement's mail, once per announcement and group."""
    return f"{announcement_key_prefix(announcement_id)}{group_id}"


def rollout_announced_key_prefix(rollout_id: int) -> str:
    return f"{RolloutAnnounced.kind}:{rollout_id}:"


def rollout_announced_key(rollout_id: int, group_id: int, stamp: datetime) -> str:
    """A rollout's announcement to a group (again after a resume: another ``stamp``)."""
    return f"{rollout_announced_key_prefix(rollout_id)}{group_id}:{stamp.isoformat()}"


def rollout_settings_key_suffix(rollout_id: int) -> str:
    return f":rollout:{rollout_id}"


def rollout_settings_key(group_id: int, rollout_id: int) -> str:
    """The settings summary sent ahead of a rollout's announcement to a group never told."""
    return f"{GroupSettings.kind}:{group_id}{rollout_settings_key_suffix(rollout_id)}"


def rollout_delayed_key(rollout_id: int, group_id: int, stamp: datetime) -> str:
    return f"{RolloutDelayed.kind}:{rollout_id}:{group_id}:{stamp.isoformat()}"


def rollout_halted_key(rollout_id: int, stamp: datetime) -> str:
    return f"{RolloutHalted.kind}:{rollout_id}:{stamp.isoformat()}"


def window_thread(uid: str) -> str:
    """Every mail about a window threads under its uid."""
    return uid


def group_thread(group_id: int) -> str:
    return f"group:{group_id}"


def operators_thread(kind: str) -> str:
    return f"operators:{kind}"


# --- rows


def new_uid() -> str:
    """A new window's uid (its iCalendar UID, for ever)."""
    return f"{uuid.uuid4()}@fenster"


def window_minute(starts_at: datetime) -> str:
    """A window's start as its audit name shows it (UTC, to the minute)."""
    return f"{starts_at:%Y-%m-%d %H:%M}Z"


def window_name(uid: str, minute: str) -> str:
    """A window as the audit trail names it: its uid and ``window_minute`` of its start."""
    return f"window {uid} {minute}"


@dataclass(frozen=True, slots=True)
class AuditRow:
    """One audit event: ``actor`` did ``action`` to the subject (type, id, name)."""

    actor: str
    action: str
    subject_type: str
    subject_id: int
    subject_name: str
    details: dict[str, Any]


@dataclass(frozen=True, slots=True)
class OutboxRow:
    """One message in the outbox, due at ``next_attempt_at``."""

    kind: str
    group_id: int | None
    window_id: int | None
    recipients: Sequence[str]
    payload: dict[str, Any]
    dedupe_key: str
    thread_key: str | None
    next_attempt_at: datetime
    state: str = "pending"
    attempts: int = 0


@dataclass(frozen=True, slots=True)
class WindowRow:
    """A new maintenance window (planned, sequence 0, never postponed) with a new uid."""

    machine_id: int
    starts_at: datetime
    ends_at: datetime
    reason: str
    forced: bool
    postpone_deadline: datetime | None
    state: str = "planned"
    sequence: int = 0
    postpones: int = 0
    uid: str = field(default_factory=new_uid)


@dataclass(frozen=True, slots=True)
class ActivityRow:
    """A new activity; its request time is the write's."""

    machine_id: int
    kind: str
    state: str
    estimate_minutes: int
    params: dict[str, Any]
    not_before: datetime | None
    window_id: int | None
    rollout_id: int | None
    blocked_reason: str | None
    requested_by: str
    attempts: int = field(default=0)
    for_host_reboot_id: int | None = field(default=None)  # a VM's reboot: its host's reboot


@dataclass(frozen=True, slots=True)
class MemberRow:
    """A machine in a wave of a rollout."""

    rollout_id: int
    wave_id: int
    machine_id: int


# --- changes to existing rows: each sets its fields (all but ``id``) on the row ``id``


class Update:
    """A change to the existing row ``id``: the sinks set every other field of the dataclass.
    ``ONLY_IF`` (column values) must hold too, else the row is left alone; ``TOUCH``: the
    model's ``updated_at`` gets the write's stamp."""

    __slots__ = ()
    __dataclass_fields__: ClassVar[dict[str, Any]]  # every update is a dataclass
    ONLY_IF: ClassVar[tuple[tuple[str, Any], ...]] = ()
    TOUCH: ClassVar[bool] = False


@dataclass(frozen=True, slots=True)
class ActivityMoved(Update):
    """A queued activity moves into its window (one no longer queued stays where it is)."""

    ONLY_IF = (("state", "queued"),)

    id: int
    window_id: int
    state: str = "scheduled"
    blocked_reason: str | None = None


@dataclass(frozen=True, slots=True)
class ActivityBlocked(Update):
    """A queued activity the planner could not place, and why."""

    id: int
    blocked_reason: str


@dataclass(frozen=True, slots=True)
class ActivityAdopted(Update):
    """A queued kernel update a rollout adopts: in its window, or queued with its reason."""

    id: int
    state: str
    not_before: datetime | None
    window_id: int | None
    rollout_id: int
    blocked_reason: str | None


@dataclass(frozen=True, slots=True)
class ActivityHeld(Update):
    """A scheduled activity due no sooner than ``not_before``."""

    id: int
    not_before: datetime


@dataclass(frozen=True, slots=True)
class WindowExtended(Update):
    """A planned window with more work: its new reason at its new ``sequence``."""

    TOUCH = True

    id: int
    reason: str
    sequence: int


@dataclass(frozen=True, slots=True)
class DesiredKernel(Update):
    """The kernel a machine is to run."""

    id: int
    desired_kernel: str


def outbox_row(
    notice: Notice,
    *,
    group_id: int | None,
    recipients: Sequence[str],
    due: datetime,
    window: tuple[int, str, int] | None = None,
    dedupe_key: str | None = None,
    group_stamp: datetime | None = None,
) -> OutboxRow:
    """The outbox row of ``notice``: about a ``window`` (id, uid, sequence), a group, or (with
    ``group_id`` None) the operators. Without ``dedupe_key`` the key is the window's at its
    sequence, else the group's as of ``group_stamp``."""
    if dedupe_key is None:
        if window is not None:
            dedupe_key = window_key(notice.kind, window[1], window[2])
        elif group_id is not None and group_stamp is not None:
            dedupe_key = group_key(notice.kind, group_id, group_stamp)
        else:
            raise ValueError("a notice about no window needs a dedupe key or the group's stamp")
    if window is not None:
        thread = window_thread(window[1])
    elif group_id is not None:
        thread = group_thread(group_id)
    else:
        thread = operators_thread(notice.kind)
    return OutboxRow(
        notice.kind,
        group_id,
        window[0] if window is not None else None,
        recipients,
        notice.to_payload(),
        dedupe_key,
        thread,
        due,
    )


@dataclass(frozen=True, slots=True)
class NewWindow:
    """A window just booked, as its announcement needs it."""

    id: int
    uid: str
    sequence: int
    reason: str


def new_windows_notices(
    threshold: int,
    group_id: int,
    recipients: Sequence[str],
    windows: Sequence[NewWindow],
    due: datetime,
) -> list[OutboxRow]:
    """The digest rule: a group with at least ``threshold`` new windows (``threshold`` 0:
    never) gets one digest of them, else one ``window_scheduled`` message per window."""
    if threshold and len(windows) >= threshold:
        digest = WindowsDigest(tuple(w.uid for w in windows), tuple(w.id for w in windows))
        key = digest_key(group_id, windows[0].uid, len(windows))
        return [
            outbox_row(digest, group_id=group_id, recipients=recipients, due=due, dedupe_key=key)
        ]
    return [
        outbox_row(
            WindowScheduled(w.sequence, w.reason),
            group_id=group_id,
            recipients=recipients,
            due=due,
            window=(w.id, w.uid, w.sequence),
        )
        for w in windows
    ]
