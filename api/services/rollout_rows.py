"""The rows a rollout's announcement writes, from its plan (no database code): the new
windows, the activities, the audit events and each group's announcement
(``api.services.rollout_announce`` writes them)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import TypeVar

from api.effects import ActivityRow, AuditRow, WindowRow, window_minute, window_name
from api.kinds import KINDS, REBOOT_FLAG, ActivityKind
from api.models import ResourceGroup, Rollout
from api.notices import RolloutAnnounced, RolloutEvent
from api.scheduling import postpone_deadline
from api.scheduling.rollout import Activation, RolloutPlan
from api.scheduling.waves import WaveSelector
from api.services.rollouts import RolloutPreview
from api.services.window_base import host_reboot_reason

__all__ = [
    "Booked",
    "Memo",
    "announced",
    "audit_rows",
    "new_windows",
    "reboots",
    "system_updates",
]


K = TypeVar("K")
V = TypeVar("V")


class Memo(dict[K, V]):
    """``of(key)`` looked up once per key."""

    def __init__(self, of: Callable[[K], V]) -> None:
        super().__init__()
        self.of = of

    def __missing__(self, key: K) -> V:
        value = self[key] = self.of(key)
        return value


@dataclass
class Booked:
    """The windows an announcement booked: new ones (with their group) and joined ones."""

    new: list[tuple[WindowRow, int]]
    ids: dict[str, int]  # window uid -> id
    activation: dict[int, int]  # machine id -> the window its kernel activates in
    reboot: dict[int, int]  # machine id -> its forced host-reboot window
    extended: list[Activation]
    joined: dict[int, str]  # window id -> uid of the windows ``extended`` join


def new_windows(
    plan: RolloutPlan, groups: dict[int, ResourceGroup], now: datetime
) -> list[tuple[WindowRow, int]]:
    """Each VM's activation window not joining one, then the forced host-reboot windows."""
    deadline = postpone_deadline(now)
    new = [
        (WindowRow(a.machine_id, a.starts_at, a.ends_at, a.reason, False, deadline), a.group_id)
        for a in plan.activations
        if a.starts_at is not None and a.ends_at is not None and a.joins_window is None
    ]
    # a host's VMs share its start: each reason's text is worked out once
    reasons = Memo[tuple[str, int, datetime, bool], str](lambda k: host_reboot_reason(*k))
    for h in plan.host_reboots:
        g = groups[h.group_id]
        reason = reasons[(g.timezone, g.notice_minutes, h.starts_at, h.machine_id == h.host_id)]
        row = WindowRow(h.machine_id, h.starts_at, h.ends_at, reason, True, None)
        new.append((row, h.group_id))
    return new


def system_updates(actor: str, rollout: Rollout, plan: RolloutPlan) -> list[ActivityRow]:
    minutes = KINDS[ActivityKind.SYSTEM_UPDATE].default_estimate
    kind = ActivityKind.SYSTEM_UPDATE
    return [
        ActivityRow(
            mid, kind, "scheduled", minutes, {}, w.spec.starts_at, None, rollout.id, None, actor
        )
        for w in plan.waves
        if w.spec.selector is not WaveSelector.HOSTS
        for mid in w.machine_ids
    ]


def reboots(
    actor: str, rollout: Rollout, preview: RolloutPreview, booked: Booked
) -> list[ActivityRow]:
    """The host's reboot, and each VM's reboot for it, in their forced windows."""
    rows = []
    for h in preview.plan.host_reboots:
        window = booked.reboot[h.machine_id]
        host: int | None = None
        if h.machine_id == h.host_id:
            kind, params = ActivityKind.HOST_REBOOT, {}
            minutes = KINDS[kind].default_estimate
        else:
            kind, params, host = ActivityKind.REBOOT, {REBOOT_FLAG: True}, h.host_id
            minutes = int((h.ends_at - h.starts_at).total_seconds() // 60)
        rows.append(
            ActivityRow(
                h.machine_id,
                kind,
                "scheduled",
                minutes,
                params,
                None,
                window,
                rollout.id,
                None,
                actor,
                for_host_reboot_id=host,
            )
        )
    return rows


def audit_rows(
    actor: str,
    rollout: Rollout,
    preview: RolloutPreview,
    booked: Booked,
    force: bool,
    resumed: bool,
) -> list[AuditRow]:
    """One event per new window, and one for the announcement (which records a forced
    notice)."""
    names = preview.machine_names
    minute = Memo[datetime, str](window_minute)  # many windows share their times
    iso = Memo[datetime, str](datetime.isoformat)
    rows = [
        AuditRow(
            actor,
            "window.force_host_reboot" if w.forced else "window.schedule",
            "window",
            booked.ids[w.uid],
            window_name(w.uid, minute[w.starts_at]),
            {
                "machine": names[w.machine_id],
                "rollout": rollout.name,
                "starts_at": iso[w.starts_at],
                "ends_at": iso[w.ends_at],
            },
        )
        for w, _ in booked.new
    ]
    late = sorted({preview.group_names[g] for g in preview.plan.late_groups})
    details = {
        "windows": len(booked.new),
        "extended": len(booked.extended),
        "forced": force,
        "late_groups": late if force else [],
    }
    action = "rollout.resume" if resumed else "rollout.announce"
    rows.append(AuditRow(actor, action, "rollout", rollout.id, rollout.name, details))
    return rows


def announced(
    rollout: Rollout,
    preview: RolloutPreview,
    members: dict[tuple[int, int], list[str]],
    gid: int,
    windows: tuple[str, ...],
    resumed: bool,
) -> RolloutAnnounced:
    """The announcement to group ``gid``: its order of events, its machines per wave, all its
    windows."""
    events = tuple(
        RolloutEvent(
            preview.positions[i],
            w.spec.name,
            w.spec.starts_at,
            tuple(sorted(members.get((gid, preview.wave_ids[i]), ()))),
        )
        for i, w in enumerate(preview.plan.waves)
    )
    return RolloutAnnounced(
        rollout.name, rollout.title, rollout.description, events, windows, resumed
    )
