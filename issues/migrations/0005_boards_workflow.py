"""Per-project workflows (WorkflowStatus, WorkflowTransition), board WIP limits and Issue.rank.

Existing projects get Jira's default workflow so nothing breaks: the default statuses plus every status their
issues use, in the global status order, with a global "any -> X" transition to each (every move allowed).
Issue.rank stays NULL on existing rows (no backfill: unranked issues sort after ranked ones, by id).
"""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models


from issues.defaults import STATUSES


def default_workflows(apps, schema_editor):
    Project = apps.get_model("issues", "Project")
    Status = apps.get_model("issues", "Status")
    Issue = apps.get_model("issues", "Issue")
    WorkflowStatus = apps.get_model("issues", "WorkflowStatus")
    WorkflowTransition = apps.get_model("issues", "WorkflowTransition")
    defaults = set(Status.objects.filter(name__in=[n for n, _c, _p in STATUSES]).values_list("pk", flat=True))
    order = list(Status.objects.order_by("position", "name").values_list("pk", flat=True))
    used: dict[int, set[int]] = {}
    for project_id, status_id in Issue.objects.values_list("project_id", "status_id").distinct():
        used.setdefault(project_id, set()).add(status_id)
    for project_id in Project.objects.values_list("pk", flat=True):
        wanted = defaults | used.get(project_id, set())
        steps = [pk for pk in order if pk in wanted]
        WorkflowStatus.objects.bulk_create(
            [WorkflowStatus(project_id=project_id, status_id=pk, position=i) for i, pk in enumerate(steps, start=1)]
        )
        WorkflowTransition.objects.bulk_create(
            [WorkflowTransition(project_id=project_id, from_status_id=None, to_status_id=pk) for pk in steps]
        )


class Migration(migrations.Migration):

    dependencies = [
        ('issues', '0004_page_cache_outbox'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.CreateModel(
            name='WorkflowStatus',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('position', models.PositiveSmallIntegerField(default=0)),
                ('wip_limit', models.PositiveIntegerField(blank=True, null=True)),
            ],
            options={
                'verbose_name': 'workflow status',
                'verbose_name_plural': 'workflow statuses',
                'ordering': ['project', 'position', 'id'],
            },
        ),
        migrations.CreateModel(
            name='WorkflowTransition',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('name', models.CharField(blank=True, default='', max_length=60)),
            ],
            options={
                'ordering': ['project', 'id'],
            },
        ),
        migrations.AddField(
            model_name='issue',
            name='rank',
            field=models.BigIntegerField(blank=True, editable=False, null=True),
        ),
        migrations.AddIndex(
            model_name='issue',
            index=models.Index(fields=['project', 'status', 'rank', 'id'], name='issue_board_rank'),
        ),
        migrations.AddField(
            model_name='workflowstatus',
            name='project',
            field=models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='workflow_statuses', to='issues.project'),
        ),
        migrations.AddField(
            model_name='workflowstatus',
            name='status',
            field=models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='workflow_steps', to='issues.status'),
        ),
        migrations.AddField(
            model_name='workflowtransition',
            name='from_status',
            field=models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.CASCADE, related_name='+', to='issues.status'),
        ),
        migrations.AddField(
            model_name='workflowtransition',
            name='project',
            field=models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='workflow_transitions', to='issues.project'),
        ),
        migrations.AddField(
            model_name='workflowtransition',
            name='to_status',
            field=models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='+', to='issues.status'),
        ),
        migrations.AddConstraint(
            model_name='workflowstatus',
            constraint=models.UniqueConstraint(fields=('project', 'status'), name='workflowstatus_unique'),
        ),
        migrations.AddConstraint(
            model_name='workflowtransition',
            constraint=models.UniqueConstraint(condition=models.Q(('from_status__isnull', False)), fields=('project', 'from_status', 'to_status'), name='workflowtransition_unique'),
        ),
        migrations.AddConstraint(
            model_name='workflowtransition',
            constraint=models.UniqueConstraint(condition=models.Q(('from_status__isnull', True)), fields=('project', 'to_status'), name='workflowtransition_unique_any'),
        ),
        migrations.RunPython(default_workflows, migrations.RunPython.noop),
    ]
