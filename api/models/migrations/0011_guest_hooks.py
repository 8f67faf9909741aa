"""Enter and leave hooks (issue 12): one row per window and phase. The window's index is made
by hand on both backends (Tortoise's migrations make none for a foreign key on PostgreSQL, nor
for db_index on SQLite)."""

from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise.fields.base import OnDelete
from tortoise import fields



async def window_index(apps, schema_editor) -> None:  # type: ignore[no-untyped-def]
    await schema_editor.client.execute_script(
        'CREATE INDEX IF NOT EXISTS "idx_guest_hook_window_id" ON "guest_hook" ("window_id")'
    )


class Migration(migrations.Migration):
    dependencies = [('fenster', '0010_window_guest_down')]

    initial = False

    operations = [
        ops.CreateModel(
            name='GuestHook',
            fields=[
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('updated_at', fields.DatetimeField(auto_now=True, auto_now_add=False)),
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('window', fields.ForeignKeyField('fenster.Window', source_field='window_id', db_index=True, db_constraint=True, to_field='id', related_name='guest_hooks', on_delete=OnDelete.CASCADE)),
                ('phase', fields.CharField(max_length=8)),
                ('sequence', fields.IntField(default=0)),
                ('asks', fields.IntField(default=1)),
                ('verdict', fields.CharField(default='asked', max_length=16)),
                ('reason', fields.TextField(default='', unique=False)),
                ('kernel', fields.CharField(null=True, max_length=64)),
                ('asked_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('answered_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'guest_hook', 'app': 'fenster', 'unique_together': (('window', 'phase'),), 'pk_attr': 'id', 'table_description': 'Enter and leave hook requests to guest agents, and their answers.'},
            bases=['TimestampedModel'],
        ),
        ops.RunPython(window_index),
    ]
