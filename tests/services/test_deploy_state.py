"""Deployed state: commit, tag, branch and applied migrations read from a real Django checkout."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from iact_tui import demo
from iact_tui.demo.history import LATEST_RELEASE
from iact_tui.errors import DeployStateError
from iact_tui.services.deploy_state import (
    DeployedState,
    MigrationPlan,
    migrations_to_reverse,
    parse_showmigrations_plan,
    read_deployed_state,
    release_tag,
)
from iact_tui.services.remote import LocalHost

PROBE = """from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [("core", "0002_project_description")]
    operations = [migrations.RunSQL("CREATE TABLE probe (id integer)", "DROP TABLE probe")]
"""


def git(*args: str, cwd: Path) -> str:
    return subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, text=True).stdout.strip()


def manage(app_dir: Path, *args: str) -> None:
    subprocess.run([sys.executable, "manage.py", *args], cwd=app_dir, check=True, capture_output=True)


def applied_in_db(app_dir: Path) -> dict[str, list[str]]:
    """The django_migrations table, read without Django: app → names in the order applied."""
    with sqlite3.connect(app_dir / "db.sqlite3") as db:
        rows = db.execute("SELECT app, name FROM django_migrations ORDER BY id").fetchall()
    table: dict[str, list[str]] = {}
    for app, name in rows:
        table.setdefault(app, []).append(name)
    return table


@pytest.fixture
def staging(quiet_sandbox: demo.Sandbox) -> Path:
    return quiet_sandbox.root / "staging"


async def read(app_dir: Path, python: str = sys.executable) -> DeployedState:
    return await read_deployed_state(LocalHost("staging"), str(app_dir), python, timeout=120)


async def test_reads_the_released_checkout(staging: Path) -> None:
    state = await read(staging)
    assert state.host == "staging" and state.app_dir == str(staging)
    assert state.commit == git("rev-parse", f"v{LATEST_RELEASE}^{{commit}}", cwd=staging)
    assert len(state.commit) == 40
    assert state.tag == f"v{LATEST_RELEASE}"
    assert state.branch is None and state.branch_or_detached == "HEAD (detached)"
    assert state.migrations == applied_in_db(staging)
    assert state.migrations["core"] == ["0001_initial", "0002_project_description"]
    assert set(state.migrations) == {"auth", "contenttypes", "core"}
    assert state.unapplied == {}
    assert DeployedState.from_json(json.loads(json.dumps(state.to_json()))) == state


async def test_the_release_tag_wins_over_other_tags_on_the_commit(staging: Path) -> None:
    """A ``deploy-…`` marker (or an rc tag) on the released commit is not taken for what runs."""
    for tag in ("deploy-test-marker", "zz-marker", f"v{LATEST_RELEASE}-rc.9"):
        git("tag", tag, cwd=staging)
    state = await read(staging)
    assert state.tag == f"v{LATEST_RELEASE}"
    assert release_tag(["deploy-1", "v1.2.0", "v1.10.0", "v1.10.0-rc.1"]) == "v1.10.0"
    assert release_tag(["deploy-1", "marker"]) == "deploy-1" and release_tag([]) is None


async def test_a_new_migration_and_the_way_back(staging: Path) -> None:
    before = await read(staging)
    (staging / "core" / "migrations" / "0003_probe.py").write_text(PROBE)
    pending = await read(staging)
    assert pending.migrations == before.migrations
    assert pending.unapplied == {"core": ["0003_probe"]}
    assert migrations_to_reverse(before, pending) == {}

    manage(staging, "migrate", "--noinput")
    after = await read(staging)
    assert after.migrations["core"] == ["0001_initial", "0002_project_description", "0003_probe"]
    assert after.migrations == applied_in_db(staging) and after.unapplied == {}
    assert {app: names for app, names in after.migrations.items() if app != "core"} == {
        app: names for app, names in before.migrations.items() if app != "core"
    }
    assert migrations_to_reverse(before, after) == {"core": "0002_project_description"}
    assert migrations_to_reverse(before, after.migrations) == {"core": "0002_project_description"}

    # The target really takes the database back to the state before.
    (app, target), *_ = migrations_to_reverse(before, after).items()
    manage(staging, "migrate", app, target, "--noinput")
    back = await read(staging)
    assert back.migrations == before.migrations and back.unapplied == {"core": ["0003_probe"]}


async def test_an_app_with_nothing_applied_goes_back_to_zero(staging: Path) -> None:
    manage(staging, "migrate", "core", "zero", "--noinput")
    before = await read(staging)
    assert "core" not in before.migrations
    assert before.unapplied == {"core": ["0001_initial", "0002_project_description"]}
    manage(staging, "migrate", "--noinput")
    after = await read(staging)
    assert migrations_to_reverse(before, after) == {"core": "zero"}


async def test_branch_and_untagged_commit(staging: Path) -> None:
    git("checkout", "-q", "-b", "hotfix", cwd=staging)
    state = await read(staging)
    assert state.branch == "hotfix" and state.branch_or_detached == "hotfix" and state.tag == f"v{LATEST_RELEASE}"
    git("commit", "-q", "--allow-empty", "-m", "a hotfix", cwd=staging)
    state = await read(staging)
    assert state.tag is None and state.commit == git("rev-parse", "HEAD", cwd=staging)


async def test_not_a_git_checkout(tmp_path: Path) -> None:
    (tmp_path / "manage.py").write_text("print('never run')\n")
    with pytest.raises(DeployStateError) as caught:
        await read(tmp_path)
    assert caught.value.what.startswith(f"staging: {tmp_path} is not a git checkout: ")
    assert "not a git repository" in caught.value.what
    with pytest.raises(DeployStateError, match="cannot enter the app directory"):
        await read(tmp_path / "missing")


async def test_broken_settings_show_the_error(staging: Path) -> None:
    settings = staging / "iact" / "settings.py"
    settings.write_text(settings.read_text() + "\nraise RuntimeError('broken settings for the test')\n")
    with pytest.raises(DeployStateError) as caught:
        await read(staging)
    what = caught.value.what
    assert "manage.py showmigrations --plan --no-color` failed in" in what and "(exit status 1)" in what
    assert what.endswith("RuntimeError: broken settings for the test")
    assert "settings" in caught.value.fix


async def test_missing_python_and_missing_manage_py(staging: Path) -> None:
    with pytest.raises(
        DeployStateError, match=r"(?s)`/no/such-python manage\.py .*/no/such-python: (not found|No such file)"
    ):
        await read(staging, "/no/such-python")
    (staging / "manage.py").unlink()
    with pytest.raises(DeployStateError, match=r"(?s)manage\.py showmigrations.*can't open file"):
        await read(staging)


async def test_hostile_values_are_refused_or_inert(staging: Path, tmp_path: Path) -> None:
    for app_dir in ("relative/dir", "", "/srv/a\nb"):
        with pytest.raises(DeployStateError, match=r"app_dir .* is not allowed"):
            await read_deployed_state(LocalHost("staging"), app_dir, sys.executable)
    with pytest.raises(DeployStateError, match=r"python .* is not allowed"):
        await read_deployed_state(LocalHost("staging"), str(staging), "")
    marker = tmp_path / "pwned"
    with pytest.raises(DeployStateError):
        await read(staging, f"python; touch {marker}")
    assert not marker.exists()


V1 = """\
[X]  contenttypes.0001_initial
[X]  auth.0001_initial
[X]  core.0001_initial
[ ]  core.0002_project_description
"""

V2 = """\
[X]  contenttypes.0001_initial
[X]  contenttypes.0002_remove_content_type_name ... (contenttypes.0001_initial)
[X]  auth.0001_initial ... (contenttypes.0001_initial)
[X]  auth.0006_require_contenttypes_0002 ... (auth.0005_alter_user_last_login_null, contenttypes.0002_remove_content_type_name)
[X]  core.0001_squashed_0004_auto_20240101_1200
[ ]  core.0005_project_archived ... (core.0001_squashed_0004_auto_20240101_1200)
[ ]  billing_v2.0001_initial ... (auth.0001_initial)
"""

NOISY = """\
System check identified some issues:

