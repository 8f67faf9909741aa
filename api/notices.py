"""Notice kinds: one frozen dataclass per kind of customer mail, and the registry of them.

The registry is the one home of the kind list. Each kind names its payload (the dataclass
fields, stored as JSON in the outbox row), its Subject line (a Jinja template), what it is about
(the group, one window or several) and whether the mail carries the windows as a calendar
file. Its two templates are ``api/notify/templates/<kind>/message.txt`` and ``message.html``.

Producers build the dataclass and hand it to ``api.services.outbox.enqueue``, which stores
``notice.to_payload()``; the mailer reads the row back with :func:`notice_of` and renders it
through the registry. Adding a kind: one dataclass here, two templates, one golden file.

Pure: no database, no clock.
"""

from __future__ import annotations

import enum
import types
from collections.abc import Mapping
from dataclasses import dataclass, fields
from datetime import datetime
from typing import Any, ClassVar, Self

from api.payloads import field_names, from_json, hints_of, to_json

__all__ = [
    "NOTICES",
    "NOTICE_KINDS",
    "ActivityOutcome",
    "AnnouncementPublished",
    "GroupSettings",
    "GuestDown",
    "Notice",
    "RolloutAnnounced",
    "RolloutDelayed",
    "RolloutEvent",
    "RolloutHalted",
    "Scope",
    "UnknownNotice",
    "WindowCancelled",
    "WindowChanged",
    "WindowCompleted",
    "WindowFailed",
    "WindowPostponed",
    "WindowReminder",
    "WindowScheduled",
    "WindowStuck",
    "WindowsDigest",
    "notice_of",
]


class UnknownNotice(ValueError):
    """An outbox row names a kind the registry does not know."""

    def __init__(self, kind: str) -> None:
        super().__init__(f"unknown notice kind {kind!r}")
        self.kind = kind


class Scope(enum.Enum):
    """What a notice is about: which windows the mailer loads for it."""

    GROUP = "group"  # the group itself, no window
    WINDOW = "window"  # exactly one window: the row's window
    WINDOWS = "windows"  # several windows, named by uid in the payload


@dataclass(frozen=True)
class Notice:
    """Base of every payload type; subclasses set the class-level facts below."""

    kind: ClassVar[str]
    subject: ClassVar[str]  # Jinja template of the Subject line (not HTML)
    scope: ClassVar[Scope] = Scope.WINDOW
    calendar: ClassVar[bool] = False  # attach the window(s) as an iCalendar file
    opens_thread: ClassVar[bool] = False  # the first such mail about a window roots its thread
    operators: ClassVar[bool] = False  # for the operators, not the group's contacts

    @classmethod
    def templates(cls) -> tuple[str, str]:
        """The (text, HTML) template names of this kind."""
        return f"{cls.kind}/message.txt", f"{cls.kind}/message.html"

    def to_payload(self) -> dict[str, Any]:
        """The JSON value stored in the outbox row."""
        return {name: to_json(getattr(self, name)) for name in field_names(type(self))}

    @classmethod
    def from_payload(cls, data: Mapping[str, Any]) -> Self:
        """Read a stored payload back; keys the type does not know are ignored."""
        hints = hints_of(cls)
        values = {
            f.name: from_json(hints[f.name], data[f.name]) for f in fields(cls) if f.name in data
        }
        return cls(**values)

    def window_uids(self) -> tuple[str, ...]:
        """For Scope.WINDOWS: the windows this notice lists."""
        return ()

    def stale(self, state: str, sequence: int) -> str | None:
        """Why the mail has nothing left to say about a window now in ``state``, if so."""
        return None


@dataclass(frozen=True)
class ActivityOutcome:
    kind: str
    outcome: str = ""
    log: str = ""


# ---------------------------------------------------------------- the kinds


@dataclass(frozen=True)
class GroupSettings(Notice):
    """A group was created or its policy changed: the settings now used."""

    kind = "group_settings"
    subject = "Maintenance settings of your resource group {{ group.label }}"
    scope = Scope.GROUP

    timezone: str
    window_start: str  # "02:00", local time
    window_minutes: int
    weekdays: tuple[int, ...] = (0, 1, 2, 3, 4, 5, 6)  # Monday = 0
    notice_minutes: int = 0
    reminder_minutes: int = 0
    max_postpones: int = 0
    contacts: tuple[str, ...] = ()
    name: str = ""


@dataclass(frozen=True)
class WindowScheduled(Notice):
    kind = "window_scheduled"
    subject = "Maintenance scheduled: {{ window.machine }}, {{ when }}"
    calendar = True
    opens_thread = True

    sequence: int = 0
    reason: str = ""


@dataclass(frozen=True)
class WindowChanged(Notice):
    """A planned window moved or its work changed (``added``/``changed`` activity ids)."""

    kind = "window_changed"
    subject = "Maintenance changed: {{ window.machine }}, now {{ when }}"
    calendar = True

    sequence: int = 0
    reason: str = ""
    added: tuple[int, ...] = ()
    changed: tuple[int, ...] = ()


@dataclass(frozen=True)
class WindowPostponed(Notice):
    kind = "window_postponed"
    subject = "Maintenance postponed: {{ window.machine }}, now {{ when }}"
    calendar = True

    sequence: int = 0
    reason: str = ""
    previous_starts_at: datetime | None = None


@dataclass(frozen=True)
class WindowCancelled(Notice):
    kind = "window_cancelled"
    subject = "Maintenance cancelled: {{ window.machine }}, {{ when }}"
    calendar = True

    sequence: int = 0
    reason: str = ""


