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
from iact_tui.engine.events import OutputLine, StepFinished
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
    printed = [e.text for e in events if isinstance(e, OutputLine)]
    assert f"! {WARNING}" in printed
    assert f"    ! core.0002_project_description: Undo Add field description to project — {LOSS}" in printed
    records = read_journal(run.journal_path)
    noted = next(r for r in records if r["kind"] == "rollback_data_loss")
    assert noted["target"] == "v1.1.0" and noted["losses"] == finished.data["data_loss"]
    journaled = next(r for r in records if r["kind"] == "step_finished" and r["step_id"] == "rollback-plan")
    assert journaled["data"]["warnings"] == [WARNING]
    # the typed target version is still what lets the rollback run
    assert run.needs_confirmation(run.deploy_step_id) and not run.confirm(run.deploy_step_id, "1.3.2")
    assert run.confirm(run.deploy_step_id, "v1.1.0")
    run.journal.close()
