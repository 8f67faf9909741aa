from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise import fields


class Migration(migrations.Migration):
    dependencies = [('fenster', '0006_foreign_key_indexes')]

    initial = False

    operations = [
        ops.AddField(
            model_name='Window',
            name='stuck_at',
            field=fields.DatetimeField(null=True, auto_now=False, auto_now_add=False),
        ),
    ]
