"""`fenster schedule` (one scheduling pass), `fenster windows list` and `windows preview GROUP`."""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime

from api import db
from api.calendar.texts import format_local
from api.errors import NotFound, ValidationError
from api.models import ResourceGroup, Window
from api.scheduling.preview import preview
from api.services.scheduling import PassReport, run_pass
from api.services.scheduling_load import policy_of
from api.settings import Settings

__all__ = ["add_now", "add_parsers"]

SHOWN = 50  # windows and blocked activities listed one per line before summarising
NOW_HELP = "as if it were this ISO time (with zone)"


def add_parsers(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "schedule", help="run one scheduling pass: queued activities become maintenance windows"
    )
    p.add_argument("--dry-run", action="store_true", help="show what would happen, write nothing")
    add_now(p, "plan as if it were this ISO time (with zone)")
    p.add_argument("--all", action="store_true", help=f"list every line, not the first {SHOWN}")
    p.set_defaults(func=schedule)

    w = sub.add_parser("windows", help="look at maintenance windows")
    wsub = w.add_subparsers(dest="windows_command", metavar="ACTION", required=True)
    wl = wsub.add_parser("list", help="upcoming windows: machine, group, local and UTC time, state")
    wl.add_argument("--group", help="only this resource group's windows")
    add_now(wl, "from this ISO time (with zone)")
    wl.add_argument("--all", action="store_true", help=f"list every window, not the first {SHOWN}")
    wl.set_defaults(func=windows_list)
    pv = wsub.add_parser("preview", help="the next regular windows of a group, marking DST")
    pv.add_argument("group", help="resource group name")
    pv.add_argument("--count", type=int, default=10, help="how many windows (default 10)")
    add_now(pv, "start from this ISO time (with zone)")
    pv.set_defaults(func=windows_preview)


def add_now(parser: argparse.ArgumentParser, help: str = NOW_HELP) -> None:
    """The ``--now`` option of the commands that act at an instant (default: the clock)."""
    parser.add_argument("--now", type=_instant, help=help)


def _instant(text: str) -> datetime:
    example = "e.g. 2026-12-01T02:00+01:00 or 2026-12-01T01:00Z"
    try:
        value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not an ISO date and time with a zone ({example})"
        ) from None
    if value.tzinfo is None:
        raise argparse.ArgumentTypeError(f"{text!r} has no timezone: give a timezone ({example})")
    return value.astimezone(UTC)