WARNINGS:
?: (staticfiles.W004) The directory '/srv/app/static' in the STATICFILES_DIRS setting does not exist.
[X]  core.0001_initial
Loading settings from /etc/app.env
[X]  core.0002_project_description
"""


@pytest.mark.parametrize(
    ("output", "applied", "unapplied"),
    [
        (V1, {"contenttypes": ["0001_initial"], "auth": ["0001_initial"], "core": ["0001_initial"]},
         {"core": ["0002_project_description"]}),
        (
            V2,
            {
                "contenttypes": ["0001_initial", "0002_remove_content_type_name"],
                "auth": ["0001_initial", "0006_require_contenttypes_0002"],
                "core": ["0001_squashed_0004_auto_20240101_1200"],
            },
            {"core": ["0005_project_archived"], "billing_v2": ["0001_initial"]},
        ),
        (NOISY, {"core": ["0001_initial", "0002_project_description"]}, {}),
        ("(no migrations)\n", {}, {}),
        ("[X]  core.0001_initial\r\n[X]  core.0002_x   \n", {"core": ["0001_initial", "0002_x"]}, {}),
    ],
    ids=["verbosity-1", "verbosity-2-deps-squashed", "noise-lines", "no-migrations", "crlf-and-trailing-space"],
)  # fmt: skip
def test_parse_plan(output: str, applied: dict[str, list[str]], unapplied: dict[str, list[str]]) -> None:
    assert parse_showmigrations_plan(output.splitlines()) == MigrationPlan(applied, unapplied)


@pytest.mark.parametrize(
    "output",
    [
        "",
        "Traceback (most recent call last):\nImportError: no module named app\n",
        # The list format (without --plan) is not a plan.
        "core\n [X] 0001_initial\n [ ] 0002_project_description\n",
        "[x]  core.0001_initial\n[*]  core.0002_x\n",
    ],
    ids=["empty", "traceback", "list-format", "unknown-marks"],
)
def test_output_without_a_plan_is_an_error(output: str) -> None:
    with pytest.raises(DeployStateError, match="printed no migration plan"):
        parse_showmigrations_plan(output.splitlines())


def state(**migrations: list[str]) -> DeployedState:
    return DeployedState("staging", "/srv/app", "a" * 40, None, "main", dict(migrations))


@pytest.mark.parametrize(
    ("before", "after", "expected"),
    [
        (state(core=["0001", "0002"]), state(core=["0001", "0002"]), {}),
        (state(core=["0001", "0002"]), state(core=["0001", "0002", "0003", "0004"]), {"core": "0002"}),
        (state(auth=["0001"]), state(auth=["0001"], core=["0001"]), {"core": "zero"}),
        (state(core=[]), state(core=["0001"]), {"core": "zero"}),
        # A migration applied before but not now comes back with the old release's own migrate.
        (state(core=["0001", "0002"]), state(core=["0001"]), {}),
        (
            state(core=["0001"], auth=["0011", "0012"], shop=["0001"]),
            state(shop=["0001", "0002"], core=["0001", "0002"], auth=["0011", "0012"]),
            {"core": "0001", "shop": "0001"},
        ),
    ],
)
def test_migrations_to_reverse(before: DeployedState, after: DeployedState, expected: dict[str, str]) -> None:
    assert migrations_to_reverse(before, after) == expected
    assert list(migrations_to_reverse(before, after)) == sorted(expected)


def test_json_round_trip_and_bad_records() -> None:
    full = DeployedState("prod", "/srv/app", "b" * 40, "v1.4.0", None, {"core": ["0001"]}, {"core": ["0002"]})
    record = full.to_json()
    assert record["format"] == "iact-deployed-state/1" and record["branch"] is None
    assert DeployedState.from_json(json.loads(json.dumps(record))) == full
    bad: list[tuple[dict[str, Any], str]] = [
        ({**record, "format": "other"}, "format"),
        ({**record, "commit": "abc"}, "'commit' 'abc' is not a full object name"),
        ({k: v for k, v in record.items() if k != "host"}, "no 'host'"),
        ({**record, "tag": 3}, "'tag' is not text or null"),
        ({**record, "migrations": {"core": "0001"}}, "'migrations' is not a table"),
        ({**record, "unapplied": [["core", "0002"]]}, "'unapplied' is not a table"),
    ]
    for data, problem in bad:
        with pytest.raises(DeployStateError) as caught:
            DeployedState.from_json(data)
        assert problem in caught.value.what
