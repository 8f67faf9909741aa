from tortoise import migrations
from tortoise.migrations import operations as ops

class Migration(migrations.Migration):
    dependencies = [('fenster', '0004_leases')]

    initial = False

    operations = [
        ops.DeleteModel(name='RolloutUpdate'),
    ]
