"""Leadership: the background duties that must run in one process at a time (the scheduling
pass with its missed-window release, reminders, the wave engine) run only in the process that
holds the ``leader`` lease.

Every `fenster serve` process beats every third of the lease's length: the holder renews it,
the others try to take it, which succeeds once it has expired. So when the leader dies, another
process leads within one lease length (``leader_lease_seconds``, default 30) plus one beat. A
leader that stops cleanly gives the lease up at once. The lease is a row (``lease``), the same
on SQLite and PostgreSQL; the duties keep their own guards on top (the scheduling pass's
advisory lock, outbox claims), so even two processes that both believed they led would not do
the same work twice.

Duties that every process does for itself are not led: draining the outbox (claims spread the
rows) and building the site each process serves.
"""

from __future__ import annotations

import logging
import os
import socket
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from tortoise.exceptions import IntegrityError, OperationalError
from tortoise.expressions import Q

from api.models import Lease

__all__ = ["LEADER", "Leadership", "process_name"]

log = logging.getLogger(__name__)

LEADER = "leader"


def process_name() -> str:
    """This process, as lease holders are named: host, pid and a random part (pids repeat)."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"[:100]


@dataclass
class Leadership:
    holder: str
    lease: timedelta
    name: str = LEADER
    _held_until: datetime | None = field(default=None, repr=False)

    @property
    def beat_every(self) -> float:
        return max(self.lease.total_seconds() / 3, 0.5)

    def held(self, now: datetime | None = None) -> bool:
        """Does this process lead now? Judged on its own clock against the expiry it wrote,
        less one beat of margin, so that it stops before anyone else may start."""
        now = now or datetime.now(UTC)
        margin = timedelta(seconds=self.beat_every)
        return self._held_until is not None and now < self._held_until - margin

    async def beat(self, now: datetime | None = None) -> bool:
        """Renew the lease, or take it if it is free or expired. True when this process leads."""
        now = now or datetime.now(UTC)
        until = now + self.lease
        was = self._held_until is not None
        renewed = await Lease.filter(
            Q(name=self.name) & (Q(holder=self.holder) | Q(expires_at__lt=now))
        ).update(holder=self.holder, expires_at=until)
        if not renewed:
            try:
                await Lease.create(
                    name=self.name, holder=self.holder, expires_at=until, acquired_at=now
                )
            except (IntegrityError, OperationalError):  # somebody holds it
                self._held_until = None
                if was:
                    log.warning("lost the %s lease; background duties stop here", self.name)
                return False
        elif not was:
            await Lease.filter(name=self.name).update(acquired_at=now)
        if not was:
            log.info("took the %s lease as %s; background duties run here", self.name, self.holder)
        self._held_until = until
        return True

    def lost(self) -> None:
        """Stop leading at once (the lease could not be renewed)."""
        if self._held_until is not None:
            log.warning("cannot renew the %s lease; background duties stop here", self.name)
        self._held_until = None

    async def release(self) -> None:
        """Give the lease up (on a clean stop), so that another process leads at once."""
        if self._held_until is None:
            return
        self._held_until = None
        await Lease.filter(name=self.name, holder=self.holder).delete()
        log.info("gave up the %s lease", self.name)

    @staticmethod
    async def current(name: str = LEADER) -> Lease | None:
        return await Lease.get_or_none(name=name)
