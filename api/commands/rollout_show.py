"""`fenster rollout list|show|preview`: the rollouts, one rollout and its waves, and what
announcing it would book (writes nothing)."""

from __future__ import annotations

import argparse
import json

from rich.table import Table

from api import db
from api.commands.output import console
from api.commands.scheduling import add_now
from api.settings import Settings

__all__ = ["add_parsers"]


def add_parsers(rsub: argparse._SubParsersAction) -> None:
    rsub.add_parser("list", help="rollouts, newest first").set_defaults(func=list_)
    sh = rsub.add_parser("show", help="a rollout and its waves")
    sh.add_argument("name")
    sh.set_defaults(func=show)
    pv = rsub.add_parser("preview", help="waves, windows, conflicts and load; writes nothing")
    pv.add_argument("name")
    pv.add_argument("--json", action="store_true", help="the same data as JSON")
    add_now(pv)
    pv.set_defaults(func=preview)


async def list_(args: argparse.Namespace, settings: Settings) -> int:
    from api.services import rollouts

    async with db.database(settings):
        rows = await rollouts.list_rollouts()
    table = Table("name", "state", "title", "created (UTC)")
    for r in rows:
        table.add_row(r.name, r.state, r.title, f"{r.created_at:%Y-%m-%d %H:%M}")
    console().print(table)
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
    out = console()
    out.print(f"[bold]{r.title}[/bold] ({r.name}): {r.state}; kernel {r.kernel or '-'}")
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
    out.print(table)
    if r.halted_reason:
        out.print(f"halted: {r.halted_reason}", markup=False)
    if failed:
        fails = Table("failed machine", "wave", "exit", "error")
        for f in failed:
            exit_code = "-" if f.exit_code is None else str(f.exit_code)
            fails.add_row(f.machine, f.wave, exit_code, f.error)
        out.print(fails)
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
    out = console()
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
    out.print(waves)
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
    out.print(acts)
    hosts: dict[str, int] = {}
    for h in data["hostReboots"]:
        hosts[h["host"]] = hosts.get(h["host"], 0) + 1
    reboots = Table("host", "windows", "UTC", title="Host reboots")
    first = (
        data["hostReboots"][0]["startsAt"][:16].replace("T", " ") if data["hostReboots"] else "-"
    )
    for h, n in hosts.items():
        reboots.add_row(h, str(n), first)
    out.print(reboots)
    conflicts = Table("kind", "group", "machines", "reason", title="Conflicts")
    for c in data["conflicts"]:
        conflicts.add_row(c["kind"], c["group"], ", ".join(c["machines"]), c["reason"])
    out.print(conflicts)
    load = Table("host", "day", "VMs in maintenance", title=f"Load ({zone_name} days)")
    for row in data["load"]:
        load.add_row(row["host"], row["day"], str(row["vms"]))
    out.print(load)
    if data["lateGroups"]:
        out.print("announcing now would break the notice of: " + ", ".join(data["lateGroups"]))
