"""Merge of the two 0005 migrations the imp-formats branch merged (boards' workflows, collab-edit's issue links).

The integrator may drop this file when linearising the issues migrations (one after the other instead).
"""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [("issues", "0005_boards_workflow"), ("issues", "0005_collab_edit_issue_links")]

    operations: list = []
