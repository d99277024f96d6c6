"""The announcement's line on a verification passed after earlier attempts says how
each earlier attempt ended (interrupted by a kill, failed, cancelled), from the journal."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from iact_tui import demo
from iact_tui.config import load_config
from iact_tui.engine.events import StepFinished, StepStarted
from iact_tui.engine.run import ReleaseRun
from iact_tui.engine.steps.announce import render_announcement, verify_outcomes


def _line(run: ReleaseRun, outcomes: list[str]) -> str:
    text = render_announcement(run.ctx, "### Added\n- CSV.", dt.datetime.now(dt.UTC), verify_outcomes=outcomes)
    return next(line for line in text.splitlines() if "passed on attempt" in line)


async def test_an_interrupted_first_attempt_is_not_called_failed(quiet_sandbox: demo.Sandbox, tmp_path: Path) -> None:
    run = ReleaseRun(load_config(quiet_sandbox.config_path), state_dir=tmp_path / "state")
    await run.load_versions()
    run.choose_bump("minor")
    run.journal.event(StepStarted("verify", "Verify production"))  # killed -9 here
    run.journal.write("run_resumed", pid=1, version=run.state.version, stopped_at="verify")
    run.journal.event(StepStarted("verify", "Verify production"))
    run.journal.event(StepFinished("verify", "ok", "verified", data={"attempt": 2}))
    run.journal.close()
    outcomes = verify_outcomes(run.ctx)
    assert outcomes == ["interrupted", "ok"]
    run.state.results["verify"] = {"attempt": 2}
    assert _line(run, outcomes) == (
        "- Verification passed on attempt 2; the earlier attempt was interrupted (see the journal)."
    )
    run.state.results["verify"] = {"attempt": 3}
    assert _line(run, ["failed", "failed", "ok"]).endswith("; the earlier attempts failed (see the journal).")
    assert _line(run, ["interrupted", "failed", "ok"]).endswith(
        "; attempt 1 was interrupted and attempt 2 failed (see the journal)."
    )
    run.state.results["verify"] = {"attempt": 2}
    assert _line(run, ["failed", "ok"]).endswith("; the earlier attempt failed (see the journal).")
