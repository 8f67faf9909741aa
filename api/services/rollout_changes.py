"""After the announcement: delay, resume, cancel, and status updates.

- ``delay_rollout`` cancels every window and activity of the rollout that has not started
  (each customer gets the existing cancellation mail, threaded), mails every affected group a
  ``rollout_delayed`` notice, publishes the reason on the site (an announcement linked to the
  rollout), and moves the rollout to delayed. Waves already done stay done; a halted wave is
  closed (skipped).
- ``resume_rollout`` resumes a halted rollout on its remaining dates (the wave engine's
  ``resume_halted``), or on new ones: its halted wave is closed and what has not started is
  cancelled as in a delay (without the delay notice: the new schedule follows at once). With
  new dates, for a delayed or halted rollout, it takes new start times for the waves not yet
  done, refuses any sooner than ``FENSTER_RENOTICE_DAYS`` from now (naming it), re-plans and
  announces again.
- ``cancel_rollout`` cancels everything not started and tells customers.
- ``post_update`` publishes a status update (Markdown) on the site, optionally mailed to the
  affected groups.

Each runs in one transaction under the scheduler's lock; a refusal writes nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.transactions import in_transaction

from api.effects import rollout_delayed_key
from api.errors import FieldError, ValidationError
from api.models import Activity, Announcement, ResourceGroup, Rollout, RolloutMember, Wave
from api.notices import RolloutDelayed
from api.scheduling.texts import local_label
from api.services import audit, outbox
from api.services.announcements import MAX_BODY, notify
from api.services.rollout_announce import announce_in
from api.services.rollout_engine import resume_halted
from api.services.rollout_machines import DELAYED, REDATED
from api.services.scheduling import lock
from api.services.window_ops import cancel_in
from api.settings import Settings, get_settings

__all__ = ["cancel_rollout", "delay_rollout", "post_update", "resume_rollout"]


def _check_text(field: str, text: str) -> None:
    if not text.strip():
        raise ValidationError.single(field, "must not be empty")
    if len(text) > MAX_BODY:
        raise ValidationError.single(field, f"at most {MAX_BODY} characters")


async def _affected_groups(conn: BaseDBAsyncClient, rollout: Rollout) -> list[ResourceGroup]:
    ids = await (
        RolloutMember.filter(rollout_id=rollout.id)
        .using_db(conn)
        .values_list("machine__group_id", flat=True)
    )
    return await ResourceGroup.filter(id__in=set(ids)).using_db(conn).order_by("name")


async def _cancel_pending(
    conn: BaseDBAsyncClient, actor: str, rollout: Rollout, reason: str
) -> int:
    """Cancel the rollout's activities that have not started; returns how many."""
    rows = (
        await Activity.filter(rollout_id=rollout.id, state__in=["queued", "scheduled"])
        .using_db(conn)
        .order_by("id")
    )
    await cancel_in(conn, actor, rows, reason)
    return len(rows)


async def _publish(
    conn: BaseDBAsyncClient,
    rollout: Rollout,
    slug: str,
    title: str,
    body: str,
    now: datetime,
) -> Announcement:
    return await Announcement.create(
        slug=slug, title=title, body=body, published_at=now, rollout=rollout, using_db=conn
    )


async def _slug(conn: BaseDBAsyncClient, rollout: Rollout, what: str) -> str:
    n = await Announcement.filter(rollout_id=rollout.id).using_db(conn).count()
    return f"{rollout.name}-{what}-{n + 1}"[:100]


async def delay_rollout(
    actor: str,
    rollout: Rollout,
    reason: str,
    *,
    now: datetime | None = None,
    settings: Settings | None = None,
) -> Rollout:
    settings = settings or get_settings()
    now = now or datetime.now(UTC)
    _check_text("reason", reason)
    async with in_transaction() as conn:
        await lock(conn)
        current = await Rollout.get(id=rollout.id, using_db=conn)
        current.transition("delayed")
        cancelled = await _cancel_pending(conn, actor, current, DELAYED)
        await _close_halted(conn, current)
        groups = await _affected_groups(conn, current)
        notice = RolloutDelayed(current.name, current.title, reason, settings.renotice_days)
        for g in groups:
            await outbox.enqueue(
                notice,
                group=g,
                dedupe_key=rollout_delayed_key(current.id, g.id, now),
                connection=conn,
            )
        page = await _publish(
            conn,
            current,
            await _slug(conn, current, "delayed"),
            "System updates delayed",
            f"{reason.strip()}\n\nWe will inform you at least {settings.renotice_days} days "
            "before the new dates, with a detailed schedule.\n",
            now,
        )
        await current.save(using_db=conn, update_fields=["state", "updated_at"])
        await audit.record(
            actor,
            "rollout.delay",
            current,
            {
                "reason": reason,
                "activities_cancelled": cancelled,
                "announcement": page.slug,
                "groups": [g.name for g in groups],
            },
            connection=conn,
        )
    return current


