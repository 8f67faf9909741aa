"""Plain values the calendar and mail builders work on: no database, no clock."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from api import kinds

__all__ = [
    "ActivityView",
    "CalendarView",
    "SystemUpdateView",
    "WindowView",
    "impact",
    "maintnote_status",
    "update_status",
]


@dataclass(frozen=True)
class ActivityView:
    kind: str
    estimate_minutes: int
    needs_reboot: bool
    state: str = "scheduled"
    detail: str = ""  # e.g. "2048 MiB -> 4096 MiB"
    outcome: str = ""  # api.outcomes.outcome_of(log) for done/failed activities

    @property
    def label(self) -> str:
        return kinds.label(self.kind)


@dataclass(frozen=True)
class WindowView:
    """One maintenance window as customers see it. Instants are timezone-aware UTC."""

    uid: str
    machine: str
    machine_kind: str
    group: str
    timezone: str  # the group's IANA zone
    starts_at: datetime
    ends_at: datetime
    state: str  # planned | running | completed | failed | cancelled
    sequence: int
    reason: str
    created_at: datetime
    updated_at: datetime
    activities: tuple[ActivityView, ...] = ()
    forced: bool = False
    postpones: int = 0
    max_postpones: int = 0
    postpone_deadline: datetime | None = None
    url: str = ""

    @property
    def summary(self) -> str:
        """'Maintenance: vm01 - kernel update, memory resize' (each kind once, in order)."""
        labels = list(dict.fromkeys(a.label for a in self.activities))
        if not labels:
            return f"Maintenance: {self.machine}"
        return f"Maintenance: {self.machine} - {', '.join(labels)}"

    @property
    def work_minutes(self) -> int:
        return sum(a.estimate_minutes for a in self.activities)

    @property
    def downtime_minutes(self) -> int:
        """Expected downtime: the work of every activity that restarts the machine."""
        return min(
            sum(a.estimate_minutes for a in self.activities if a.needs_reboot),
            int((self.ends_at - self.starts_at).total_seconds() // 60),
        )


@dataclass(frozen=True)
class SystemUpdateView:
    """A VM's system update of a rollout as customers see it: at its wave's start, applied in
    place while the machine runs, in no window (the new kernel is activated later, by a reboot
    in the machine's window). Instants are timezone-aware UTC."""

    activity_id: int
    machine: str
    machine_kind: str
    group: str
    timezone: str  # the group's IANA zone
    starts_at: datetime  # the wave's start (the activity's not_before)
    estimate_minutes: int
    state: str  # the activity's: queued | scheduled | running | done | failed | cancelled
    rollout_title: str
    created_at: datetime
    updated_at: datetime  # the latest of its booking, its finish and its rollout's change
    detail: str = ""  # e.g. "release 2011-08"
    outcome: str = ""  # api.outcomes.outcome_of(log) once done or failed
    activation_at: datetime | None = None  # the start of the kernel activation's window
    url: str = ""  # the rollout's page on the notice site
    wave_starts_at: datetime | None = None  # its wave's start (a start after it: held back)

    @property
    def uid(self) -> str:
        return f"system-update-{self.activity_id}@fenster"

    @property
    def ends_at(self) -> datetime:
        return self.starts_at + timedelta(minutes=self.estimate_minutes)

    @property
    def summary(self) -> str:
        return f"System update: {self.machine} - {self.rollout_title} (no downtime)"

    @property
    def sequence(self) -> int:
        """Its revisions: held back from its wave's start (the wave engine waits for the wave
        before), and cancelled. A delayed rollout books new ones rather than moving these."""
        moved = self.wave_starts_at is not None and self.starts_at != self.wave_starts_at
        return int(moved) + int(self.state == "cancelled")


@dataclass(frozen=True)
class CalendarView:
    """What a whole calendar is about: one group, or every group (the operators' feed)."""

    name: str  # X-WR-CALNAME
    timezone: str  # X-WR-TIMEZONE
    provider: str  # X-MAINTNOTE-PROVIDER: the provider's domain
    description: str = ""
    organizer: str = ""  # a mail address; ORGANIZER is required by the MAINTNOTE convention
    refresh_minutes: int = 60


def impact(window: WindowView) -> str:
    """MAINTNOTE impact: OUTAGE when the machine restarts, DEGRADED for work while it runs."""
    if not window.activities:
        return "NO-IMPACT"
    if any(a.needs_reboot for a in window.activities):
        return "OUTAGE"
    return "DEGRADED"


_MAINTNOTE_STATUS = {
    "planned": "CONFIRMED",
    "running": "IN-PROCESS",
    "completed": "COMPLETED",
    "failed": "COMPLETED",
    "cancelled": "CANCELLED",
}


def maintnote_status(state: str) -> str:
    return _MAINTNOTE_STATUS.get(state, "TENTATIVE")


_UPDATE_STATUS = {
    "queued": "CONFIRMED",
    "scheduled": "CONFIRMED",
    "running": "IN-PROCESS",
    "done": "COMPLETED",
    "failed": "COMPLETED",
    "cancelled": "CANCELLED",
}


def update_status(state: str) -> str:
    """MAINTNOTE status of a system update, from its activity's state."""
    return _UPDATE_STATUS.get(state, "TENTATIVE")
