"""Per-request DataLoaders: every relation in the schema is read through one of these.

Built fresh for each request with the request's Principal (a module-level loader would cache
across requests and users). Every loader reads its rows through ``api.scoping.scoped``, so a
nested field shows only rows its caller may see. The two ``any_*`` loaders are the exception:
they read values a field needs *about* a row it shows (a group's zone, a VM host's name to
leave out of a customer's log) and are never returned as rows.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Awaitable, Callable, Hashable, Iterable, Sequence
from datetime import UTC, datetime
from typing import Any, TypeVar

from strawberry.dataloader import DataLoader
from tortoise.expressions import Q

from api.models import Activity, AuditEvent, Freeze, Machine, ResourceGroup, Wave, Window
from api.principal import Principal
from api.scoping import scoped
from api.services.activities import OPEN_STATES

__all__ = ["Loaders", "cached_or_load"]

K = TypeVar("K", bound=Hashable)
M = TypeVar("M")


Load = Callable[[list[K]], Awaitable[list[Any]]]


def _by_id(model: Any, who: Principal | None) -> Load[int]:
    """Rows by id (None where ``who`` may not see one); ``who`` None: unscoped (``any_*``)."""

    async def load(ids: list[int]) -> list[Any]:
        qs = model.all() if who is None else scoped(model, who)
        rows = {r.id: r for r in await qs.filter(id__in=ids)}
        return [rows.get(i) for i in ids]

    return load


def _grouped(rows: Iterable[M], key: Callable[[M], K | None], keys: Sequence[K]) -> list[list[M]]:
    out: dict[K | None, list[M]] = defaultdict(list)
    for row in rows:
        out[key(row)].append(row)
    return [out.get(k, []) for k in keys]


def _machines_by_group(who: Principal) -> Load[int]:
    async def load(ids: list[int]) -> list[list[Machine]]:
        rows = await scoped(Machine, who).filter(group_id__in=ids)
        return _grouped(rows, lambda m: m.group_id, ids)

    return load


def _guests_by_host(who: Principal) -> Load[int]:
    async def load(ids: list[int]) -> list[list[Machine]]:
        rows = await scoped(Machine, who).filter(host_id__in=ids)
        return _grouped(rows, lambda m: m.host_id, ids)

    return load


def _open_activities(who: Principal) -> Load[int]:
    async def load(ids: list[int]) -> list[list[Activity]]:
        rows = await scoped(Activity, who).filter(machine_id__in=ids, state__in=OPEN_STATES)
        return _grouped(rows, lambda a: a.machine_id, ids)

    return load


def _window_activities(who: Principal) -> Load[int]:
    async def load(ids: list[int]) -> list[list[Activity]]:
        rows = await scoped(Activity, who).filter(window_id__in=ids)
        return _grouped(rows, lambda a: a.window_id, ids)

    return load


def _next_window(who: Principal) -> Load[int]:
    async def load(ids: list[int]) -> list[Window | None]:
        now = datetime.now(UTC)
        rows = (
            await scoped(Window, who)
            .filter(machine_id__in=ids, state__in=("planned", "running"), ends_at__gt=now)
            .order_by("starts_at", "id")
        )
        first: dict[int, Window] = {}
        for w in rows:
            first.setdefault(w.machine_id, w)
        return [first.get(i) for i in ids]

    return load


async def _freezes(ids: list[int]) -> list[list[Freeze]]:
    """A group's freezes and the global ones (keyed by a group the caller already sees)."""
    rows = await Freeze.filter(Q(group_id__in=ids) | Q(group_id=None))
    out: list[list[Freeze]] = []
    for i in ids:
        out.append([f for f in rows if f.group_id in (i, None)])
    return out


async def _waves(ids: list[int]) -> list[list[Wave]]:
    """A rollout's waves (keyed by a rollout the caller already sees)."""
    rows = await Wave.filter(rollout_id__in=ids)
    return _grouped(rows, lambda w: w.rollout_id, ids)


def _audit(who: Principal) -> Load[tuple[str, int]]:
    async def load(keys: list[tuple[str, int]]) -> list[list[AuditEvent]]:
        types = {t for t, _ in keys}
        ids = {i for _, i in keys}
        rows = await scoped(AuditEvent, who).filter(
            subject_type__in=list(types), subject_id__in=list(ids)
        )
        return _grouped(rows, lambda e: (e.subject_type, e.subject_id), keys)

    return load


def cached_or_load(loader: DataLoader[Any, Any], key: Any, wrap: Callable[[Any], Any]) -> Any:
    """``wrap(value)`` at once when the loader already holds ``key`` (a primed or finished
    load); otherwise an awaitable of it. Saves a coroutine per row in long lists."""
    future = loader.cache_map.get(key)
    if future is not None and future.done() and future.exception() is None:
        value = future.result()
        return wrap(value) if value is not None else None

    async def later() -> Any:
        value = await loader.load(key)
        return wrap(value) if value is not None else None

    return later()


class Loaders:
    """One request's loaders. Names say what they load and by which key."""

    def __init__(self, who: Principal) -> None:
        self.group_by_id: DataLoader[int, ResourceGroup | None] = DataLoader(
            _by_id(ResourceGroup, who)
        )
        self.machine_by_id: DataLoader[int, Machine | None] = DataLoader(_by_id(Machine, who))
        self.window_by_id: DataLoader[int, Window | None] = DataLoader(_by_id(Window, who))
        self.machines_by_group: DataLoader[int, list[Machine]] = DataLoader(_machines_by_group(who))
        self.guests_by_host: DataLoader[int, list[Machine]] = DataLoader(_guests_by_host(who))
        self.open_activities_by_machine: DataLoader[int, list[Activity]] = DataLoader(
            _open_activities(who)
        )
        self.activities_by_window: DataLoader[int, list[Activity]] = DataLoader(
            _window_activities(who)
        )
        self.next_window_by_machine: DataLoader[int, Window | None] = DataLoader(_next_window(who))
        self.freezes_by_group: DataLoader[int, list[Freeze]] = DataLoader(_freezes)
        self.waves_by_rollout: DataLoader[int, list[Wave]] = DataLoader(_waves)
        self.audit_by_subject: DataLoader[tuple[str, int], list[AuditEvent]] = DataLoader(
            _audit(who)
        )
        # values about a shown row, never rows themselves (see the module's docstring)
        self.any_group_by_id: DataLoader[int, ResourceGroup | None] = DataLoader(
            _by_id(ResourceGroup, None)
        )
        self.any_machine_by_id: DataLoader[int, Machine | None] = DataLoader(_by_id(Machine, None))
        self._wrapped: dict[Hashable, Any] = {}

    def wrapped(self, key: Hashable, build: Callable[[], Any]) -> Any:
        """One schema object per row and request (a host shared by 1,000 VMs is built once)."""
        found = self._wrapped.get(key)
        if found is None:
            found = self._wrapped[key] = build()
        return found

    def prime_groups(self, groups: Iterable[ResourceGroup]) -> None:
        for g in groups:
            self.group_by_id.prime(g.id, g)

    def prime_windows(self, windows: Iterable[Window]) -> None:
        for w in windows:
            self.window_by_id.prime(w.id, w)

    def prime_machines(self, machines: Iterable[Machine]) -> None:
        for m in machines:
            self.machine_by_id.prime(m.id, m)