async def resume_rollout(
    actor: str,
    rollout: Rollout,
    starts: Sequence[datetime],
    *,
    force: bool = False,
    now: datetime | None = None,
    settings: Settings | None = None,
) -> Rollout:
    """A halted rollout keeps its remaining dates (``starts`` empty; see
    ``rollout_engine.resume_halted``) or takes new ones: its halted wave is closed and what has
    not started is cancelled (customers told, as in a delay), then the waves not yet done are
    re-planned on ``starts`` and announced again. A delayed one: new start times for the waves
    not yet done (in order), then announce again. New dates follow the notice rules of a
    re-announcement; a refusal changes nothing."""
    settings = settings or get_settings()
    now = now or datetime.now(UTC)
    current = await Rollout.get(id=rollout.id)
    if current.state == "halted" and not starts:
        return await resume_halted(actor, current, now=now)
    if current.state not in ("halted", "delayed"):
        raise ValidationError.single(
            "state",
            f"rollout {current.name} is {current.state}; only a halted or delayed one resumes",
        )
    async with in_transaction() as conn:
        await lock(conn)
        current = await Rollout.get(id=rollout.id, using_db=conn)
        if current.state == "halted":
            current.transition("delayed")
            await _cancel_pending(conn, actor, current, REDATED)
            await _close_halted(conn, current)
            await current.save(using_db=conn, update_fields=["state", "updated_at"])
        pending = (
            await Wave.filter(rollout_id=current.id, state="pending")
            .using_db(conn)
            .order_by("position")
        )
        _check_dates(starts, len(pending), now, settings)
        for w, at in zip(pending, starts, strict=True):
            w.starts_at = at.astimezone(UTC)
            await w.save(using_db=conn, update_fields=["starts_at"])
        await (
            RolloutMember.filter(rollout_id=current.id, wave_id__in=[w.id for w in pending])
            .using_db(conn)
            .delete()
        )
        await audit.record(
            actor,
            "rollout.reschedule",
            current,
            {"waves": {w.name: w.starts_at.isoformat() for w in pending}},
            connection=conn,
        )
        # checks the new waves and every group's notice; a refusal rolls all of it back
        return await announce_in(conn, actor, current, force, True, now, settings)


async def _close_halted(conn: BaseDBAsyncClient, rollout: Rollout) -> None:
    """A wave halted by its gate is not judged again: the new plan starts after it."""
    await Wave.filter(rollout_id=rollout.id, state="halted").using_db(conn).update(state="skipped")


def _check_dates(starts: Sequence[datetime], waves: int, now: datetime, settings: Settings) -> None:
    """One start per wave not yet done, each at least the re-announcement notice away."""
    errors: list[FieldError] = []
    if len(starts) != waves:
        errors.append(
            FieldError("startsAt", f"give {waves} start times, one per wave not yet done")
        )
    earliest = now + timedelta(days=settings.renotice_days)
    for i, at in enumerate(starts):
        if at.tzinfo is None:
            errors.append(FieldError(f"startsAt[{i}]", "needs a time zone"))
        elif at < earliest:
            errors.append(
                FieldError(
                    f"startsAt[{i}]",
                    f"{local_label(at.astimezone(UTC), year=True)} UTC is less than "
                    f"{settings.renotice_days} days from now; the earliest is "
                    f"{local_label(earliest, year=True)} UTC",
                )
            )
    if errors:
        raise ValidationError(errors)


async def cancel_rollout(
    actor: str, rollout: Rollout, reason: str = "", *, now: datetime | None = None
) -> Rollout:
    async with in_transaction() as conn:
        await lock(conn)
        current = await Rollout.get(id=rollout.id, using_db=conn)
        current.transition("cancelled")
        why = reason.strip() or "the system update is cancelled"
        cancelled = await _cancel_pending(conn, actor, current, why)
        await (
            Wave.filter(rollout_id=current.id, state="pending")
            .using_db(conn)
            .update(state="skipped")
        )
        await current.save(using_db=conn, update_fields=["state", "updated_at"])
        await audit.record(
            actor,
            "rollout.cancel",
            current,
            {"reason": reason, "activities_cancelled": cancelled},
            connection=conn,
        )
    return current


async def post_update(
    actor: str,
    rollout: Rollout,
    body: str,
    *,
    title: str = "",
    mail: bool = False,
    now: datetime | None = None,
) -> Announcement:
    """A status update: on the site at once (an announcement linked to the rollout), and by
    mail to the rollout's groups when ``mail``."""
    now = now or datetime.now(UTC)
    _check_text("body", body)
    title = title.strip() or f"{rollout.title}: update"
    if len(title) > 200 or "\n" in title:
        raise ValidationError.single("title", "one line of at most 200 characters")
    async with in_transaction() as conn:
        page = await _publish(conn, rollout, await _slug(conn, rollout, "update"), title, body, now)
        groups = await _affected_groups(conn, rollout) if mail else []
        for g in groups:
            await notify(page, g, conn)
        await audit.record(
            actor,
            "rollout.update",
            rollout,
            {"announcement": page.slug, "mailed": [g.name for g in groups]},
            connection=conn,
        )
    return page
