"""`fenster announce new|edit|publish`: announcements from Markdown files."""

from __future__ import annotations

import argparse
from pathlib import Path

from api import db
from api.effects import announcement_key_prefix
from api.errors import ValidationError
from api.settings import Settings

__all__ = ["add_parsers", "read_markdown"]

ACTOR = "cli"


def add_parsers(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("announce", help="write, change and publish announcements")
    asub = p.add_subparsers(dest="announce_command", metavar="ACTION", required=True)
    n = asub.add_parser("new", help="a new draft from a Markdown file ('# Title' first)")
    n.add_argument("slug", help="its page's name: lower-case letters, digits and '-'")
    n.add_argument("file", type=Path, help="Markdown; a first line '# Title' is the title")
    n.add_argument("--title", help="the title (default: the file's '# ' heading)")
    n.add_argument("--rollout", help="the rollout it is an update of")
    n.set_defaults(func=new)
    e = asub.add_parser("edit", help="replace an announcement's text from a Markdown file")
    e.add_argument("slug")
    e.add_argument("file", type=Path)
    e.add_argument("--title", help="the new title (default: the file's '# ' heading)")
    e.add_argument("--rollout", help="the rollout it is an update of")
    e.set_defaults(func=edit)
    pub = asub.add_parser("publish", help="publish a draft: the site, the feed, and mail")
    pub.add_argument("slug")
    pub.add_argument(
        "--group", action="append", dest="groups", help="mail only this group (repeatable)"
    )
    pub.set_defaults(func=publish)


def read_markdown(path: Path, title: str | None) -> tuple[str | None, str]:
    """(title, body): a first line '# Title' is the title unless one is given."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ValidationError.single("file", f"cannot read {path}: {exc}") from None
    first, _, rest = text.lstrip("\n").partition("\n")
    if first.startswith("# "):
        return title or first[2:].strip(), rest.strip("\n") + "\n"
    return title, text


async def new(args: argparse.Namespace, settings: Settings) -> int:
    from api.services import announcements

    title, body = read_markdown(args.file, args.title)
    if title is None:
        raise ValidationError.single("title", "give --title or start the file with '# Title'")
    async with db.database(settings):
        a = await announcements.create_announcement(
            ACTOR, slug=args.slug, title=title, body=body, rollout=args.rollout
        )
    print(f"draft '{a.slug}' written: {a.title}")
    return 0


async def edit(args: argparse.Namespace, settings: Settings) -> int:
    from api.services import announcements

    title, body = read_markdown(args.file, args.title)
    async with db.database(settings):
        a = await announcements.get_announcement(args.slug)
        a = await announcements.update_announcement(
            ACTOR, a, title=title, body=body, rollout=args.rollout
        )
    print(f"'{a.slug}' changed" + ("" if a.published_at is None else "; the site follows"))
    return 0


async def publish(args: argparse.Namespace, settings: Settings) -> int:
    from api.models import Notification
    from api.services import announcements

    async with db.database(settings):
        a = await announcements.get_announcement(args.slug)
        a = await announcements.publish_announcement(ACTOR, a, groups=args.groups)
        sent = Notification.filter(dedupe_key__startswith=announcement_key_prefix(a.pk))
        mails = await sent.count()
    print(f"'{a.slug}' published at {a.published_at:%Y-%m-%d %H:%M} UTC; {mails} mail(s) queued")
    return 0
