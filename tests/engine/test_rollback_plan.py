"""The rollback plan on the demo sandbox (local transport, the real Django of this venv).

Production runs v1.3.2; v1.1.0 has no ``core.0002_project_description`` (an ``AddField``),
so going back there drops a column: the plan warns of it per host, in the lines the
headless runner prints, in its data and in the journal, and still passes (the typed
target version remains the gate).
"""

from __future__ import annotations

from pathlib import Path

from iact_tui import demo
from iact_tui.config import load_config
from iact_tui.engine.events import CheckUpdate, OutputLine, StepFinished
from iact_tui.engine.journal import read_journal
from iact_tui.engine.rollback import RollbackRun

LOSS = "drops column core_project.description and its values"
WARNING = (
    "production: data loss: reversing core.0002_project_description (Undo Add field description to project) " + LOSS
)


async def test_plan_warns_of_data_lost_by_a_reversible_migration(quiet_sandbox: demo.Sandbox, tmp_path: Path) -> None:
    run = RollbackRun(load_config(quiet_sandbox.config_path), state_dir=tmp_path / "state")
    await run.load()
    run.choose_target("1.1.0")
    events = [e async for e in run.run_step("rollback-plan")]
    finished = events[-1]
    assert isinstance(finished, StepFinished) and finished.status == "ok", finished
    assert finished.data["warnings"] == [WARNING]
    assert finished.data["data_loss"] == [
        {
            "host": "production",
            "migration": "core.0002_project_description",
            "operation": "Undo Add field description to project",
            "loss": LOSS,
        }
    ]
    assert "1 reversal(s) lose data" in finished.message
    # the check of that reversal is a warning, not a pass
    core = [e for e in events if isinstance(e, CheckUpdate) and e.check_id == "migrate:production:core"][-1]
    assert core.status == "warning" and core.detail.startswith("1 operation(s) lose data"), core
    printed = [e.text for e in events if isinstance(e, OutputLine)]
    assert f"! {WARNING}" in printed
    assert f"    ! core.0002_project_description: Undo Add field description to project — {LOSS}" in printed
    records = read_journal(run.journal_path).records
    noted = next(r for r in records if r["kind"] == "rollback_data_loss")
    assert noted["target"] == "v1.1.0" and noted["losses"] == finished.data["data_loss"]
    journaled = next(r for r in records if r["kind"] == "step_finished" and r["step_id"] == "rollback-plan")
    assert journaled["data"]["warnings"] == [WARNING]
    # the typed target version is still what lets the rollback run
    assert run.needs_confirmation(run.deploy_step_id) and not run.confirm(run.deploy_step_id, "1.3.2")
    assert run.confirm(run.deploy_step_id, "v1.1.0")
    run.journal.close()


async def test_plan_warns_when_a_post_command_needs_a_command_the_target_lacks(
    quiet_sandbox: demo.Sandbox, tmp_path: Path
) -> None:
    """`manage.py maintenance` came in v1.2.0: going back to v1.1.0 with it as a post
    command would fail after the checkout and leave maintenance mode on; v1.3.1 has it."""
    path = quiet_sandbox.config_path
    text = path.read_text(encoding="utf-8")
    assert "rm -f MAINTENANCE" in text  # the demo's own post command works with any release
    path.write_text(text.replace("rm -f MAINTENANCE", "{python} manage.py maintenance off"), encoding="utf-8")
    found: dict[str, list[str]] = {}
    for target in ("1.1.0", "1.3.1"):
        run = RollbackRun(load_config(path), state_dir=tmp_path / "state")
        await run.load()
        run.choose_target(target)
        events = [e async for e in run.run_step("rollback-plan")]
        finished = events[-1]
        assert isinstance(finished, StepFinished) and finished.status == "ok", finished
        found[target] = [w for w in finished.data["warnings"] if "post command" in w]
        run.journal.close()
    assert found["1.3.1"] == []
    assert found["1.1.0"] == [
        "post command 'maintenance mode off' runs `manage.py maintenance`, which v1.1.0 does not have "
        "(core/management/commands/maintenance.py came later): post commands run with the target's code, so it "
        "will fail after the checkout; make it work with any release (e.g. `rm -f MAINTENANCE` instead of a "
        "management command) before rolling back"
    ]
