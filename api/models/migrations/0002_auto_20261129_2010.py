from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise import fields

class Migration(migrations.Migration):
    dependencies = [('fenster', '0001_initial')]

    initial = False

    operations = [
        ops.AddField(
            model_name='Window',
            name='claimed_by',
            field=fields.CharField(null=True, max_length=100),
        ),
    ]
