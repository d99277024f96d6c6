"""Rollbacks over a real OpenSSH sshd on 127.0.0.1 to the sample Django site.

Two releases go to ``production`` through the release flow (1.4.0, then 1.5.0, which adds
a migration), then the rollback flow returns the code and the database to 1.4.0: the
table the migration created is gone, ``django_migrations`` matches 1.4.0, its health
answers, and the journal marks 1.5.0 bad. A migration Django cannot reverse refuses the
rollback before anything changes.
"""

from __future__ import annotations

import contextlib
import io
import json
import sqlite3
from pathlib import Path

import pytest
from support.sshsite import SshSite
from test_ssh_deploy import add_migration, cleared

from iact_tui.config import load_config
from iact_tui.engine.events import CommandUpdate, StepFinished
from iact_tui.engine.journal import read_journal
from iact_tui.engine.rollback import RollbackRun
from iact_tui.errors import VersionError
from iact_tui.headless import run_rollback
from iact_tui.services import deploy_lock

pytestmark = pytest.mark.e2e


async def release_to_production(config: Path, state: Path) -> None:
    run = await cleared(config, state)
    run.acknowledge_rollback_plan("production", ["read"])
    run.skip_prep_item("production", "backup", "sqlite test site", typed=run.state.version)
    run.skip_prep_item("production", "notice", "nobody to tell")
    assert run.confirm("deploy-production", run.state.version)
    _ = [e async for e in run.run_until("deploy-production")]
    assert run.records["deploy-production"].status == "ok", run.records["deploy-production"]
    run.journal.close()


def tables(site: SshSite) -> set[str]:
    with contextlib.closing(sqlite3.connect(f"file:{site.app_dir / 'db.sqlite3'}?mode=ro", uri=True)) as db:
        return {row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}


def production_config(site: SshSite) -> Path:
    return site.write_config(env="production", top="[verify]\nrequests = 3\n")


async def test_rollback_returns_code_and_database_to_the_previous_release(ssh_site: SshSite, tmp_path: Path) -> None:
    site, state = ssh_site, tmp_path / "state"
    config = production_config(site)
    await release_to_production(config, state)
    assert site.health()["version"] == "1.4.0"
    v1_applied = site.applied_migrations()
    add_migration(
        site.box.repo,
        "0099_note",
        'migrations.RunSQL("CREATE TABLE core_note (id integer primary key)", "DROP TABLE core_note")',
    )
    await release_to_production(config, state)
    assert site.health()["version"] == "1.5.0" and "core_note" in tables(site)

    run = RollbackRun(load_config(config), state_dir=state)
    await run.load()
    assert (run.current_version, run.current_tag) == ("1.5.0", "v1.5.0")
    offered = run.targets()
    # The journal's deploy first; the older release tags in git follow (valid targets too).
    assert offered[0].tag == "v1.4.0" and offered[0].source == "journal"
    assert {t.source for t in offered[1:]} <= {"git"} and "v1.5.0" not in {t.tag for t in offered}
    assert run.default_target() == offered[0]
    run.choose_target("v1.4.0")
    refused = [e async for e in run.run_step("rollback-production")][-1]
    assert isinstance(refused, StepFinished) and refused.status == "failed"  # no plan yet: refused
    plan = [e async for e in run.run_step("rollback-plan")][-1]
    assert isinstance(plan, StepFinished) and plan.status == "ok", plan
    v1_core = v1_applied["core"][-1]
    assert plan.data["reverse"] == {"core": v1_core}
    assert plan.data["hosts"]["127.0.0.1"]["reversals"] == [
        {"app": "core", "target": v1_core, "unapply": ["0099_note"]}
    ]
    names = [c["name"] for c in plan.data["commands"]]
    assert names[:2] == ["maintenance mode on", f"reverse core migrations to {v1_core}"]
    assert names[-1] == "maintenance mode off"
    unconfirmed = [e async for e in run.run_step("rollback-production")][-1]
    assert isinstance(unconfirmed, StepFinished) and "type the target version" in unconfirmed.message
    assert not run.confirm("rollback-production", "1.5.0")  # the wrong version is refused
    assert run.confirm("rollback-production", "1.4.0")
    for check_id, _ in run.verify_manual_checks():
        run.tick_verify(check_id, True)
    events = [e async for e in run.run_until()]
    assert {k: r.status for k, r in run.records.items()} == {
        "rollback-plan": "ok",
        "rollback-production": "ok",
        "verify": "ok",
        "rollback-record": "ok",
    }, [r.message for r in run.records.values()]
    done = {e.name: e.status for e in events if isinstance(e, CommandUpdate)}
    assert done[f"reverse core migrations to {v1_core}"] == "ok"
    assert "core_note" not in tables(site)
    assert site.applied_migrations() == v1_applied
    assert site.health()["version"] == "1.4.0"
    assert not site.in_maintenance() and not (site.app_dir / deploy_lock.LOCK_NAME).exists()
    run.journal.close()
    kinds = {r["kind"]: r for r in read_journal(run.journal_path).records}
    assert kinds["rollback"]["from_tag"] == "v1.5.0" and kinds["rollback"]["to_tag"] == "v1.4.0"
    assert kinds["rollback"]["hosts"]["127.0.0.1"]["status"] == "ok"
    assert kinds["release_marked_bad"]["version"] == "1.5.0"

    again = RollbackRun(load_config(config), state_dir=state)
    await again.load()
    assert again.current_tag == "v1.4.0" and "1.5.0" in again.history.bad
    assert all(t.version != "1.5.0" for t in again.targets())
    with pytest.raises(VersionError, match="marked bad"):
        again.choose_target("1.5.0")
    again.journal.close()


async def test_an_irreversible_migration_refuses_the_rollback_before_anything_changes(
    ssh_site: SshSite, tmp_path: Path
) -> None:
    site, state = ssh_site, tmp_path / "state"
    config = production_config(site)
    await release_to_production(config, state)
    add_migration(site.box.repo, "0099_fill", "migrations.RunPython(lambda apps, schema_editor: None)")
    await release_to_production(config, state)
    before = site.applied_migrations()
    assert before["core"][-1] == "0099_fill"
    head = (site.app_dir / ".git" / "HEAD").read_text()

    out = io.StringIO()
    assert await run_rollback(load_config(config), to="v9.9.9", out=out, state_dir=state) == 2
    assert "no tag v9.9.9" in out.getvalue() and "nothing was changed" in out.getvalue()

    out = io.StringIO()
    status = await run_rollback(load_config(config), to="v1.4.0", out=out, state_dir=state)
    text = out.getvalue()
    assert status == 1, text
    assert "refused before anything changed" in text and "core.0099_fill" in text and "IRREVERSIBLE" in text
    assert "IrreversibleError" in text and "no database backup is recorded" in text
    assert "nothing was changed" in text
    # Nothing changed: no lock was taken, the database and the checkout are as they were.
    assert site.applied_migrations() == before
    assert (site.app_dir / ".git" / "HEAD").read_text() == head
    assert site.health()["version"] == "1.5.0" and not site.in_maintenance()
    journal = Path(text.split("journal: ")[-1].splitlines()[0].strip())
    records = read_journal(journal).records
    assert not any(r["kind"] == "command" and r.get("step_id") == "rollback-production" for r in records)
    assert not any(r["kind"] in {"rollback", "release_marked_bad"} for r in records)
    finished = [r for r in records if r["kind"] == "step_finished"]
    assert [(r["step_id"], r["status"]) for r in finished] == [("rollback-plan", "failed")]
    assert json.dumps(finished[0]["data"]["irreversible"]).count("0099_fill") == 1
