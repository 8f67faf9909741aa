"""Sample windows for the calendar and mail tests (plain values, no database)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import vobject

from api.calendar.values import ActivityView, CalendarView, SystemUpdateView, WindowView

__all__ = [
    "CAL",
    "cancelled",
    "changed",
    "completed",
    "planned",
    "read_vobject",
    "system_update",
    "tokyo",
]

CAL = CalendarView(
    name="Maintenance: ACME Webshop (acme)",
    timezone="Europe/Berlin",
    provider="gocept.net",
    description="Maintenance windows of resource group acme",
    organizer="maintenance@gocept.net",
)


def planned() -> WindowView:
    return WindowView(
        uid="0b6f1c1e-6c64-4a53-9d57-4f1b2a7f0001@fenster",
        machine="vm01",
        machine_kind="vm",
        group="acme",
        timezone="Europe/Berlin",
        starts_at=datetime(2026, 12, 1, 1, 0, tzinfo=UTC),
        ends_at=datetime(2026, 12, 1, 3, 0, tzinfo=UTC),
        state="planned",
        sequence=0,
        reason="first day of the group's window (Tue 02:00-04:00 Europe/Berlin) after the notice",
        created_at=datetime(2026, 11, 20, 9, 0, tzinfo=UTC),
        updated_at=datetime(2026, 11, 20, 9, 0, tzinfo=UTC),
        activities=(
            ActivityView("kernel_update", 15, True, detail="Linux 2.6.38"),
            ActivityView("memory_resize", 5, True, detail="2048 MiB -> 4096 MiB"),
        ),
        max_postpones=2,
        postpone_deadline=datetime(2026, 11, 30, 1, 0, tzinfo=UTC),
        url="https://fenster.example/windows/0b6f1c1e-6c64-4a53-9d57-4f1b2a7f0001@fenster",
    )


def changed() -> WindowView:
    """The planned window moved by a week (across nothing) and re-sequenced."""
    w = planned()
    return replace(
        w,
        starts_at=datetime(2026, 12, 8, 1, 0, tzinfo=UTC),
        ends_at=datetime(2026, 12, 8, 3, 0, tzinfo=UTC),
        sequence=1,
        postpones=1,
        reason="postponed by the customer; next day of the group's window",
        updated_at=datetime(2026, 11, 21, 10, 30, tzinfo=UTC),
    )


def cancelled() -> WindowView:
    w = changed()
    return replace(
        w,
        state="cancelled",
        sequence=2,
        updated_at=datetime(2026, 11, 22, 8, 15, tzinfo=UTC),
    )


def completed() -> WindowView:
    return WindowView(
        uid="0b6f1c1e-6c64-4a53-9d57-4f1b2a7f0002@fenster",
        machine="db02",
        machine_kind="vm",
        group="acme",
        timezone="Europe/Berlin",
        # spans the end of summer time: 02:00 CEST to 02:30 CET, the second 02:30 that night
        starts_at=datetime(2026, 10, 25, 0, 0, tzinfo=UTC),
        ends_at=datetime(2026, 10, 25, 1, 30, tzinfo=UTC),
        state="completed",
        sequence=1,
        reason="group window, Sunday",
        created_at=datetime(2026, 10, 10, 9, 0, tzinfo=UTC),
        updated_at=datetime(2026, 10, 25, 1, 40, tzinfo=UTC),
        activities=(
            ActivityView("system_update", 30, False, state="done", outcome="212 packages"),
            ActivityView("reboot", 5, True, state="done", outcome="up after 41 s"),
        ),
    )


def tokyo() -> WindowView:
    """A window of another group in another zone (for the operators' feed)."""
    return WindowView(
        uid="0b6f1c1e-6c64-4a53-9d57-4f1b2a7f0003@fenster",
        machine="web07",
        machine_kind="infrastructure",
        group="kaizen",
        timezone="Asia/Tokyo",
        starts_at=datetime(2026, 12, 31, 16, 0, tzinfo=UTC),  # 1 Jan 2027 01:00 JST
        ends_at=datetime(2026, 12, 31, 17, 0, tzinfo=UTC),
        state="planned",
        sequence=0,
        reason="forced by an operator",
        created_at=datetime(2026, 11, 20, 9, 0, tzinfo=UTC),
        updated_at=datetime(2026, 11, 20, 9, 0, tzinfo=UTC),
        activities=(ActivityView("system_update", 30, False),),
        forced=True,
    )


def system_update() -> SystemUpdateView:
    """vm01's system update of a rollout at its wave's start (Tue 19:00 CET), a week before
    the window :func:`planned` that activates its kernel."""
    return SystemUpdateView(
        activity_id=42,
        machine="vm01",
        machine_kind="vm",
        group="acme",
        timezone="Europe/Berlin",
        starts_at=datetime(2026, 11, 24, 18, 0, tzinfo=UTC),
        estimate_minutes=30,
        state="scheduled",
        rollout_title="System updates next week",
        created_at=datetime(2026, 11, 17, 9, 0, tzinfo=UTC),
        updated_at=datetime(2026, 11, 17, 9, 0, tzinfo=UTC),
        activation_at=datetime(2026, 12, 1, 1, 0, tzinfo=UTC),
        url="https://fenster.example/rollouts/system-update-next-week/",
    )


def read_vobject(data: bytes) -> Any:
    """vobject's parse of ``data`` using the VTIMEZONEs inside it.

    vobject keeps the first VTIMEZONE it ever saw per TZID in a module-wide registry and ignores
    later ones, so a test that reads several calendars must forget them between reads.
    """
    registry = vars(vobject.icalendar)["__tzidMap"]
    for tzid in [t for t in registry if t != "UTC"]:
        del registry[tzid]
    return vobject.readOne(data.decode())
