"""The two sinks of api.effects' rows: the ORM one and the bulk one store the same values."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, time
from typing import Any

import pytest
from tortoise import Tortoise
from tortoise.context import TortoiseContext

from api.effects import (
    ActivityAdopted,
    ActivityBlocked,
    ActivityHeld,
    ActivityMoved,
    ActivityRow,
    AuditRow,
    DesiredKernel,
    MemberRow,
    OutboxRow,
    WindowExtended,
    WindowRow,
)
from api.models import Activity, Machine, Notification, ResourceGroup, Rollout, Wave, Window
from api.services.sinks import (
    MODELS,
    UPDATED,
    Row,
    columns_of,
    save,
    save_all,
    save_many,
    update_many,
    updates_of,
)

STAMP = datetime(2026, 11, 23, 6, 30, tzinfo=UTC)


async def rows() -> list[Row]:
    group = await ResourceGroup.create(
        name="acme", contacts=["ops@acme.example"], timezone="UTC", window_start=time(2, 0)
    )
    vm = await Machine.create(name="db1", kind="infrastructure", group=group)
    start = datetime(2026, 12, 1, 2, tzinfo=UTC)
    for n in (1, 2, 3):  # the machines of ``renamed`` members, ids following the VM's
        await Machine.create(name=f"db1-{n}", kind="infrastructure", group=group)
    rollout = await Rollout.create(name="r0", title="kernel")
    wave = await Wave.create(rollout=rollout, position=1, name="w", selector="all", starts_at=start)
    return [
        AuditRow("op", "window.schedule", "window", 5, "window w1", {"activities": [1, 2]}),
        OutboxRow(
            "window_scheduled",
            group.id,
            None,
            ("ops@acme.example",),
            {"sequence": 0, "reason": "r"},
            "window_scheduled:w1:0",
            "w1",
            STAMP,
        ),
        WindowRow(vm.id, start, start.replace(hour=3), "regular", False, STAMP, uid="w1"),
        ActivityRow(vm.id, "kernel_update", "queued", 15, {"kernel": "6.1"}, start, None, None,
                    "blocked", "op"),
        MemberRow(rollout.id, wave.id, vm.id),
    ]  # fmt: skip


def stored(instance: Any, row: Row) -> dict[str, Any]:
    out = {f.name: getattr(instance, f.name) for f in dataclasses.fields(row)}
    out.pop("uid", None)
    out.pop("dedupe_key", None)  # unique: the two rows differ there
    if isinstance(row, MemberRow):
        out.pop("machine_id")  # unique with the rollout, as above
    return {k: list(v) if isinstance(v, tuple) else v for k, v in out.items()}


def renamed(row: Row, n: int) -> Row:
    if isinstance(row, WindowRow):
        return dataclasses.replace(row, uid=f"{row.uid}-{n}")
    if isinstance(row, OutboxRow):
        return dataclasses.replace(row, dedupe_key=f"{row.dedupe_key}-{n}")
    if isinstance(row, MemberRow):  # one membership per machine and rollout
        return dataclasses.replace(row, machine_id=row.machine_id + n)
    return row


async def test_both_sinks_store_the_same_values(db: TortoiseContext) -> None:
    for row in await rows():
        model = MODELS[type(row)]
        one = await save(renamed(row, 1))
        conn = Tortoise.get_connection("default")
        await save_many(conn, [renamed(row, 2)], STAMP)
        other = await model.filter(id__gt=one.pk).get()
        assert stored(other, row) == stored(one, row) == stored(row, row)
        if isinstance(row, AuditRow | OutboxRow):  # what save_all is for
            await save_all([renamed(row, 3)])
            third = await model.filter(id__gt=other.pk).get()
            assert stored(third, row) == stored(row, row)


async def test_save_all_skips_what_is_queued_and_repeats(db: TortoiseContext) -> None:
    row = (await rows())[1]
    assert isinstance(row, OutboxRow)
    await save(row)
    again = dataclasses.replace(row, dedupe_key="other")
    await save_all([row, again, again])
    assert await Notification.all().count() == 2


async def test_an_outbox_row_already_queued_is_skipped(db: TortoiseContext) -> None:
    row = (await rows())[1]
    assert await save(row) is not None
    assert await save(row) is None


@pytest.mark.parametrize("row_type", list(MODELS))
def test_bulk_columns_cover_every_required_column(row_type: type[Any]) -> None:
    """A model that gains a column without a default must gain it in its row too."""
    model = MODELS[row_type]
    projection = model._meta.fields_db_projection
    required = {
        projection[name]
        for name, f in model._meta.fields_map.items()
        if name in projection
        and not (f.pk or f.null or getattr(f, "auto_now", False))
        and not getattr(f, "auto_now_add", False)
        and f.default is None
    }
    assert required
    assert required <= set(columns_of(row_type))


def test_a_new_window_row_gets_a_new_uid() -> None:
    start = datetime(2026, 12, 1, 2, tzinfo=UTC)
    one, other = (WindowRow(1, start, start, "r", False, None) for _ in range(2))
    assert one.uid != other.uid and one.uid.endswith("@fenster")


async def test_updates_set_their_fields_on_their_rows_only(db: TortoiseContext) -> None:
    """Each change type sets its fields (times and values as the ORM stores them) on its row,
    only where its ONLY_IF holds; a TOUCH row's updated_at is the stamp."""
    group = await ResourceGroup.create(
        name="acme", contacts=["ops@acme.example"], timezone="UTC", window_start=time(2, 0)
    )
    vm = await Machine.create(name="db1", kind="infrastructure", group=group)
    other = await Machine.create(name="db2", kind="infrastructure", group=group)
    start = datetime(2026, 12, 1, 2, tzinfo=UTC)
    window = await Window.create(
        machine=vm, starts_at=start, ends_at=STAMP.replace(year=2027), reason="r"
    )
    queued, done, kept, held = [
        await Activity.create(machine=vm, kind="kernel_update", state=state, requested_by="op")
        for state in ("queued", "done", "queued", "scheduled")
    ]
    conn = Tortoise.get_connection("default")
    await update_many(
        conn, [ActivityMoved(queued.id, window.id), ActivityMoved(done.id, window.id)], STAMP
    )
    await update_many(conn, [ActivityBlocked(kept.id, "no room")], STAMP)
    await update_many(conn, [ActivityHeld(held.id, start)], STAMP)
    await update_many(conn, [WindowExtended(window.id, "more work", 3)], STAMP)
    await update_many(conn, [DesiredKernel(vm.id, "6.1.0-9")], STAMP)
    await update_many(conn, [], STAMP)
    got = {a.id: a for a in await Activity.all()}
    assert (got[queued.id].state, got[queued.id].window_id) == ("scheduled", window.id)
    assert (got[done.id].state, got[done.id].window_id) == ("done", None)
    assert (got[kept.id].state, got[kept.id].blocked_reason) == ("queued", "no room")
    assert got[held.id].not_before == start
    changed = await Window.get(id=window.id)
    assert (changed.reason, changed.sequence, changed.updated_at) == ("more work", 3, STAMP)
    kernels = dict(await Machine.all().values_list("id", "desired_kernel"))
    assert kernels == {vm.id: "6.1.0-9", other.id: None}
    rollout = await Rollout.create(name="r1", title="kernel")
    adopt = ActivityAdopted(kept.id, "scheduled", start, window.id, rollout.id, None)
    await update_many(conn, [adopt], STAMP)
    adopted = await Activity.get(id=kept.id)
    assert (adopted.state, adopted.not_before, adopted.window_id, adopted.rollout_id) == (
        "scheduled",
        start,
        window.id,
        rollout.id,
    )
    assert adopted.blocked_reason is None


@pytest.mark.parametrize("row_type", list(UPDATED))
async def test_update_columns_come_from_the_model(db: TortoiseContext, row_type: type[Any]) -> None:
    template = updates_of(row_type)
    table = UPDATED[row_type]._meta.db_table
    assert template.startswith(f"UPDATE {table} SET ") and template.endswith(
        "WHERE id = ?" + ("".join(f" AND {name} = ?" for name, _ in row_type.ONLY_IF))
    )
    sets = template.split(" SET ")[1].split(" WHERE ")[0]
    names = [f.name for f in dataclasses.fields(row_type) if f.name != "id"]
    assert sets == ", ".join(f"{n} = ?" for n in names + (["updated_at"] if row_type.TOUCH else []))
