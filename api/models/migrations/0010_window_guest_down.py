"""GUEST DOWN: the window whose agent could not start a guest again is flagged at once
(api.services.agents.finish_window). Nullable: an upgraded database needs no default."""

from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise import fields


class Migration(migrations.Migration):
    dependencies = [('fenster', '0009_guest_kernel')]

    initial = False

    operations = [
        ops.AddField(
            model_name='Window',
            name='guest_down_at',
            field=fields.DatetimeField(null=True, auto_now=False, auto_now_add=False),
        ),
        ops.AddField(
            model_name='Window',
            name='guest_down',
            field=fields.TextField(null=True),
        ),
    ]
