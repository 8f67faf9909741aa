"""A group's own freeze periods (no maintenance), replaced as a whole."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from tortoise.transactions import in_transaction

from api.models import Freeze, ResourceGroup
from api.rules import Collector
from api.services import audit

__all__ = ["Period", "check_periods", "replace_freezes"]

MAX_FREEZES = 50


@dataclass(frozen=True)
class Period:
    starts_at: datetime
    ends_at: datetime
    reason: str = ""


def check_periods(periods: Sequence[Period]) -> None:
    c = Collector()
    if len(periods) > MAX_FREEZES:
        c.add("freezes", f"at most {MAX_FREEZES} freeze periods")
    for i, p in enumerate(periods):
        if p.starts_at.tzinfo is None or p.ends_at.tzinfo is None:
            c.add(f"freezes[{i}]", "start and end need a timezone offset, e.g. Z")
        elif p.ends_at <= p.starts_at:
            c.add(f"freezes[{i}].ends_at", "a freeze must end after it starts")
        if len(p.reason) > 200 or not p.reason.isprintable():
            c.add(f"freezes[{i}].reason", "at most 200 printable characters")
    c.raise_if_any()


async def replace_freezes(actor: str, group: ResourceGroup, periods: Sequence[Period]) -> None:
    check_periods(periods)
    async with in_transaction() as conn:
        current = await Freeze.filter(group_id=group.id).using_db(conn)
        now = sorted((f.starts_at, f.ends_at, f.reason) for f in current)
        wanted = sorted((p.starts_at, p.ends_at, p.reason) for p in periods)
        if now == wanted:
            return
        await Freeze.filter(group_id=group.id).using_db(conn).delete()
        for p in periods:
            await Freeze.create(
                group=group,
                starts_at=p.starts_at,
                ends_at=p.ends_at,
                reason=p.reason,
                using_db=conn,
            )
        await audit.record(
            actor,
            "group.freezes",
            group,
            {"freezes": [[p.starts_at, p.ends_at, p.reason] for p in periods]},
            connection=conn,
        )
