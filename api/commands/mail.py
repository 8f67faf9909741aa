"""`fenster mail send|status|retry`: the outbox from the command line."""

from __future__ import annotations

import argparse
from datetime import UTC, datetime

from api import db
from api.models import Notification
from api.notify.mailer import run_once
from api.notify.transport import transport_from_settings
from api.settings import Settings

__all__ = ["add_parsers"]


def add_parsers(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("mail", help="send queued mail and inspect the outbox")
    msub = p.add_subparsers(dest="mail_command", metavar="ACTION", required=True)
    s = msub.add_parser("send", help="queue due reminders, then send every due message once")
    s.set_defaults(func=send)
    st = msub.add_parser("status", help="count pending, sent and failed mail; show failures")
    st.add_argument("--limit", type=int, default=20, help="failed rows to show (default 20)")
    st.set_defaults(func=status)
    r = msub.add_parser("retry", help="put failed messages back in the queue")
    r.add_argument("ids", type=int, nargs="*", help="notification ids (default: every failed)")
    r.set_defaults(func=retry)


async def send(args: argparse.Namespace, settings: Settings) -> int:
    transport = transport_from_settings(settings)
    where = settings.smtp_host if settings.smtp_host else settings.maildir
    async with db.database(settings):
        result = await run_once(settings, transport)
        await transport.close()
    print(f"{result} (via {transport.name} {where})")
    for line in result.errors:
        print(f"  {line}")
    return 1 if result.failed else 0


async def status(args: argparse.Namespace, settings: Settings) -> int:
    async with db.database(settings):
        counts = {
            s: await Notification.filter(state=s).count() for s in ("pending", "sent", "failed")
        }
        retrying = await Notification.filter(state="pending", attempts__gt=0).order_by("id")
        failed = (
            await Notification.filter(state="failed")
            .order_by("-id")
            .limit(args.limit)
            .select_related("group")
        )
    now = datetime.now(UTC)
    print(f"pending {counts['pending']}  sent {counts['sent']}  failed {counts['failed']}")
    if retrying:
        print("\nretrying:")
        for row in retrying:
            wait = max(int((row.next_attempt_at - now).total_seconds()), 0)
            print(
                f"  #{row.id} {row.kind} attempt {row.attempts} failed, next in {wait}s: "
                f"{row.last_error}"
            )
    if failed:
        print("\nfailed (fix the cause, then `fenster mail retry`):")
        for row in failed:
            group = row.group.name if row.group else "-"
            print(
                f"  #{row.id} {row.kind} group {group} after {row.attempts} attempts: "
                f"{row.last_error}"
            )
    return 1 if counts["failed"] else 0


async def retry(args: argparse.Namespace, settings: Settings) -> int:
    async with db.database(settings):
        query = Notification.filter(state="failed")
        if args.ids:
            query = query.filter(id__in=args.ids)
        n = await query.update(state="pending", attempts=0, next_attempt_at=datetime.now(UTC))
    print(f"requeued {n} message{'s' if n != 1 else ''}")
    return 0
