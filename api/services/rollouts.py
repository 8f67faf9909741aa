"""Rollouts: create a draft (from the seed's template or explicit waves), read, preview.

A preview loads the directory in a few bulk queries (the scheduling pass's loader plus one
query for the machines' kinds and flags), plans in a worker thread with the pure
``api.scheduling.rollout.plan_rollout`` and writes nothing.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta

from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.transactions import in_transaction

from api import rules
from api.errors import FieldError, NotFound, ValidationError
from api.kinds import KINDS, ActivityKind
from api.models import PackageRelease, Rollout, Wave
from api.models.keys import where
from api.scheduling import Work, needed_minutes
from api.scheduling.rollout import RolloutPlan, RolloutWorld, plan_rollout
from api.scheduling.waves import (
    WaveMachine,
    WaveSelector,
    WaveSpec,
    check_assignment,
    default_waves,
    monday_of,
    validate_waves,
)
from api.services import audit
from api.services.bulk import fetch
from api.services.rollout_tally import settled
from api.services.scheduling_load import load_world
from api.settings import Settings, get_settings

__all__ = [
    "MAX_BODY",
    "RolloutPreview",
    "create_rollout",
    "get_rollout",
    "list_rollouts",
    "load_rollout_world",
    "next_week",
    "parse_release",
    "preview_data",
    "preview_rollout",
    "update_rollout",
    "wave_specs",
]

MAX_BODY = rules.MAX_ROLLOUT_BODY


@dataclass(frozen=True)
class RolloutPreview:
    """A plan and the names it is shown with (the plan itself holds only ids)."""

    rollout: Rollout
    plan: RolloutPlan
    operators_zone: str
    machine_names: dict[int, str] = field(default_factory=dict)
    group_names: dict[int, str] = field(default_factory=dict)
    group_zones: dict[int, str] = field(default_factory=dict)
    wave_ids: tuple[int, ...] = ()  # the planned waves' rows, in plan order
    positions: tuple[int, ...] = ()  # their positions in the rollout (done waves are left out)


async def get_rollout(name: str) -> Rollout:
    found = await where(Rollout.all(), name=name).first()
    if found is None:
        raise NotFound("rollout", name)
    return found


async def list_rollouts() -> list[Rollout]:
    return await Rollout.all().order_by("-created_at", "-id")


def parse_release(text: str) -> tuple[str, str]:
    """'linux=2.6.38' -> ('linux', '2.6.38')."""
    name, sep, version = text.partition("=")
    if not sep or not name.strip() or not version.strip():
        raise ValidationError.single("releases", f"'{text}' is not NAME=VERSION")
    return name.strip(), version.strip()


def next_week(now: datetime) -> date:
    """The Monday of the week after ``now``'s (the seed announces a week ahead)."""
    return monday_of(now.date()) + timedelta(days=7)


async def create_rollout(
    actor: str,
    *,
    name: str,
    title: str,
    body: str = "",
    target: str = "",
    kernel: str = "",
    releases: Sequence[tuple[str, str]] = (),
    waves: Sequence[WaveSpec] | None = None,
    week: date | None = None,
    now: datetime | None = None,
    settings: Settings | None = None,
) -> Rollout:
    """A draft rollout: explicit ``waves``, or the seed's template in ``week`` (default: next
    week) at the operators' local times. Every problem is reported at once; nothing is written
    unless all is well."""
    settings = settings or get_settings()
    now = now or datetime.now(UTC)
    errors = await _name_problems(name) + rules.rollout_text_problems(title, body, target, kernel)
    week = week or next_week(now)
    specs = tuple(waves) if waves is not None else default_waves(week, settings.site_timezone)
    errors.extend(validate_waves(specs, now))
    found = await _releases(releases, errors)
    if errors:
        raise ValidationError(errors)
    async with in_transaction() as conn:
        rollout = await Rollout.create(
            name=name, title=title, description=body, target=target, kernel=kernel, using_db=conn
        )
        if found:
            await rollout.releases.add(*found, using_db=conn)
        await _write_waves(conn, rollout, specs)
        await audit.record(
            actor,
            "rollout.create",
            rollout,
            {"waves": [f"{w.name} {w.starts_at.isoformat()}" for w in specs]},
            connection=conn,
        )
    return rollout


