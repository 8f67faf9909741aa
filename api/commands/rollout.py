"""`fenster rollout create|list|show|preview|announce|delay|run|halt|resume|cancel|update`, and
`retry|skip` a failed machine; `status` is in ``rollout_status``."""

from __future__ import annotations

import argparse
import json
from datetime import date
from pathlib import Path

from rich.console import Console
from rich.table import Table

from api import db
from api.commands import rollout_status
from api.commands.announce import read_markdown
from api.commands.scheduling import _instant
from api.effects import rollout_announced_key_prefix, rollout_settings_key_suffix
from api.settings import Settings

__all__ = ["add_parsers"]

ACTOR = "cli"


def _week(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date (YYYY-MM-DD)") from None


def add_parsers(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("rollout", help="plan, preview and announce staged system updates")
    rsub = p.add_subparsers(dest="rollout_command", metavar="ACTION", required=True)
    c = rsub.add_parser("create", help="a draft from the seed's template (waves editable later)")
    c.add_argument("name", help="a DNS label, e.g. su-2027-03")
    c.add_argument("--title", required=True)
    c.add_argument("--body", type=Path, help="the announcement, a Markdown file")
    c.add_argument("--kernel", default="", help="the kernel version VMs boot afterwards")
    c.add_argument("--target", default="", help="a label, e.g. 'Linux 2.6.38'")
    c.add_argument(
        "--release",
        action="append",
        default=[],
        dest="releases",
        help="a catalog release it brings, NAME=VERSION (repeatable)",
    )
    c.add_argument("--week", type=_week, help="any day of the rollout's week (default: next week)")
    c.add_argument("--now", type=_instant, help="as if it were this ISO time (with zone)")
    c.set_defaults(func=create)
    ls = rsub.add_parser("list", help="rollouts, newest first")
    ls.set_defaults(func=list_)
    sh = rsub.add_parser("show", help="a rollout and its waves")
    sh.add_argument("name")
    sh.set_defaults(func=show)
    pv = rsub.add_parser("preview", help="waves, windows, conflicts and load; writes nothing")
    pv.add_argument("name")
    pv.add_argument("--json", action="store_true", help="the same data as JSON")
    pv.add_argument("--now", type=_instant, help="as if it were this ISO time (with zone)")
    pv.set_defaults(func=preview)
    an = rsub.add_parser("announce", help="book the windows and queue the mail (one transaction)")
    an.add_argument("name")
    an.add_argument(
        "--force", action="store_true", help="even when a group's notice cannot be met (audited)"
    )
    an.add_argument("--now", type=_instant, help="as if it were this ISO time (with zone)")
    an.set_defaults(func=announce)
    de = rsub.add_parser("delay", help="cancel what has not started, tell customers and the site")
    de.add_argument("name")
    de.add_argument("reason", type=Path, help="a Markdown file: why, for customers")
    de.add_argument("--now", type=_instant, help="as if it were this ISO time (with zone)")
    de.set_defaults(func=delay)
    ru = rsub.add_parser(
        "run",
        help="one pass of the wave engine (fenster serve runs it every FENSTER_ROLLOUT_INTERVAL)",
    )
    ru.add_argument("--now", type=_instant, help="as if it were this ISO time (with zone)")
    ru.set_defaults(func=run_engine)
    ha = rsub.add_parser("halt", help="halt a running rollout: no later wave starts")
    ha.add_argument("name")
    ha.add_argument("reason", help="why (recorded, mailed to the operators)")
    ha.add_argument("--now", type=_instant, help="as if it were this ISO time (with zone)")
    ha.set_defaults(func=halt)
    re_ = rsub.add_parser(
        "resume",
        help="halted: run on, on the remaining dates (or new ones); delayed: new dates",
    )
    re_.add_argument("name")
    re_.add_argument(
        "starts",
        nargs="*",
        type=_instant,
        help="one ISO start time per wave not yet done: re-planned and announced again "
        "(halted: none keeps the remaining dates)",
    )
    re_.add_argument("--force", action="store_true", help="even when a notice cannot be met")
    re_.add_argument("--now", type=_instant, help="as if it were this ISO time (with zone)")
    re_.set_defaults(func=resume)
    ca = rsub.add_parser("cancel", help="cancel everything not yet started and tell customers")
    ca.add_argument("name")
    ca.add_argument("--reason", default="")
    ca.set_defaults(func=cancel)
    up = rsub.add_parser("update", help="post a status update (Markdown file) to the site")
    up.add_argument("name")
    up.add_argument("file", type=Path, help="Markdown; a first line '# Title' is the title")
    up.add_argument("--mail", action="store_true", help="mail it to the rollout's groups too")
    up.set_defaults(func=update)
    rollout_status.add_parsers(rsub)
    for verb, func, what in (
        ("retry", retry, "queue a new system update for a machine whose update failed"),
        ("skip", skip, "leave a failed machine on its old packages; its gate no longer counts it"),
    ):
        mp = rsub.add_parser(verb, help=what)
        mp.add_argument("name")
        mp.add_argument("machine")
        mp.add_argument("--now", type=_instant, help="as if it were this ISO time (with zone)")
        mp.set_defaults(func=func)


async def create(args: argparse.Namespace, settings: Settings) -> int:
    from api.services import rollouts

    body = read_markdown(args.body, args.title)[1] if args.body else ""
    releases = [rollouts.parse_release(r) for r in args.releases]
    async with db.database(settings):
        r = await rollouts.create_rollout(
            ACTOR,
            name=args.name,
            title=args.title,
            body=body,
            kernel=args.kernel,
            target=args.target,
            releases=releases,
            week=args.week,
            now=args.now,
            settings=settings,
        )
        waves = await rollouts.wave_specs(r)
    print(
        f"draft rollout '{r.name}' written with {len(waves)} waves; "
        f"next: fenster rollout preview {r.name}"
    )
    return 0


async def list_(args: argparse.Namespace, settings: Settings) -> int:
    from api.services import rollouts

    async with db.database(settings):
        rows = await rollouts.list_rollouts()
    table = Table("name", "state", "title", "created (UTC)")
    for r in rows:
        table.add_row(r.name, r.state, r.title, f"{r.created_at:%Y-%m-%d %H:%M}")
    Console().print(table)
    return 0


async def show(args: argparse.Namespace, settings: Settings) -> int:
    from api.models import Wave
    from api.scheduling.occurrences import zone
    from api.services import rollouts
    from api.services.rollout_engine import failed_updates

    async with db.database(settings):
        r = await rollouts.get_rollout(args.name)
        waves = await rollouts.wave_specs(r)
        states = (
            await Wave.filter(rollout_id=r.id).order_by("position").values_list("state", flat=True)
        )
        failed = await failed_updates(r.id)
    console = Console()
    console.print(f"[bold]{r.title}[/bold] ({r.name}): {r.state}; kernel {r.kernel or '-'}")
    tz = zone(settings.site_timezone)
    table = Table(
        "#", "wave", "takes", f"starts ({settings.site_timezone})", "UTC", "threshold", "state"
    )
    for i, (w, state) in enumerate(zip(waves, states, strict=True), start=1):
        takes = f"{w.percent} %" if w.percent else w.selector.value
        table.add_row(
            str(i),
            w.name,
            takes,
            f"{w.starts_at.astimezone(tz):%a %Y-%m-%d %H:%M}",
            f"{w.starts_at:%H:%M}",
            f"{w.threshold:.0%}",
            str(state),
        )
    console.print(table)
    if r.halted_reason:
        console.print(f"halted: {r.halted_reason}", markup=False)
    if failed:
        fails = Table("failed machine", "wave", "exit", "error")
        for f in failed:
            exit_code = "-" if f.exit_code is None else str(f.exit_code)
            fails.add_row(f.machine, f.wave, exit_code, f.error)
        console.print(fails)
    return 0


async def preview(args: argparse.Namespace, settings: Settings) -> int:
    from api.services import rollouts

    async with db.database(settings):
        r = await rollouts.get_rollout(args.name)
        data = rollouts.preview_data(
            await rollouts.preview_rollout(r, now=args.now, settings=settings)
        )
    if args.json:
        print(json.dumps(data, indent=2))
        return 0
    _print_preview(data)
    return 0


def _print_preview(data: dict) -> None:
    console = Console()
    zone_name = data["operatorsZone"]
    waves = Table(
        "#",
        "wave",
        f"starts ({zone_name})",
        "UTC",
        "machines",
        "per group",
        "per host",
        title="Waves",
    )
    for w in data["waves"]:
        waves.add_row(
            str(w["position"]),
            w["name"],
            w["startsAtLocal"][:16].replace("T", " "),
            w["startsAt"][11:16],
            str(w["machines"]),
            ", ".join(f"{g} {n}" for g, n in w["perGroup"].items()),
            ", ".join(f"{h} {n}" for h, n in w["perHost"].items()),
        )
    console.print(waves)
    acts = Table(
        "machine", "group", "wave", "activation (group's zone)", "UTC", title="Kernel activations"
    )
    for a in data["activations"]:
        acts.add_row(
            a["machine"],
            a["group"],
            str(a["wave"]),
            (a["startsAtLocal"] or "-")[:16].replace("T", " "),
            (a["startsAt"] or "not planned")[:16].replace("T", " "),
        )
    console.print(acts)
    hosts: dict[str, int] = {}
    for h in data["hostReboots"]:
        hosts[h["host"]] = hosts.get(h["host"], 0) + 1
    reboots = Table("host", "windows", "UTC", title="Host reboots")
    first = (
        data["hostReboots"][0]["startsAt"][:16].replace("T", " ") if data["hostReboots"] else "-"
    )
    for h, n in hosts.items():
        reboots.add_row(h, str(n), first)
    console.print(reboots)
    conflicts = Table("kind", "group", "machines", "reason", title="Conflicts")
    for c in data["conflicts"]:
        conflicts.add_row(c["kind"], c["group"], ", ".join(c["machines"]), c["reason"])
    console.print(conflicts)
    load = Table("host", "day", "VMs in maintenance", title=f"Load ({zone_name} days)")
    for row in data["load"]:
        load.add_row(row["host"], row["day"], str(row["vms"]))
    console.print(load)
    if data["lateGroups"]:
        console.print("announcing now would break the notice of: " + ", ".join(data["lateGroups"]))


async def announce(args: argparse.Namespace, settings: Settings) -> int:
    from api.models import Notification, Window
    from api.services import rollouts
    from api.services.rollout_announce import announce_rollout

    async with db.database(settings):
        r = await rollouts.get_rollout(args.name)
        r = await announce_rollout(ACTOR, r, force=args.force, now=args.now, settings=settings)
        windows = await Window.filter(activities__rollout_id=r.id).distinct().count()
        announced = Notification.filter(dedupe_key__startswith=rollout_announced_key_prefix(r.id))
        settings_first = Notification.filter(dedupe_key__endswith=rollout_settings_key_suffix(r.id))
        mails = await announced.count() + await settings_first.count()
    print(f"'{r.name}' announced: {windows} windows booked, {mails} mail(s) queued")
    return 0


async def delay(args: argparse.Namespace, settings: Settings) -> int:
    from api.services import rollouts
    from api.services.rollout_changes import delay_rollout

    _, reason = read_markdown(args.reason, None)
    async with db.database(settings):
        r = await rollouts.get_rollout(args.name)
        r = await delay_rollout(ACTOR, r, reason, now=args.now, settings=settings)
    print(f"'{r.name}' delayed; pending windows cancelled, customers and the site told")
    return 0


async def run_engine(args: argparse.Namespace, settings: Settings) -> int:
    from api.services.rollout_engine import run_rollouts

    async with db.database(settings):
        steps = await run_rollouts(settings, now=args.now)
    for s in steps:
        print(f"{s.kind.value} {s.wave.name if s.wave else ''}".rstrip())
    if not steps:
        print("nothing to do now")
    return 0


async def halt(args: argparse.Namespace, settings: Settings) -> int:
    from api.services import rollouts
    from api.services.rollout_engine import halt_rollout

    async with db.database(settings):
        r = await rollouts.get_rollout(args.name)
        r = await halt_rollout(ACTOR, r, args.reason, now=args.now, settings=settings)
    print(f"'{r.name}' halted; no later wave starts until it is resumed")
    return 0


async def resume(args: argparse.Namespace, settings: Settings) -> int:
    from api.services import rollouts
    from api.services.rollout_changes import resume_rollout

    async with db.database(settings):
        r = await rollouts.get_rollout(args.name)
        r = await resume_rollout(
            ACTOR, r, args.starts, force=args.force, now=args.now, settings=settings
        )
    print(f"'{r.name}' resumed" + ("" if r.state == "running" else " and announced again"))
    return 0


async def cancel(args: argparse.Namespace, settings: Settings) -> int:
    from api.services import rollouts
    from api.services.rollout_changes import cancel_rollout

    async with db.database(settings):
        r = await rollouts.get_rollout(args.name)
        r = await cancel_rollout(ACTOR, r, args.reason)
    print(f"'{r.name}' cancelled")
    return 0


async def update(args: argparse.Namespace, settings: Settings) -> int:
    from api.services import rollouts
    from api.services.rollout_changes import post_update

    title, body = read_markdown(args.file, None)
    async with db.database(settings):
        r = await rollouts.get_rollout(args.name)
        a = await post_update(ACTOR, r, body, title=title or "", mail=args.mail)
    print(f"update '{a.slug}' published" + (" and mailed" if args.mail else ""))
    return 0


async def retry(args: argparse.Namespace, settings: Settings) -> int:
    from api.services import rollouts
    from api.services.rollout_machines import retry_machine

    async with db.database(settings):
        r = await rollouts.get_rollout(args.name)
        await retry_machine(ACTOR, r, args.machine, now=args.now)
    when = "due now" if r.state == "running" else "due once the rollout is resumed"
    print(f"'{args.machine}': a new system update is queued ({when})")
    return 0


async def skip(args: argparse.Namespace, settings: Settings) -> int:
    from api.services import rollouts
    from api.services.rollout_machines import skip_machine

    async with db.database(settings):
        r = await rollouts.get_rollout(args.name)
        await skip_machine(ACTOR, r, args.machine, now=args.now)
    print(f"'{args.machine}' skipped: it stays on its current packages")
    return 0