@dataclass(frozen=True)
class WindowReminder(Notice):
    kind = "window_reminder"
    subject = "Reminder: maintenance of {{ window.machine }} starts {{ when }}"

    sequence: int = 0

    def stale(self, state: str, sequence: int) -> str | None:
        if state != "planned" or sequence != self.sequence:
            return f"the window is {state} at sequence {sequence} now"
        return None


@dataclass(frozen=True)
class _WindowResult(Notice):
    outcome: str = ""
    activities: tuple[ActivityOutcome, ...] = ()
    machine: str = ""
    message: str = ""  # a note from the agent, shown as is


@dataclass(frozen=True)
class WindowCompleted(_WindowResult):
    kind = "window_completed"
    subject = "Maintenance completed: {{ window.machine }}"


@dataclass(frozen=True)
class WindowFailed(_WindowResult):
    kind = "window_failed"
    subject = "Maintenance FAILED: {{ window.machine }}"


@dataclass(frozen=True)
class WindowsDigest(Notice):
    """Many new windows of one group at once: one mail instead of one each."""

    kind = "windows_digest"
    subject = (
        "Maintenance scheduled for {{ windows | length }} machines of {{ group.label }}, "
        "from {{ when }}"
    )
    scope = Scope.WINDOWS
    calendar = True

    windows: tuple[str, ...] = ()  # window uids
    window_ids: tuple[int, ...] = ()

    def window_uids(self) -> tuple[str, ...]:
        return self.windows


@dataclass(frozen=True)
class AnnouncementPublished(Notice):
    """An operator published an announcement: its Markdown, and where it is on the site."""

    kind = "announcement"
    subject = "{{ notice.title }}"
    scope = Scope.GROUP

    slug: str
    title: str
    body: str  # Markdown


@dataclass(frozen=True)
class RolloutEvent:
    """One step of a rollout's order of events, with this group's machines in it."""

    position: int
    name: str
    starts_at: datetime
    machines: tuple[str, ...] = ()


@dataclass(frozen=True)
class RolloutAnnounced(Notice):
    """A rollout's schedule for one group: the order of events, its machines per wave, and
    every window of its machines (all in one calendar file)."""

    kind = "rollout_announced"
    subject = "{{ notice.title }}: maintenance of {{ group.label }} from {{ when }}"
    scope = Scope.WINDOWS
    calendar = True

    rollout: str = ""
    title: str = ""
    body: str = ""  # Markdown
    events: tuple[RolloutEvent, ...] = ()
    windows: tuple[str, ...] = ()  # window uids
    resumed: bool = False  # a new schedule after a delay

    def window_uids(self) -> tuple[str, ...]:
        return self.windows


@dataclass(frozen=True)
class RolloutDelayed(Notice):
    """A rollout is delayed: what was pending is cancelled; new dates come with notice."""

    kind = "rollout_delayed"
    subject = "System updates delayed: {{ notice.title }}"
    scope = Scope.GROUP

    rollout: str = ""
    title: str = ""
    reason: str = ""  # Markdown
    renotice_days: int = 7


@dataclass(frozen=True)
class WindowStuck(Notice):
    """To the operators, not the customer: a window still running well past its end (the
    guest may be down outside any announced time)."""

    kind = "window_stuck"
    subject = (
        "STUCK in maintenance: {{ window.machine }}, {{ notice.minutes_over }} minutes past its end"
    )
    operators: ClassVar[bool] = True  # the footer speaks to operators

    host: str = ""
    agent: str = ""  # the agent that started it
    minutes_over: int = 0


@dataclass(frozen=True)
class GuestDown(Notice):
    """To the operators, at once: the host agent could not start again a guest that ran
    before its window (the start and the rollback to the definition that last booted both
    failed). The guest is down outside any announced time until someone starts it."""

    kind = "guest_down"
    subject = (
        "GUEST DOWN: {{ notice.guests | length }} guest(s) after the window of {{ window.machine }}"
    )
    operators: ClassVar[bool] = True

    host: str = ""
    agent: str = ""  # the agent that reported it
    guests: tuple[str, ...] = ()  # "machine: libvirt's error"


@dataclass(frozen=True)
class RolloutHalted(Notice):
    """To the operators: a rollout halted (its wave failed the gate, or an operator halted
    it). No later wave starts until it is resumed."""

    kind = "rollout_halted"
    subject = (
        "HALTED: rollout {{ notice.rollout }}"
        "{% if notice.wave %} at wave {{ notice.wave }}{% endif %}"
    )
    scope = Scope.GROUP
    operators: ClassVar[bool] = True

    rollout: str = ""
    title: str = ""
    wave: str = ""  # the halted wave's name; empty when none was running
    reason: str = ""
    by: str = ""  # who halted it: the engine or an operator
    failures: tuple[str, ...] = ()  # "machine: error", at most engine.MAX_LISTED


NOTICES: Mapping[str, type[Notice]] = types.MappingProxyType(
    {
        cls.kind: cls
        for cls in (
            GroupSettings,
            WindowScheduled,
            WindowChanged,
            WindowPostponed,
            WindowCancelled,
            WindowReminder,
            WindowCompleted,
            WindowFailed,
            WindowsDigest,
            AnnouncementPublished,
            RolloutAnnounced,
            RolloutDelayed,
            WindowStuck,
            GuestDown,
            RolloutHalted,
        )
    }
)
NOTICE_KINDS: tuple[str, ...] = tuple(NOTICES)


def notice_of(kind: str, payload: Mapping[str, Any] | None) -> Notice:
    """The typed notice of an outbox row."""
    cls = NOTICES.get(kind)
    if cls is None:
        raise UnknownNotice(kind)
    return cls.from_payload(payload or {})
