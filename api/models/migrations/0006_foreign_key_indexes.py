"""Every foreign key gets an index (PostgreSQL makes none for them: an agent's dueWork scanned
every machine for its host's guests), and on SQLite the indexes Tortoise's SQLite migrations
leave out (``db_index`` columns: states, starts, foreign keys) are created here by hand."""

from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise.fields.base import OnDelete
from tortoise import fields

# (table, column) of every index-carrying column at this migration (frozen: later migrations
# add their own)
INDEXED = [
    ("activity", "machine_id"), ("activity", "rollout_id"), ("activity", "state"),
    ("activity", "window_id"), ("announcement", "rollout_id"), ("api_token", "host_id"),
    ("audit_event", "at"), ("freeze", "group_id"), ("machine", "group_id"),
    ("machine", "host_id"), ("maintenance_window", "machine_id"),
    ("maintenance_window", "starts_at"), ("maintenance_window", "state"),
    ("notification", "group_id"), ("notification", "next_attempt_at"),
    ("notification", "state"), ("notification", "window_id"), ("rollout_member", "machine_id"),
    ("rollout_member", "rollout_id"), ("rollout_member", "wave_id"),
    ("rollout_wave", "rollout_id"),
]  # fmt: skip


async def sqlite_indexes(apps, schema_editor) -> None:  # type: ignore[no-untyped-def]
    client = schema_editor.client
    if client.capabilities.dialect != "sqlite":
        return  # PostgreSQL got them from the AlterField operations above
    for table, column in INDEXED:
        await client.execute_script(
            f'CREATE INDEX IF NOT EXISTS "idx_{table}_{column}" ON "{table}" ("{column}")'
        )


class Migration(migrations.Migration):
    dependencies = [('fenster', '0005_rollout_updates_are_announcements')]

    initial = False

    operations = [
        ops.AlterField(
            model_name='Activity',
            name='machine',
            field=fields.ForeignKeyField('fenster.Machine', source_field='machine_id', db_index=True, db_constraint=True, to_field='id', related_name='activities', on_delete=OnDelete.CASCADE),
        ),
        ops.AlterField(
            model_name='Activity',
            name='rollout',
            field=fields.ForeignKeyField('fenster.Rollout', source_field='rollout_id', null=True, db_index=True, db_constraint=True, to_field='id', related_name='activities', on_delete=OnDelete.SET_NULL),
        ),
        ops.AlterField(
            model_name='Activity',
            name='window',
            field=fields.ForeignKeyField('fenster.Window', source_field='window_id', null=True, db_index=True, db_constraint=True, to_field='id', related_name='activities', on_delete=OnDelete.SET_NULL),
        ),
        ops.AlterField(
            model_name='Announcement',
            name='rollout',
            field=fields.ForeignKeyField('fenster.Rollout', source_field='rollout_id', null=True, db_index=True, db_constraint=True, to_field='id', related_name='announcements', on_delete=OnDelete.SET_NULL),
        ),
        ops.AlterField(
            model_name='ApiToken',
            name='host',
            field=fields.ForeignKeyField('fenster.Machine', source_field='host_id', null=True, db_index=True, db_constraint=True, to_field='id', related_name='api_tokens', on_delete=OnDelete.CASCADE),
        ),
        ops.AlterField(
            model_name='Freeze',
            name='group',
            field=fields.ForeignKeyField('fenster.ResourceGroup', source_field='group_id', null=True, db_index=True, db_constraint=True, to_field='id', related_name='freezes', on_delete=OnDelete.CASCADE),
        ),
        ops.AlterField(
            model_name='Machine',
            name='group',
            field=fields.ForeignKeyField('fenster.ResourceGroup', source_field='group_id', db_index=True, db_constraint=True, to_field='id', related_name='machines', on_delete=OnDelete.RESTRICT),
        ),
        ops.AlterField(
            model_name='Machine',
            name='host',
            field=fields.ForeignKeyField('fenster.Machine', source_field='host_id', null=True, db_index=True, db_constraint=True, to_field='id', related_name='guests', on_delete=OnDelete.RESTRICT),
        ),
        ops.AlterField(
            model_name='Notification',
            name='group',
            field=fields.ForeignKeyField('fenster.ResourceGroup', source_field='group_id', null=True, db_index=True, db_constraint=True, to_field='id', related_name='notifications', on_delete=OnDelete.SET_NULL),
        ),
        ops.AlterField(
            model_name='Notification',
            name='window',
            field=fields.ForeignKeyField('fenster.Window', source_field='window_id', null=True, db_index=True, db_constraint=True, to_field='id', related_name='notifications', on_delete=OnDelete.SET_NULL),
        ),
        ops.AlterField(
            model_name='RolloutMember',
            name='machine',
            field=fields.ForeignKeyField('fenster.Machine', source_field='machine_id', db_index=True, db_constraint=True, to_field='id', related_name='rollout_members', on_delete=OnDelete.CASCADE),
        ),
        ops.AlterField(
            model_name='RolloutMember',
            name='rollout',
            field=fields.ForeignKeyField('fenster.Rollout', source_field='rollout_id', db_index=True, db_constraint=True, to_field='id', related_name='members', on_delete=OnDelete.CASCADE),
        ),
        ops.AlterField(
            model_name='RolloutMember',
            name='wave',
            field=fields.ForeignKeyField('fenster.Wave', source_field='wave_id', db_index=True, db_constraint=True, to_field='id', related_name='members', on_delete=OnDelete.CASCADE),
        ),
        ops.AlterField(
            model_name='Wave',
            name='rollout',
            field=fields.ForeignKeyField('fenster.Rollout', source_field='rollout_id', db_index=True, db_constraint=True, to_field='id', related_name='waves', on_delete=OnDelete.CASCADE),
        ),
        ops.AlterField(
            model_name='Window',
            name='machine',
            field=fields.ForeignKeyField('fenster.Machine', source_field='machine_id', db_index=True, db_constraint=True, to_field='id', related_name='windows', on_delete=OnDelete.CASCADE),
        ),
        ops.RunPython(sqlite_indexes),
    ]
