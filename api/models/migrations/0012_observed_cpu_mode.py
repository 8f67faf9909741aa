"""The CPU mode of a VM's definition, as its host agent reports it (operators queue a
cpu_mode activity for the machines whose mode is not the one wanted). Nullable."""

from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise import fields


class Migration(migrations.Migration):
    dependencies = [('fenster', '0011_guest_hooks')]

    initial = False

    operations = [
        ops.AddField(
            model_name='Machine',
            name='observed_cpu_mode',
            field=fields.CharField(null=True, max_length=32),
        ),
    ]
