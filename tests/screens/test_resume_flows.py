"""Welcome offers an unfinished rollback or hotfix too; resuming it opens its screen as it stood.

The rollback: planned, typed, rolled back (production runs v1.3.1), then iact-tui dies
while verifying. Welcome must offer to resume *that* rollback (not let a second one go
back further), the screen must show it as it stood (the target fixed, the plan "before
the rollback", the interrupted output), ``r`` verifies, the ticks and ``c`` record it,
and v1.3.2 ends marked bad. Leaving the run for good asks for its version first.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from test_hotfix_screen import tick_by_hand
from textual.widgets import Input, OptionList, Select, Static
from ui_helpers import settle

from iact_tui import demo
from iact_tui.app import make_app
from iact_tui.config import load_config
from iact_tui.engine import history
from iact_tui.engine.events import OutputLine, StepStarted
from iact_tui.engine.resume import FLOWS, find_unfinished, read_records
from iact_tui.engine.rollback import RollbackRun
from iact_tui.screens import WelcomeScreen
from iact_tui.screens.leave_unfinished import LeaveUnfinishedModal
from iact_tui.screens.rollback import RollbackScreen
from iact_tui.widgets import CommandLog, DeployTable

OUTPUT = "health of production: reading before the crash"


async def crashed_rollback(config_path: Path, state: Path | None) -> RollbackRun:
    """A rollback to v1.3.1 as a process killed while verifying leaves it."""
    run = RollbackRun(load_config(config_path), state_dir=state)
    await run.load()
    run.choose_target("1.3.1")
    assert run.confirm(run.deploy_step_id, "1.3.1")
    async for _ in run.run_until(run.deploy_step_id):
        pass
    assert run.records[run.deploy_step_id].status == "ok"
    run.journal.event(StepStarted("verify", "Verify production"))
    run.journal.event(OutputLine("verify", OUTPUT))
    run.journal.close()  # no run_finished: the process died
    return run


async def modal_shown(app: object, pilot: object) -> LeaveUnfinishedModal:
    """Wait for the question (its worker waits for the answer: ``settle`` would too)."""
    for _ in range(200):
        await pilot.pause(0.05)  # type: ignore[attr-defined]
        if isinstance(app.screen, LeaveUnfinishedModal):  # type: ignore[attr-defined]
            return app.screen  # type: ignore[attr-defined]
    raise AssertionError("the question was not asked")


def options(screen: WelcomeScreen) -> list[str]:
    choice = screen.query_one("#flow-choice", OptionList)
    return [str(choice.get_option_at_index(i).prompt) for i in range(choice.option_count)]


async def test_a_crashed_rollback_is_offered_resumed_as_it_stood_and_recorded(
    sandbox: demo.Sandbox, tmp_path: Path
) -> None:
    state = tmp_path / "state"
    old = await crashed_rollback(sandbox.config_path, state)
    config = load_config(sandbox.config_path)
    app = make_app(config, state_dir=state, snapshot_mode=True)
    async with app.run_test(size=(130, 44)) as pilot:
        await settle(app, pilot)
        welcome = app.screen
        assert isinstance(welcome, WelcomeScreen)
        first, second, *rest = options(welcome)
        assert "Resume rollback of production to v1.3.1 (stopped at Verify production, just now)" in first
        assert "Verify production interrupted" in first
        assert second.startswith("[b]Release[/b]")  # not "Start a new release": a rollback is offered
        assert len(rest) == 3
        await pilot.press("enter")
        await settle(app, pilot)
        screen = app.screen
        assert isinstance(screen, RollbackScreen)
        run = screen.run
        assert run.journal_path == old.journal_path and run.state.version == "1.3.1"
        # As it stood: the target fixed, what ran before and now, the plan before the rollback.
        select = screen.query_one("#rollback-target", Select)
        assert select.value == "1.3.1" and select.disabled
        current = str(screen.query_one("#rollback-current", Static).render())
        assert current.startswith("production runs v1.3.1 (1 host: production), rolled back from v1.3.2"), current
        assert screen.query_one("#rollback-plan", Static).border_title == "Plan (before the rollback)"
        assert "Each host runs" in str(screen.query_one("#rollback-plan", Static).render())
        # The rollback's commands as they ended on the host (from the journal).
        table = screen.query_one("#rollback-table", DeployTable)
        assert table.row_count >= 5 and table.display, table.row_count
        log = screen.query_one(CommandLog)
        log.flush()
        assert any(OUTPUT in str(line) for line in log.log_widget.lines)
        status = str(screen.query_one("#rollback-status", Static).render())
        assert "interrupted" in status and "r" in status, status
        assert not screen.check_action("rollback", ())  # the rollback step passed: b does not run it again
        await pilot.press("r")
        await settle(app, pilot)
        assert run.records["verify"].status == "ok", screen.failure
        # Left half done (asked first): Welcome offers it again at once.
        await pilot.press("escape", "y")
        await settle(app, pilot)
        assert app.screen is welcome
        assert "Every input is kept; next: Verify production." in options(welcome)[0]  # its ticks
        await pilot.press("enter")
        await settle(app, pilot)
        screen = app.screen
        assert isinstance(screen, RollbackScreen) and screen.run.journal_path == old.journal_path
        run = screen.run
        assert run.records["verify"].status == "ok" and screen.ticks.display
        await tick_by_hand(pilot, screen, "rollback-record")
        await pilot.press("c")
        await settle(app, pilot)
        assert run.records["rollback-record"].status == "ok", screen.failure
        assert "rolled back from v1.3.2 to v1.3.1; v1.3.2 marked bad" in str(
            screen.query_one("#rollback-status", Static).render()
        )
        await pilot.press("escape")
        await settle(app, pilot)
        assert isinstance(app.screen, WelcomeScreen)
        assert not any("Resume" in o for o in options(app.screen))
    kinds = [r["kind"] for r in read_records(old.journal_path)]
    assert kinds.count("run_started") == 1 and kinds.count("run_resumed") == 2  # after the crash, after leaving
    assert kinds.count("confirmation") == 1  # typed before the crash: kept
    assert "1.3.2" in history.read_history("production", "v", state, repo=config.root).bad
    assert find_unfinished(config, state, flows=FLOWS) is None


async def test_choosing_rollback_over_an_unfinished_one_asks_for_its_version_first(
    sandbox: demo.Sandbox, tmp_path: Path
) -> None:
    """A second rollback would go back further from v1.3.1 while v1.3.2 is not marked
    bad: choosing Rollback asks to leave the unfinished one for good (typed version);
    Cancel keeps it offered."""
    state = tmp_path / "state"
    await crashed_rollback(sandbox.config_path, state)
    config = load_config(sandbox.config_path)
    app = make_app(config, state_dir=state, snapshot_mode=True)
    async with app.run_test(size=(130, 44)) as pilot:
        await settle(app, pilot)
        welcome = app.screen
        assert isinstance(welcome, WelcomeScreen)
        choice = welcome.query_one("#flow-choice", OptionList)
        choice.highlighted = next(
            i for i in range(choice.option_count) if choice.get_option_at_index(i).id == "rollback"
        )
        await pilot.press("enter")
        modal = await modal_shown(app, pilot)
        said = str(modal.query_one("#leave-question", Static).render())
        assert "Leave rollback of production to v1.3.1 unfinished for good?" in said, said
        assert "start a new rollback" in said
        await pilot.press("escape")
        for _ in range(40):
            await pilot.pause(0.05)
        assert app.screen is welcome and "Resume rollback" in options(welcome)[0]
        assert find_unfinished(config, state, flows=FLOWS) is not None  # Cancel left it as it was
        choice.highlighted = next(
            i for i in range(choice.option_count) if choice.get_option_at_index(i).id == "rollback"
        )
        await pilot.press("enter")
        modal = await modal_shown(app, pilot)
        modal.query_one("#confirm-input", Input).value = "1.3.1"
        await pilot.press("enter")
        await settle(app, pilot)
        fresh = app.screen
        assert isinstance(fresh, RollbackScreen) and fresh.resumed is None
        assert fresh.run.current_tag == "v1.3.1"  # a new rollback starts from what runs now
        await pilot.press("escape")
        await settle(app, pilot)
        assert not any("Resume" in o for o in options(welcome))
    assert find_unfinished(config, state, flows=FLOWS) is None  # left for good (run_abandoned)


async def test_a_hotfix_stopped_after_its_production_deploy_is_resumed_there(
    sandbox: demo.Sandbox, tmp_path: Path
) -> None:
    """A hotfix deployed to production and left before its verification (the process
    ended after the deploy): Welcome offers it; its screen shows every step as it ended,
    the changelog section read-only, the acknowledged plan, and says the verification
    has not run; ``r`` verifies, the ticks and ``c`` backport, with the version kept
    (production runs v1.3.3 by then: a new hotfix would be v1.3.4)."""
    import io

    from test_hotfix_screen import commit_fix

    from iact_tui.headless import run_hotfix
    from iact_tui.screens.hotfix import HotfixScreen

    state = tmp_path / "state"
    config = load_config(sandbox.config_path)
    out = io.StringIO()
    assert await run_hotfix(config, out=out, until="hotfix-branch", state_dir=state) == 0, out.getvalue()
    commit_fix(sandbox.repo)
    assert await run_hotfix(config, out=out, until="deploy-production", state_dir=state) == 0, out.getvalue()
    app = make_app(config, state_dir=state, snapshot_mode=True)
    async with app.run_test(size=(130, 44)) as pilot:
        await settle(app, pilot)
        welcome = app.screen
        assert isinstance(welcome, WelcomeScreen)
        assert "Resume hotfix v1.3.3 (next step: Verify production, just now)" in options(welcome)[0]
        await pilot.press("enter")
        await settle(app, pilot)
        screen = app.screen
        assert isinstance(screen, HotfixScreen)
        run = screen.run
        assert (run.state.version, run.branch, run.production_tag) == ("1.3.3", "hotfix/v1.3.3", "v1.3.2")
        from textual.widgets import TextArea

        from iact_tui.widgets import CheckTable

        editor = screen.query_one("#hotfix-changelog", TextArea)
        assert editor.read_only and "### Fixed" in editor.text and "Say how long clients should wait" in editor.text
        assert "say how long clients should wait" in str(screen.query_one("#hotfix-commits", Static).render())
        assert "production ran v1.3.2 when this hotfix started (resumed); hotfix v1.3.3 on hotfix/v1.3.3" in str(
            screen.query_one("#hotfix-production", Static).render()
        )
        steps = screen.query_one("#hotfix-steps", CheckTable)
        assert steps.status_of("tag") == "ok" and steps.status_of("deploy-production") == "ok"
        assert screen.plan_lines and screen.acknowledged()
        status = str(screen.query_one("#hotfix-status", Static).render())
        assert "Verify production has not run" in status, status
        await pilot.press("r")
        await settle(app, pilot)
        assert run.records["verify"].status == "ok", screen.failure
        await tick_by_hand(pilot, screen, "backport")
        await pilot.press("c")
        await settle(app, pilot)
        assert run.records["backport"].status == "ok", screen.failure
    assert find_unfinished(config, state, flows=FLOWS) is None


async def test_iact_tui_rollback_resumes_the_unfinished_rollback_rather_than_start_another(
    sandbox: demo.Sandbox, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``iact-tui rollback`` (the rollback app alone) finds the crashed rollback and opens
    it resumed, saying so; with none, a new run."""
    import asyncio

    from iact_tui import cli
    from iact_tui.rollback_app import RollbackApp

    old = await crashed_rollback(sandbox.config_path, None)  # the CLI reads the default state dir
    config = load_config(sandbox.config_path)
    assert await asyncio.to_thread(cli._unfinished, config, "rollback", "staging") is None
    found = await asyncio.to_thread(cli._unfinished, config, "rollback", "production")
    assert found is not None and found.journal == old.journal_path
    assert "resuming the unfinished rollback of production to v1.3.1: (stopped at Verify production" in (
        capsys.readouterr().out
    )
    run, replayed = await asyncio.to_thread(cli._resumed, config, found, RollbackRun)
    app = RollbackApp(run, snapshot_mode=True, resumed=replayed)
    async with app.run_test(size=(130, 44)) as pilot:
        await settle(app, pilot)
        screen = app.screen
        assert isinstance(screen, RollbackScreen) and screen.resumed is replayed
        assert screen.query_one("#rollback-target", Select).disabled
        assert "interrupted" in str(screen.query_one("#rollback-status", Static).render())
