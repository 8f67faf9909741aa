"""The two sinks of api.effects' rows: the ORM one and the bulk one store the same values."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, time
from typing import Any

import pytest
from tortoise import Tortoise
from tortoise.context import TortoiseContext

from api.effects import ActivityRow, AuditRow, OutboxRow, WindowRow
from api.models import Machine, Notification, ResourceGroup
from api.services.sinks import MODELS, Row, columns_of, save, save_all, save_many

STAMP = datetime(2026, 11, 23, 6, 30, tzinfo=UTC)


async def rows() -> list[Row]:
    group = await ResourceGroup.create(
        name="acme", contacts=["ops@acme.example"], timezone="UTC", window_start=time(2, 0)
    )
    vm = await Machine.create(name="db1", kind="infrastructure", group=group)
    start = datetime(2026, 12, 1, 2, tzinfo=UTC)
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
        WindowRow("w1", vm.id, start, start.replace(hour=3), "regular", False, STAMP),
        ActivityRow(vm.id, "kernel_update", "queued", 15, {"kernel": "6.1"}, start, None, None,
                    "blocked", "op"),
    ]  # fmt: skip


def stored(instance: Any, row: Row) -> dict[str, Any]:
    out = {f.name: getattr(instance, f.name) for f in dataclasses.fields(row)}
    out.pop("uid", None)
    out.pop("dedupe_key", None)  # unique: the two rows differ there
    return {k: list(v) if isinstance(v, tuple) else v for k, v in out.items()}


def renamed(row: Row, n: int) -> Row:
    if isinstance(row, WindowRow):
        return dataclasses.replace(row, uid=f"{row.uid}-{n}")
    if isinstance(row, OutboxRow):
        return dataclasses.replace(row, dedupe_key=f"{row.dedupe_key}-{n}")
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