async def _name_problems(name: str) -> list[FieldError]:
    """What is wrong with a new rollout's name (or another rollout has it)."""
    errors: list[FieldError] = []
    try:
        rules.check_name(name)
    except ValidationError as exc:
        errors.extend(exc.errors)
    else:
        if await Rollout.filter(name=name).exists():
            errors.append(FieldError("name", f"a rollout named '{name}' exists"))
    return errors


async def _releases(
    releases: Sequence[tuple[str, str]], errors: list[FieldError]
) -> list[PackageRelease]:
    """The catalog's rows of ``releases``; each one missing is added to ``errors``."""
    found: list[PackageRelease] = []
    for pkg, version in releases:
        row = await where(PackageRelease.all(), name=pkg, version=version).first()
        if row is None:
            errors.append(FieldError("releases", f"{pkg} {version} is not in the catalog"))
        else:
            found.append(row)
    return found


async def _write_waves(
    conn: BaseDBAsyncClient, rollout: Rollout, specs: Sequence[WaveSpec]
) -> None:
    await Wave.bulk_create(
        [
            Wave(
                rollout=rollout,
                position=i,
                name=w.name,
                selector=w.selector.value,
                percent=w.percent,
                starts_at=w.starts_at,
                failure_threshold=w.threshold,
                soak_minutes=w.soak_minutes,
            )
            for i, w in enumerate(specs, start=1)
        ],
        using_db=conn,
    )


async def wave_specs(rollout: Rollout, conn: BaseDBAsyncClient | None = None) -> list[WaveSpec]:
    rows = await Wave.filter(rollout_id=rollout.id).using_db(conn).order_by("position")
    return [_spec(w) for w in rows]


def _spec(w: Wave) -> WaveSpec:
    return WaveSpec(
        w.name,
        WaveSelector(w.selector),
        w.starts_at.astimezone(UTC),
        w.percent,
        w.failure_threshold,
        w.soak_minutes,
    )


async def load_rollout_world(
    conn: BaseDBAsyncClient, now: datetime, settings: Settings
) -> tuple[RolloutWorld, dict[int, str], dict[int, tuple[str, str]]]:
    """The world, machine names, and each group's (name, zone)."""
    world = await load_world(
        conn,
        now,
        reboot_allowance=settings.reboot_allowance_minutes,
        horizon_days=settings.horizon_days,
    )
    machines = tuple(
        WaveMachine(
            r["id"],
            r["name"],
            r["kind"],
            r["group_id"],
            r["host_id"],
            r["redundancy"] or None,
            bool(r["representative"]),
        )
        for r in await fetch(
            conn,
            "SELECT id, name, kind, group_id, host_id, redundancy, representative FROM machine",
        )
    )
    host_minutes = needed_minutes(
        [Work(KINDS[ActivityKind.HOST_REBOOT].default_estimate, True)],
        settings.reboot_allowance_minutes,
    )
    rworld = RolloutWorld(
        replace(world.input, activities=()),
        machines,
        KINDS[ActivityKind.KERNEL_UPDATE].default_estimate,
        KINDS[ActivityKind.SYSTEM_UPDATE].default_estimate,
        host_minutes,
    )
    groups = {g.id: (g.name, g.policy.timezone) for g in world.input.groups}
    return rworld, world.machine_names, groups


async def plan_of(
    conn: BaseDBAsyncClient, rollout: Rollout, now: datetime, settings: Settings
) -> RolloutPreview:
    """The rollout's plan now, of the waves not yet done (those stay done, with their
    machines, which still reboot with their host); those waves must be valid and none may be
    empty. A host rebooted in this rollout already is not rebooted again."""
    rows = await Wave.filter(rollout_id=rollout.id).using_db(conn).order_by("position")
    pending = [w for w in rows if w.state == "pending"]
    specs = [_spec(w) for w in pending]
    errors = validate_waves(specs, now)
    if errors:
        raise ValidationError(errors)
    world, names, groups = await load_rollout_world(conn, now, settings)
    done, rebooted = await settled(conn, rollout.id, [w.id for w in rows if w.state != "pending"])
    world = replace(world, settled=done, rebooted=rebooted)
    plan = await asyncio.to_thread(plan_rollout, world, specs, settings.site_timezone)
    empty = check_assignment(specs, plan.assignment)
    if empty:
        raise ValidationError(empty)
    return RolloutPreview(
        rollout,
        plan,
        settings.site_timezone,
        names,
        {gid: n for gid, (n, _) in groups.items()},
        {gid: z for gid, (_, z) in groups.items()},
        tuple(w.id for w in pending),
        tuple(w.position for w in pending),
    )


