"""A VM's reboot names its host's reboot by a foreign key (activity.for_host_reboot_id), no
longer by the host's name in its params (issue 10, part 4). Existing rows move over: the
host found by the name under params' "host_reboot" becomes the key, and the name leaves
params. Nullable: every other activity has none. Indexed by hand on both backends (Tortoise's
AddField of a foreign key makes no index)."""

from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise.fields.base import OnDelete
from tortoise import fields

MOVE = {
    "sqlite": [
        """UPDATE activity SET for_host_reboot_id = (
               SELECT m.id FROM machine m WHERE m.name = json_extract(activity.params, '$.host_reboot'))
           WHERE json_extract(params, '$.host_reboot') IS NOT NULL""",
        """UPDATE activity SET params = json_remove(params, '$.host_reboot')
           WHERE json_extract(params, '$.host_reboot') IS NOT NULL""",
    ],
    "postgres": [
        """UPDATE activity SET for_host_reboot_id = m.id FROM machine m
           WHERE activity.params ? 'host_reboot' AND m.name = activity.params->>'host_reboot'""",
        """UPDATE activity SET params = params - 'host_reboot' WHERE params ? 'host_reboot'""",
    ],
}


async def move_names_to_key(apps, schema_editor) -> None:  # type: ignore[no-untyped-def]
    client = schema_editor.client
    await client.execute_script(
        'CREATE INDEX IF NOT EXISTS "idx_activity_for_hos_reboot" ON "activity" ("for_host_reboot_id")'
    )
    for sql in MOVE[client.capabilities.dialect]:
        await client.execute_script(sql)


class Migration(migrations.Migration):
    dependencies = [('fenster', '0012_observed_cpu_mode')]

    initial = False

    operations = [
        ops.AddField(
            model_name='Activity',
            name='for_host_reboot',
            field=fields.ForeignKeyField('fenster.Machine', source_field='for_host_reboot_id', null=True, db_index=True, db_constraint=True, to_field='id', related_name=False, on_delete=OnDelete.SET_NULL),
        ),
        ops.RunPython(move_names_to_key),
    ]