def _progress(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


async def schedule(args: argparse.Namespace, settings: Settings) -> int:
    async with db.database(settings):
        report = await run_pass(settings, now=args.now, dry_run=args.dry_run, progress=_progress)
    for line in report_lines(report, limit=None if args.all else SHOWN):
        print(line)
    return 0


def _count(n: int, one: str, many: str) -> str:
    return f"{n} {one if n == 1 else many}"


def report_lines(report: PassReport, limit: int | None = SHOWN) -> list[str]:
    if report.locked_out:
        return ["another scheduling pass holds the lock; nothing was done"]
    would = "that would be " if report.dry_run else ""
    lines = [
        f"scheduling pass at {report.now:%Y-%m-%d %H:%M}Z"
        + (" (dry run: nothing written)" if report.dry_run else "")
    ]

    def section(title: str, items: list[str]) -> None:
        lines.append(f"{title}: {len(items)}")
        shown = items if limit is None else items[:limit]
        lines.extend(f"  {item}" for item in shown)
        if len(items) > len(shown):
            lines.append(f"  ... and {len(items) - len(shown)} more (--all lists every one)")

    section(
        f"windows {would}created",
        [
            f"{w.machine}: {w.starts_at:%Y-%m-%d %H:%M}-{w.ends_at:%H:%M}Z"
            f" ({_count(len(w.activity_ids), 'activity', 'activities')}) - {w.reason}"
            for w in report.created
        ],
    )
    section(
        f"windows {would}extended",
        [
            f"{w.machine}: {w.starts_at:%Y-%m-%d %H:%M}Z"
            f" +{_count(len(w.activity_ids), 'activity', 'activities')}"
            f" - {w.reason.splitlines()[-1]}"
            for w in report.extended
        ],
    )
    section(
        "activities blocked",
        [f"#{aid} on {machine}: {why}" for aid, machine, why in report.blocked],
    )
    if report.missed:
        lines.append(
            f"windows missed (ended without being started; cancelled, work planned again): "
            f"{report.missed}"
        )
    if report.still_blocked:
        lines.append(f"activities still blocked for an unchanged reason: {report.still_blocked}")
    if not report.dry_run:
        lines.append(f"notifications queued: {report.notifications}")
    timing = ", ".join(f"{k} {v:.2f} s" for k, v in report.timings.items())
    lines.append(f"time: {timing}")
    return lines


async def windows_list(args: argparse.Namespace, settings: Settings) -> int:
    now = args.now or datetime.now(UTC)
    async with db.database(settings):
        query = Window.filter(state__in=["planned", "running"], ends_at__gt=now)
        if args.group:
            if not await ResourceGroup.exists(name=args.group):
                raise NotFound("resource group", args.group)
            query = query.filter(machine__group__name=args.group)
        total = await query.count()
        query = query.order_by("starts_at", "id").select_related("machine__group")
        rows = await (query if args.all else query.limit(SHOWN))
    if not rows:
        print(
            "no upcoming windows. While `fenster serve` runs, the scheduler books queued work "
            f"every {settings.schedule_interval} s; `fenster schedule` books it now."
        )
        return 0
    print(
        f"{'starts (local)':<28} {'time zone':<20} {'starts (UTC)':<17} {'min':>4}  "
        f"{'machine':<18} {'group':<12} state"
    )
    for w in rows:
        group = w.machine.group
        minutes = int((w.ends_at - w.starts_at).total_seconds() // 60)
        print(
            f"{format_local(w.starts_at, group.timezone):<28} {group.timezone:<20} "
            f"{w.starts_at.astimezone(UTC):%Y-%m-%d %H:%M}Z {minutes:>4}  "
            f"{w.machine.name:<18} {group.name:<12} {w.state}{' (forced)' if w.forced else ''}"
        )
    if total > len(rows):
        print(f"... and {total - len(rows)} more (--all lists every one)")
    return 0


async def windows_preview(args: argparse.Namespace, settings: Settings) -> int:
    if args.count < 1:
        raise ValidationError.single("count", "must be at least 1")
    async with db.database(settings):
        group = await ResourceGroup.get_or_none(name=args.group)
        if group is None:
            raise NotFound("resource group", args.group)
    policy = policy_of(group.timezone, group.window_start, group.window_minutes, group.weekdays)
    now = args.now or datetime.now(UTC)
    rows = preview(policy, now, args.count)
    print(f"next {len(rows)} regular windows of {group.name}: {policy.label}")
    print(f"{'local date':<16} {'local time':<26} {'UTC':<33} note")
    for row in rows:
        occ = row.occurrence
        ls, le = occ.local_start, occ.local_end
        local = f"{ls:%H:%M} {ls.tzname()} - {le:%H:%M} {le.tzname()}"
        utc = f"{occ.starts_at:%Y-%m-%d %H:%M}-{occ.ends_at:%H:%M}Z"
        if occ.ends_at.date() != occ.starts_at.date():
            utc += " (+1 day)"
        note = {
            "start moved": f"DST: {policy.window_start:%H:%M} does not exist; starts {ls:%H:%M}",
            "lengthened": f"DST-lengthened: {occ.wall_minutes} min on the clock, "
            f"{occ.minutes} min real",
            "shortened": f"DST-shortened: {occ.wall_minutes} min on the clock, "
            f"{occ.minutes} min real",
        }.get(row.dst, "")
        day = occ.local_date
        print(f"{day:%a %Y-%m-%d}   {local:<26} {utc:<33} {note}".rstrip())
    return 0