async def preview_rollout(
    rollout: Rollout, *, now: datetime | None = None, settings: Settings | None = None
) -> RolloutPreview:
    """What announcing ``rollout`` now would book and send; nothing is written."""
    settings = settings or get_settings()
    now = now or datetime.now(UTC)
    async with in_transaction() as conn:
        return await plan_of(conn, rollout, now, settings)


def _at(instant: datetime | None, zone_name: str) -> str | None:
    if instant is None:
        return None
    from api.scheduling.occurrences import zone

    return instant.astimezone(zone(zone_name)).isoformat()


def preview_data(p: RolloutPreview) -> dict[str, object]:
    """The preview as plain data: what `--json` prints and the table shows."""
    names, groups, tz = p.machine_names, p.group_names, p.operators_zone
    plan = p.plan
    return {
        "rollout": p.rollout.name,
        "operatorsZone": tz,
        "waves": [
            {
                "position": p.positions[i - 1] if p.positions else i,
                "name": w.spec.name,
                "selector": w.spec.selector.value,
                "percent": w.spec.percent,
                "startsAt": w.spec.starts_at.isoformat(),
                "startsAtLocal": _at(w.spec.starts_at, tz),
                "failureThreshold": w.spec.threshold,
                "soakMinutes": w.spec.soak_minutes,
                "machines": len(w.machine_ids),
                "perGroup": {groups[g]: n for g, n in w.per_group},
                "perHost": {names[h]: n for h, n in w.per_host},
            }
            for i, w in enumerate(plan.waves, start=1)
        ],
        "activations": [
            {
                "machine": names[a.machine_id],
                "group": groups[a.group_id],
                "wave": a.wave + 1,
                "startsAt": a.starts_at.isoformat() if a.starts_at else None,
                "endsAt": a.ends_at.isoformat() if a.ends_at else None,
                "startsAtLocal": _at(a.starts_at, p.group_zones[a.group_id]),
                "reason": a.reason,
            }
            for a in plan.activations
        ],
        "hostReboots": [
            {
                "machine": names[h.machine_id],
                "host": names[h.host_id],
                "group": groups[h.group_id],
                "startsAt": h.starts_at.isoformat(),
                "endsAt": h.ends_at.isoformat(),
            }
            for h in plan.host_reboots
        ],
        "conflicts": [
            {
                "kind": c.kind.value,
                "group": groups[c.group_id],
                "machines": [names[i] for i in c.machine_ids],
                "reason": c.text,
            }
            for c in plan.conflicts
        ],
        "lateGroups": [groups[g] for g in plan.late_groups],
        "load": [{"host": names[h], "day": d.isoformat(), "vms": n} for h, d, n in plan.load],
    }


async def update_rollout(
    actor: str,
    rollout: Rollout,
    *,
    title: str | None = None,
    body: str | None = None,
    target: str | None = None,
    kernel: str | None = None,
    waves: Sequence[WaveSpec] | None = None,
    now: datetime | None = None,
) -> Rollout:
    """Change a draft: its texts, and its waves replaced as a whole. Every problem is reported
    at once; nothing is written unless all is well."""
    now = now or datetime.now(UTC)
    errors: list[FieldError] = []
    if rollout.state != "draft":
        errors.append(
            FieldError("state", f"rollout {rollout.name} is {rollout.state}, not a draft")
        )
    errors += rules.rollout_text_problems(title, body, target, kernel)
    if waves is not None:
        errors.extend(validate_waves(waves, now))
    if errors:
        raise ValidationError(errors)
    changed: dict[str, object] = {}
    for name, value in (
        ("title", title),
        ("description", body),
        ("target", target),
        ("kernel", kernel),
    ):
        if value is not None:
            setattr(rollout, name, value)
            changed[name] = value if name != "description" else f"{len(value)} characters"
    async with in_transaction() as conn:
        await rollout.save(using_db=conn)
        if waves is not None:
            await Wave.filter(rollout_id=rollout.id).using_db(conn).delete()
            await _write_waves(conn, rollout, waves)
            changed["waves"] = [f"{w.name} {w.starts_at.isoformat()}" for w in waves]
        await audit.record(actor, "rollout.update_draft", rollout, changed, connection=conn)
    return rollout
