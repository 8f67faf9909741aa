"""Guest agents (issue 12): the guest token's machine (indexed by hand),
an update's exit code and changed packages, the guest's CPU model and last report. Every new
column is nullable: an upgraded database needs no default."""

from tortoise import migrations
from tortoise.migrations import operations as ops
import functools
from json import dumps, loads
from tortoise.fields.base import OnDelete
from tortoise import fields



async def machine_index(apps, schema_editor) -> None:  # type: ignore[no-untyped-def]
    # by hand on both: Tortoise's AddField of a foreign key makes no index, on either
    client = schema_editor.client
    await client.execute_script(
        'CREATE INDEX IF NOT EXISTS "idx_api_token_machine_id" ON "api_token" ("machine_id")'
    )


class Migration(migrations.Migration):
    dependencies = [('fenster', '0007_window_stuck_at')]

    initial = False

    operations = [
        ops.AddField(
            model_name='Activity',
            name='changed_packages',
            field=fields.JSONField(null=True, encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads),
        ),
        ops.AddField(
            model_name='Activity',
            name='exit_code',
            field=fields.IntField(null=True),
        ),
        ops.AddField(
            model_name='ApiToken',
            name='machine',
            field=fields.ForeignKeyField('fenster.Machine', source_field='machine_id', null=True, db_index=True, db_constraint=True, to_field='id', related_name='guest_tokens', on_delete=OnDelete.CASCADE),
        ),
        ops.AddField(
            model_name='Machine',
            name='guest_cpu_model',
            field=fields.CharField(null=True, max_length=200),
        ),
        ops.AddField(
            model_name='Machine',
            name='guest_reported_at',
            field=fields.DatetimeField(null=True, auto_now=False, auto_now_add=False),
        ),
        ops.RunPython(machine_index),
    ]
