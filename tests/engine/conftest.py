"""Engine test helpers: a run whose checklist has really passed (the gate every release step checks)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest

from iact_tui import demo
from iact_tui.config import load_config
from iact_tui.engine.events import StepFinished
from iact_tui.engine.run import ReleaseRun

NewRun = Callable[..., Awaitable[ReleaseRun]]


async def pass_checklist(run: ReleaseRun) -> None:
    """Run the real preflight and tick the manual items."""
    events = [e async for e in run.run_step("preflight")]
    last = events[-1]
    assert isinstance(last, StepFinished) and last.status == "ok", last
    for check_id, _ in run.manual_checks():
        run.tick(check_id, True)
    assert run.checklist_complete()


@pytest.fixture
def cleared_run(tmp_path: Path) -> NewRun:
    """Make a run on a sandbox with the version chosen and the checklist passed."""

    async def make(box: demo.Sandbox, bump: str = "minor", *, checklist: bool = True) -> ReleaseRun:
        run = ReleaseRun(load_config(box.config_path), state_dir=tmp_path / "state")
        await run.load_versions()
        run.choose_bump(bump)
        if checklist:
            await pass_checklist(run)
        return run

    return make
