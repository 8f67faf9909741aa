"""Resource groups: create, change policy, rotate the feed token."""

from __future__ import annotations

from datetime import time
from typing import Any

from tortoise.exceptions import IntegrityError
from tortoise.transactions import in_transaction

from api.errors import FieldError, NotFound, ValidationError
from api.models import ResourceGroup
from api.models.groups import new_feed_token
from api.models.keys import where
from api.notices import GroupSettings
from api.services import audit, outbox

__all__ = [
    "POLICY_FIELDS",
    "check_policy",
    "create_group",
    "get_group",
    "rotate_feed_token",
    "update_policy",
]

MAX_TITLE = 200  # the column's length
# A year ahead at most: far larger leads overflow date arithmetic (a reminder of 2**31 minutes
# made the mailer's reminder pass, and with it every group's mail, fail).
MAX_LEAD_MINUTES = 366 * 24 * 60

POLICY_FIELDS = (
    "title",
    "contacts",
    "timezone",
    "window_start",
    "window_minutes",
    "weekdays",
    "notice_minutes",
    "reminder_minutes",
    "max_postpones",
)


async def get_group(name: str) -> ResourceGroup:
    group = await where(ResourceGroup.all(), name=name).first()
    if group is None:
        raise NotFound("resource group", name)
    return group


def _policy_summary(group: ResourceGroup) -> dict[str, Any]:
    return {
        "name": group.name,
        "contacts": list(group.contacts),
        "timezone": group.timezone,
        "window_start": group.window_start.strftime("%H:%M"),
        "window_minutes": group.window_minutes,
        "weekdays": sorted(group.weekdays),
        "notice_minutes": group.notice_minutes,
        "reminder_minutes": group.reminder_minutes,
        "max_postpones": group.max_postpones,
    }


def settings_notice(group: ResourceGroup) -> GroupSettings:
    return GroupSettings.from_payload(_policy_summary(group))


async def create_group(actor: str, *, name: str, **policy: Any) -> ResourceGroup:
    """Create a group; its contacts are told the settings used (the seed's first email)."""
    unknown = set(policy) - set(POLICY_FIELDS)
    if unknown:
        raise ValidationError.single(sorted(unknown)[0], "is not a group setting")
    if isinstance(policy.get("window_start"), str):
        policy["window_start"] = _parse_time(policy["window_start"])
    group = ResourceGroup(name=name, **policy)
    _check(group)
    taken = ValidationError.single("name", f"a resource group named '{name}' already exists")
    try:
        async with in_transaction() as conn:
            if await ResourceGroup.filter(name=name).using_db(conn).exists():
                raise taken
            await group.save(using_db=conn)
            await audit.record(
                actor, "group.create", group, _policy_summary(group), connection=conn
            )
            await outbox.enqueue(settings_notice(group), group=group, connection=conn)
    except IntegrityError:
        # created by a concurrent request after the check: the unique index refused this one
        if await ResourceGroup.filter(name=name).exists():
            raise taken from None
        raise
    return group


def check_policy(group: ResourceGroup, **changes: Any) -> dict[str, Any]:
    """Check policy changes without writing; returns them with the window start parsed."""
    unknown = set(changes) - set(POLICY_FIELDS)
    if unknown:
        raise ValidationError.single(sorted(unknown)[0], "is not a group setting")
    if isinstance(changes.get("window_start"), str):
        changes["window_start"] = _parse_time(changes["window_start"])
    _check(ResourceGroup(**{**_fields(group), **changes}))
    return changes


async def update_policy(actor: str, group: ResourceGroup, **changes: Any) -> ResourceGroup:
    """Change policy fields; every field is checked before anything is written."""
    changes = check_policy(group, **changes)
    before = _policy_summary(group)
    changed = {k: v for k, v in changes.items() if getattr(group, k) != v}
    if not changed:
        return group
    async with in_transaction() as conn:
        for key, value in changed.items():
            setattr(group, key, value)
        await group.save(using_db=conn)
        after = _policy_summary(group)
        diff = {k: [before.get(k), after.get(k)] for k in after if before.get(k) != after.get(k)}
        await audit.record(actor, "group.update", group, {"changed": diff}, connection=conn)
        await outbox.enqueue(settings_notice(group), group=group, connection=conn)
    return group


async def rotate_feed_token(actor: str, group: ResourceGroup) -> str:
    """Give the group a new feed token; the old one stops working at once."""
    async with in_transaction() as conn:
        group.feed_token = new_feed_token()
        await group.save(using_db=conn, update_fields=["feed_token", "updated_at"])
        await audit.record(actor, "group.rotate_feed_token", group, connection=conn)
    return group.feed_token


def _check(group: ResourceGroup) -> None:
    """The group's rules and its title (shown in mail subjects and feed names) together."""
    found: list[FieldError] = []
    try:
        group.check_rules()
    except ValidationError as exc:
        found.extend(exc.errors)
    title = group.title
    if not isinstance(title, str) or len(title) > MAX_TITLE or not title.isprintable():
        found.append(FieldError("title", f"at most {MAX_TITLE} printable characters"))
    for name in ("notice_minutes", "reminder_minutes"):
        value = getattr(group, name)
        if isinstance(value, int) and value > MAX_LEAD_MINUTES:
            found.append(FieldError(name, f"at most {MAX_LEAD_MINUTES} minutes (366 days)"))
    if found:
        raise ValidationError(found)


def _fields(group: ResourceGroup) -> dict[str, Any]:
    return {"name": group.name, **{k: getattr(group, k) for k in POLICY_FIELDS}}


def _parse_time(value: str) -> time:
    try:
        hh, mm = value.split(":")
        return time(int(hh), int(mm))
    except ValueError:
        raise ValidationError.single(
            "window_start", f"'{value}' is not a local time of day such as 02:00"
        ) from None
