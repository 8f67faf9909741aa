from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise.fields.base import OnDelete
from tortoise import fields

class Migration(migrations.Migration):
    dependencies = [('fenster', '0002_auto_20261129_2010')]

    initial = False

    operations = [
        ops.CreateModel(
            name='RolloutMember',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('rollout', fields.ForeignKeyField('fenster.Rollout', source_field='rollout_id', db_constraint=True, to_field='id', related_name='members', on_delete=OnDelete.CASCADE)),
                ('wave', fields.ForeignKeyField('fenster.Wave', source_field='wave_id', db_constraint=True, to_field='id', related_name='members', on_delete=OnDelete.CASCADE)),
                ('machine', fields.ForeignKeyField('fenster.Machine', source_field='machine_id', db_constraint=True, to_field='id', related_name='rollout_members', on_delete=OnDelete.CASCADE)),
            ],
            options={'table': 'rollout_member', 'app': 'fenster', 'unique_together': (('rollout', 'machine'),), 'pk_attr': 'id', 'table_description': 'Which wave of a rollout a machine goes in (one wave per machine and rollout).'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='RolloutUpdate',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('rollout', fields.ForeignKeyField('fenster.Rollout', source_field='rollout_id', db_constraint=True, to_field='id', related_name='updates', on_delete=OnDelete.CASCADE)),
                ('body', fields.TextField(unique=False)),
                ('author', fields.CharField(default='system', max_length=100)),
                ('mailed', fields.BooleanField(default=False)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={'table': 'rollout_update', 'app': 'fenster', 'pk_attr': 'id', 'table_description': 'A status update an operator posted to a rollout (Markdown).'},
            bases=['Model'],
        ),
        ops.AddField(
            model_name='Rollout',
            name='announced_at',
            field=fields.DatetimeField(null=True, auto_now=False, auto_now_add=False),
        ),
        ops.AddField(
            model_name='Rollout',
            name='kernel',
            field=fields.CharField(default='', db_default='', max_length=64),
        ),
        ops.AddField(
            model_name='Rollout',
            name='releases',
            field=fields.ManyToManyField('fenster.PackageRelease', unique=True, db_constraint=True, through='rollout_release', forward_key='packagerelease_id', backward_key='rollout_id', related_name='rollouts', on_delete=OnDelete.CASCADE),
        ),
        ops.AddField(
            model_name='Wave',
            name='soak_minutes',
            field=fields.IntField(default=0, db_default=0),
        ),
    ]
