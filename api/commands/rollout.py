"""`fenster rollout create|announce|delay|run|halt|resume|cancel|update`, and `retry|skip` a
failed machine; `list|show|preview` are in ``rollout_show``, `status` in ``rollout_status``."""

from __future__ import annotations

import argparse
from collections.abc import Awaitable, Callable
from datetime import date
from pathlib import Path

from api import db
from api.commands import rollout_show, rollout_status
from api.commands.announce import read_markdown
from api.commands.scheduling import _instant, add_now
from api.effects import rollout_announced_key_prefix, rollout_settings_key_suffix
from api.settings import Settings

__all__ = ["add_parsers"]

ACTOR = "cli"
Parser = argparse.ArgumentParser
Command = Callable[[argparse.Namespace, Settings], Awaitable[int]]  # a sub-command's `func`


def _week(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date (YYYY-MM-DD)") from None


def add_parsers(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("rollout", help="plan, preview and announce staged system updates")
    rsub = p.add_subparsers(dest="rollout_command", metavar="ACTION", required=True)
    for add in (
        _create,
        rollout_show.add_parsers,
        _announce,
        _delay,
        _run,
        _halt,
        _resume,
        _cancel,
        _update,
        rollout_status.add_parsers,
        _machine_verbs,
    ):  # the order `--help` lists
        add(rsub)


def _named(rsub: argparse._SubParsersAction, verb: str, what: str, func: Command) -> Parser:
    """The parser of `fenster rollout VERB NAME`, running ``func``."""
    parser: Parser = rsub.add_parser(verb, help=what)
    parser.add_argument("name")
    parser.set_defaults(func=func)
    return parser


def _create(rsub: argparse._SubParsersAction) -> None:
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
    add_now(c)
    c.set_defaults(func=create)


def _announce(rsub: argparse._SubParsersAction) -> None:
    what = "book the windows and queue the mail (one transaction)"
    an = _named(rsub, "announce", what, announce)
    an.add_argument(
        "--force", action="store_true", help="even when a group's notice cannot be met (audited)"
    )
    add_now(an)


def _delay(rsub: argparse._SubParsersAction) -> None:
    de = _named(rsub, "delay", "cancel what has not started, tell customers and the site", delay)
    de.add_argument("reason", type=Path, help="a Markdown file: why, for customers")
    add_now(de)


def _run(rsub: argparse._SubParsersAction) -> None:
    ru = rsub.add_parser(
        "run",
        help="one pass of the wave engine (fenster serve runs it every FENSTER_ROLLOUT_INTERVAL)",
    )
    add_now(ru)
    ru.set_defaults(func=run_engine)


def _halt(rsub: argparse._SubParsersAction) -> None:
    ha = _named(rsub, "halt", "halt a running rollout: no later wave starts", halt)
    ha.add_argument("reason", help="why (recorded, mailed to the operators)")
    add_now(ha)


def _resume(rsub: argparse._SubParsersAction) -> None:
    what = "halted: run on, on the remaining dates (or new ones); delayed: new dates"
    re_ = _named(rsub, "resume", what, resume)
    re_.add_argument(
        "starts",
        nargs="*",
        type=_instant,
        help="one ISO start time per wave not yet done: re-planned and announced again "
        "(halted: none keeps the remaining dates)",
    )
    re_.add_argument("--force", action="store_true", help="even when a notice cannot be met")
    add_now(re_)


def _cancel(rsub: argparse._SubParsersAction) -> None:
    what = "cancel everything not yet started and tell customers"
    _named(rsub, "cancel", what, cancel).add_argument("--reason", default="")


def _update(rsub: argparse._SubParsersAction) -> None:
    up = _named(rsub, "update", "post a status update (Markdown file) to the site", update)
    up.add_argument("file", type=Path, help="Markdown; a first line '# Title' is the title")
    up.add_argument("--mail", action="store_true", help="mail it to the rollout's groups too")


def _machine_verbs(rsub: argparse._SubParsersAction) -> None:
    """`retry` and `skip`: NAME MACHINE, a failed machine of a rollout."""
    for verb, func, what in (
        ("retry", retry, "queue a new system update for a machine whose update failed"),
        ("skip", skip, "leave a failed machine on its old packages; its gate no longer counts it"),
    ):
        mp = _named(rsub, verb, what, func)
        mp.add_argument("machine")
        add_now(mp)


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
