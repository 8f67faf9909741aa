"""The guest agent's running kernel in a column of its own: observed_kernel stays the host
agent's (read from the VM's definition every inventory), so neither overwrites the other.
Nullable: an upgraded database needs no default."""

from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise import fields

class Migration(migrations.Migration):
    dependencies = [('fenster', '0008_guest_agent')]

    initial = False

    operations = [
        ops.AddField(
            model_name='Machine',
            name='guest_kernel',
            field=fields.CharField(null=True, max_length=64),
        ),
    ]
