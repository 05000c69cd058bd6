from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("imports", "0003_job_files_expired")]

    operations = [
        migrations.AddField(model_name="job", name="summary", field=models.JSONField(blank=True, default=dict)),
        migrations.AlterField(
            model_name="job",
            name="format",
            field=models.CharField(
                blank=True,
                choices=[
                    ("jira_json", "Jira JSON (REST search results)"),
                    ("jira_csv", "Jira CSV export"),
                    ("taskra_jsonl", "Taskra JSON Lines"),
                    ("jira_xml", "Jira XML (search results export)"),
                    ("jira_backup", "Jira site backup (zip with entities.xml)"),
                    ("", "-"),
                ],
                default="",
                max_length=16,
            ),
        ),
    ]
