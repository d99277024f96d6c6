"""Starting a new release over an unfinished one that changed things asks first (what it
did, its version typed); once left, it is journaled ``run_abandoned`` and Welcome no
longer offers it, so the journal never says "abandoned" of a run that goes on."""

from __future__ import annotations

from pathlib import Path

from textual.pilot import Pilot
from textual.widgets import Input, OptionList, Static
from ui_helpers import settle

from iact_tui.app import make_app
from iact_tui.config import load_config
from iact_tui.engine.events import StepFinished, StepStarted
from iact_tui.engine.resume import read_records
from iact_tui.engine.run import ReleaseRun
from iact_tui.screens import WelcomeScreen
from iact_tui.screens.leave_unfinished import LeaveUnfinishedModal
from iact_tui.screens.version import VersionScreen


async def _tagged_and_quit(config_path: Path, state: Path) -> ReleaseRun:
    """A release run that made its branch and tag, then its process died."""
    run = ReleaseRun(load_config(config_path), state_dir=state)
    await run.load_versions()
    run.choose_bump("minor")
    run.journal.event(StepStarted("preflight", "Pre-release checklist"))
    run.journal.event(StepFinished("preflight", "ok", "every check passed", data={"version": run.state.version}))
    for sid in ("branch", "tag"):
        run.journal.event(StepStarted(sid, run.step(sid).title))
        run.journal.event(StepFinished(sid, "ok", f"{sid} done"))
    run.journal.close()
    run.release_run_lock()
    return run


async def _until_modal(app: object, pilot: Pilot[None]) -> None:
    """Pause until the question is up (its worker waits for the answer: no settle)."""
    for _ in range(200):
        await pilot.pause(0.01)
        if isinstance(app.screen, LeaveUnfinishedModal):  # type: ignore[attr-defined]
            return


def _options(app: object) -> list[str]:
    screen = app.screen  # type: ignore[attr-defined]
    choice = screen.query_one("#flow-choice", OptionList)
    return [choice.get_option_at_index(i).id or "" for i in range(choice.option_count)]


async def test_leaving_a_tagged_release_asks_first_and_then_offers_it_no_more(
    tiny_config_path: Path, tmp_path: Path
) -> None:
    old = await _tagged_and_quit(tiny_config_path, tmp_path / "state")
    app = make_app(load_config(tiny_config_path), state_dir=tmp_path / "state", snapshot_mode=True)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(app, pilot)
        assert _options(app)[:2] == ["resume", "release"]
        await pilot.press("down", "enter")  # Start a new release
        await _until_modal(app, pilot)
        modal = app.screen
        assert isinstance(modal, LeaveUnfinishedModal)
        question = str(modal.query_one("#leave-question", Static).render())
        assert "Leave release v0.2.0 unfinished for good? It is tagged (" in question
        assert (
            "Create release branch: ok" in question and "Its journal stays; it will not be offered again." in question
        )
        await pilot.press("escape")  # changed my mind: nothing recorded
        await settle(app, pilot)
        assert isinstance(app.screen, WelcomeScreen)
        assert "run_abandoned" not in [r["kind"] for r in read_records(old.journal_path)]

        await pilot.press("down", "enter")
        await _until_modal(app, pilot)
        assert isinstance(app.screen, LeaveUnfinishedModal)
        app.screen.query_one("#confirm-input", Input).value = "0.2.0"
        await pilot.press("enter")
        await settle(app, pilot)
        assert isinstance(app.screen, VersionScreen)
        assert "run_abandoned" in [r["kind"] for r in read_records(old.journal_path)]

        await pilot.press("escape")  # back to Welcome: the abandoned run is not offered
        await settle(app, pilot)
        assert isinstance(app.screen, WelcomeScreen)
        assert "resume" not in _options(app)
        assert app.screen.unfinished is None
