"""`fenster token create|list|revoke`."""

from __future__ import annotations

import argparse

from api import db
from api.errors import NotFound, ValidationError
from api.models import ROLES, ApiToken, Machine, ResourceGroup
from api.services import tokens
from api.settings import Settings

__all__ = ["add_parsers"]

PREFIX_WIDTH = 13  # the stored prefix of a secret (12 characters) and an ellipsis


def add_parsers(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("token", help="manage API tokens")
    tsub = p.add_subparsers(dest="token_command", metavar="ACTION", required=True)
    c = tsub.add_parser("create", help="create a token and print its secret (shown once)")
    c.add_argument("--role", required=True, choices=list(ROLES))
    c.add_argument("--group", action="append", default=[], help="customer: a group (repeat)")
    c.add_argument("--host", help="agent: the VM host it runs on")
    c.add_argument("--machine", help="guest: the VM whose guest agent uses it")
    c.add_argument("--name", help="a label for the token (default: role and scope)")
    c.set_defaults(func=create)
    ls = tsub.add_parser("list", help="list tokens (never their secrets)")
    ls.set_defaults(func=list_tokens)
    r = tsub.add_parser("revoke", help="revoke a token by id")
    r.add_argument("id", type=int)
    r.set_defaults(func=revoke)


async def create(args: argparse.Namespace, settings: Settings) -> int:
    async with db.database(settings):
        groups = []
        for name in args.group:
            group = await ResourceGroup.get_or_none(name=name)
            if group is None:
                raise NotFound("resource group", name)
            groups.append(group)
        host = None
        if args.host:
            host = await Machine.get_or_none(name=args.host)
            if host is None:
                raise NotFound("machine", args.host)
        machine = None
        if args.machine:
            machine = await Machine.get_or_none(name=args.machine)
            if machine is None:
                raise NotFound("machine", args.machine)
        scope = [*args.group, *(n for n in (args.host, args.machine) if n)]
        name = args.name or " ".join([args.role, *scope])
        _, secret = await tokens.create_token(
            "cli", name=name, role=args.role, groups=groups, host=host, machine=machine
        )
    print(secret)
    return 0


async def list_tokens(args: argparse.Namespace, settings: Settings) -> int:
    async with db.database(settings):
        rows = await ApiToken.all().prefetch_related("groups", "host", "machine")
        print(
            f"{'id':>5}  {'prefix':<{PREFIX_WIDTH}}  {'role':<8}  {'scope':<30}  {'state':<7}  name"
        )
        for t in rows:
            scope = ",".join(g.name for g in t.groups) or next(
                (m.name for m in (t.host, t.machine) if m is not None), "-"
            )
            state = "revoked" if t.revoked_at else "active"
            prefix = f"{t.prefix}…"
            print(
                f"{t.id:>5}  {prefix:<{PREFIX_WIDTH}}  {t.role:<8}  {scope:<30}  {state:<7}  "
                f"{t.name}"
            )
    return 0


async def revoke(args: argparse.Namespace, settings: Settings) -> int:
    async with db.database(settings):
        token = await ApiToken.get_or_none(id=args.id)
        if token is None:
            raise NotFound("token", args.id)
        if token.revoked_at is not None:
            raise ValidationError.single("id", f"token {args.id} is already revoked")
        await tokens.revoke_token("cli", token)
    print(f"revoked token {args.id}")
    return 0
