"""Data lost by reversible migrations, read from what the real Django prints.

The demo sandbox's production site (Django from this venv, SQLite) gets migrations that
create and drop tables and columns and run Python/SQL with no-op reverses; they are
applied, then ``manage.py migrate core 0002_project_description --plan`` is asked on the
"host" (the local transport) as the rollback plan asks it.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from iact_tui import demo
from iact_tui.services import rollback as rb
from iact_tui.services.remote import LocalHost

MIGRATIONS = {
    "0003_project_archived": """
    operations = [migrations.AddField("project", "archived", models.BooleanField(default=False))]
""",
    "0004_report": """
    operations = [
        migrations.CreateModel("Report", [("id", models.BigAutoField(primary_key=True)), ("title", models.CharField(max_length=100))]),
        migrations.RunPython(fill, migrations.RunPython.noop),
        migrations.RunPython(fill, unfill),
        migrations.RunSQL("CREATE TABLE core_note (id integer primary key)", "DROP TABLE core_note"),
        migrations.RunSQL("UPDATE core_project SET archived = 0", migrations.RunSQL.noop),
        migrations.AlterField("report", "title", models.CharField(max_length=200)),
        migrations.AddIndex("report", models.Index(fields=["title"], name="core_report_title_idx")),
        migrations.RenameField("report", "title", "name"),
    ]
""",
    "0005_drop": """
    operations = [migrations.RemoveField("project", "description"), migrations.DeleteModel("Report")]
""",
}
HEAD = '''from django.db import migrations, models


def fill(apps, schema_editor):
    """Fill the reports."""


def unfill(apps, schema_editor):
    """Empty the reports again."""


class Migration(migrations.Migration):
    dependencies = [("core", "{previous}")]
'''


@pytest.fixture
def site(quiet_sandbox: demo.Sandbox) -> Path:
    """The sandbox's production site with 0003-0005 applied."""
    app = quiet_sandbox.root / "production"
    previous = "0002_project_description"
    for name, body in MIGRATIONS.items():
        (app / "core" / "migrations" / f"{name}.py").write_text(HEAD.format(previous=previous) + body)
        previous = name
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "core", "--noinput"], cwd=app, check=True, capture_output=True
    )
    return app


async def test_reversals_that_lose_data_are_named(site: Path) -> None:
    plan = await rb.backwards_plan(
        LocalHost("production"), str(site), sys.executable, "core", "0002_project_description"
    )
    assert plan.migrations == ("core.0005_drop", "core.0004_report", "core.0003_project_archived")
    assert not plan.irreversible
    lost = {(d.migration, d.operation): d.loss for d in plan.data_loss}
    assert lost == {
        ("core.0005_drop", "Undo Remove field description from project"): (
            "recreates column core_project.description with its default: the values it held are not restored"
        ),
        ("core.0005_drop", "Undo Delete model Report"): (
            "recreates table core_report empty: the rows deleted with it are not restored"
        ),
        ("core.0004_report", "Undo Create model Report"): "drops table core_report and its rows",
        ("core.0004_report", "Raw Python operation"): (
            "its reverse_code is RunPython.noop or undocumented: what the forward code changed may stay changed "
            "(read the migration)"
        ),
        ("core.0004_report", "Raw SQL operation -> DROP TABLE core_note"): (
            "drops table core_note and its rows (reverse_sql `DROP TABLE core_note`)"
        ),
        ("core.0004_report", "Raw SQL operation"): (
            "its reverse_sql is a no-op: what the forward SQL changed stays changed"
        ),
        ("core.0004_report", "Undo Alter field title on report"): (
            "changes column core_report.title back: values that do not fit the old definition are lost"
        ),
        ("core.0003_project_archived", "Undo Add field archived to project"): (
            "drops column core_project.archived and its values"
        ),
    }
    # a documented reverse, an index, a rename lose nothing
    described = {op.description for op in plan.operations}
    assert {
        "Raw Python operation -> Empty the reports again.",
        "Undo Rename field title on report to name",
        "Undo Create index core_report_title_idx on field(s) title of model report",
    } <= described
    assert all("Rename" not in d.operation and "index" not in d.operation for d in plan.data_loss)
    assert len(plan.data_loss) == len(lost)  # each named once
    # a proxy model has no table (Django's describe(): "Create proxy model X")
    assert rb.data_loss("core.0004_report", "Undo Create proxy model ReportProxy") is None
