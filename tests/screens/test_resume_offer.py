"""Welcome offers an unfinished release run first; resuming it brings every input back."""

from __future__ import annotations

from pathlib import Path

import pytest
from textual.widgets import Input, OptionList, Static, TextArea
from ui_helpers import settle

from iact_tui.app import make_app, unfinished_release
from iact_tui.config import load_config
from iact_tui.engine.events import CheckUpdate, OutputLine, StepFinished, StepStarted
from iact_tui.engine.journal import Journal
from iact_tui.engine.resume import read_records
from iact_tui.engine.run import ReleaseRun
from iact_tui.screens import WelcomeScreen
from iact_tui.screens.changelog import ChangelogScreen
from iact_tui.screens.release import ReleaseScreen
from iact_tui.screens.verify import VerifyScreen
from iact_tui.widgets import CommandLog, WrappedCheckTable

EDITED = "### Fixed\n\n- An entry typed before the crash\n"


async def journal_a_crashed_run(config_path: Path, state: Path, *, interrupted: bool) -> ReleaseRun:
    """A run as a killed process leaves it: version, ticks, edited changelog, the checklist
    passed (and, with ``interrupted``, the branch step started but not finished)."""
    run = ReleaseRun(load_config(config_path), state_dir=state)
    await run.load_versions()
    run.choose_bump("minor")
    for check_id, _ in run.manual_checks():
        run.tick(check_id, True)
    run.set_changelog(EDITED)
    run.journal.event(StepStarted("preflight", "Pre-release checklist"))
    run.journal.event(StepFinished("preflight", "ok", "every check passed", data={"version": run.state.version}))
    if interrupted:
        run.journal.event(StepStarted("branch", "Create release branch"))
        run.journal.event(OutputLine("branch", "fetched origin before the crash"))
    run.journal.close()  # no run_finished: the process died
    return run


async def test_welcome_offers_resume_and_resuming_keeps_ticks_and_changelog(
    tiny_config_path: Path, tmp_path: Path
) -> None:
    old = await journal_a_crashed_run(tiny_config_path, tmp_path / "state", interrupted=False)
    app = make_app(load_config(tiny_config_path), state_dir=tmp_path / "state", snapshot_mode=True)
    fresh_dir = app.release_run.run_dir
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(app, pilot)
        screen = app.screen
        assert isinstance(screen, WelcomeScreen)
        choice = screen.query_one("#flow-choice", OptionList)
        first, second = (str(choice.get_option_at_index(i).prompt) for i in range(2))
        assert "Resume release v0.2.0 (next step: Create release branch, just now)" in first
        assert "Start a new release" in second
        await pilot.press("enter")  # Resume is highlighted first
        await settle(app, pilot)
        assert isinstance(app.screen, ChangelogScreen)
        assert app.screen.query_one("#changelog-editor", TextArea).text == EDITED
        run = app.release_run
        assert run.journal_path == old.journal_path
        assert run.state.version == "0.2.0"
        assert run.state.ticks == {c for c, _ in run.manual_checks()}
        assert run.checklist_complete()
    kinds = [r["kind"] for r in read_records(old.journal_path)]
    assert kinds.count("run_started") == 1 and "run_resumed" in kinds
    assert not fresh_dir.exists()  # the fresh run held nothing: its folder is gone


async def test_resumed_interrupted_step_is_shown_and_waits_for_r(tiny_config_path: Path, tmp_path: Path) -> None:
    await journal_a_crashed_run(tiny_config_path, tmp_path / "state", interrupted=True)
    app = make_app(load_config(tiny_config_path), state_dir=tmp_path / "state", snapshot_mode=True)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(app, pilot)
        await pilot.press("enter")
        await settle(app, pilot)
        screen = app.screen
        assert isinstance(screen, ReleaseScreen)
        assert app.release_run.records["branch"].status == "interrupted"
        status = str(screen.query_one("#step-status", Static).render())
        assert "interrupted" in status and "Press r" in status
        assert screen.can_retry()
        # The step's journaled output is shown once (Textual delivers Mount to the base
        # class's handler as well as through super(): it used to be shown twice).
        log = screen.query_one(CommandLog)
        log.flush()
        await pilot.pause()
        shown = [str(line) for line in log.log_widget.lines]
        assert shown.count("» fetched origin before the crash") == 1, shown


async def test_start_a_new_release_abandons_the_unfinished_run(tiny_config_path: Path, tmp_path: Path) -> None:
    old = await journal_a_crashed_run(tiny_config_path, tmp_path / "state", interrupted=False)
    app = make_app(load_config(tiny_config_path), state_dir=tmp_path / "state", snapshot_mode=True)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(app, pilot)
        await pilot.press("down", "enter")
        await settle(app, pilot)
        assert not isinstance(app.screen, WelcomeScreen)
        assert app.release_run.journal_path != old.journal_path
    assert "run_abandoned" in [r["kind"] for r in read_records(old.journal_path)]


async def test_resume_after_verification_with_one_tick_opens_verify(tiny_config_path: Path, tmp_path: Path) -> None:
    """Verification passed, one of the two items done by hand ticked, then kill -9: the
    run resumes on Verify (the announcement would refuse), the tick and its note kept."""
    run = await journal_a_crashed_run(tiny_config_path, tmp_path / "state", interrupted=False)
    run.journal = Journal(run.journal_path)
    for sid in [s for s in run.records if s not in ("preflight", "announce")]:
        run.journal.event(StepStarted(sid, sid))
        if sid == "verify":  # its checks, as the step journaled them before the crash
            run.journal.event(CheckUpdate("verify", "health", "Health", "running"))
            run.journal.event(CheckUpdate("verify", "health", "Health", "passed", "HTTP 200 in 12 ms"))
            run.journal.event(CheckUpdate("verify", "error-rate", "Error rate", "passed", "0 of 20 failed"))
        run.journal.event(StepFinished(sid, "ok", f"{sid} done"))
    assert "verify" in run.records
    run.tick_verify("verified-by-hand", True, "login and checkout on prod")
    run.journal.close()
    app = make_app(load_config(tiny_config_path), state_dir=tmp_path / "state", snapshot_mode=True)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(app, pilot)
        assert "stopped at Verify production" in str(
            app.screen.query_one("#flow-choice", OptionList).get_option_at_index(0).prompt
        )
        await pilot.press("enter")
        await settle(app, pilot)
        assert isinstance(app.screen, VerifyScreen)
        # The checks that passed before the crash are in the table (found by the operator
        # trial: only the headers showed next to "Verification passed").
        table = app.screen.query_one(WrappedCheckTable)
        assert table.statuses == {"health": "passed", "error-rate": "passed"}
        assert table.detail_of("health") == "HTTP 200 in 12 ms"
        resumed = app.release_run
        assert resumed.state.verify_ticks == {"verified-by-hand": "login and checkout on prod"}
        assert not resumed.verification_complete()
        assert app.screen.query_one("#verify-note-verified-by-hand", Input).value == "login and checkout on prod"
        question = unfinished_release(resumed)
        assert question is not None and "verified" not in question[0]
        assert "Verify production" in question[1]
        # A note typed and then killed -9 (no blur, no enter) is journaled a second later.
        note = app.screen.query_one("#verify-note-verified-by-hand", Input)
        note.focus()
        note.cursor_position = len(note.value)
        await pilot.press(*" and admin")
        await pilot.pause(1.3)
    ticks = [r for r in read_records(run.journal_path) if r["kind"] == "verify_tick"]
    assert ticks[-1]["note"] == "login and checkout on prod and admin"


async def test_quitting_a_wizard_where_nothing_happened_leaves_no_run_folder(
    tiny_config_path: Path, tmp_path: Path
) -> None:
    app = make_app(load_config(tiny_config_path), state_dir=tmp_path / "state", snapshot_mode=True)
    run_dir = app.release_run.run_dir
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(app, pilot)
        assert run_dir.exists()
        await pilot.press("q")
        await settle(app, pilot)
    assert not run_dir.exists()


async def _journal_interrupted(config_path: Path, state: Path, stopped: str) -> None:
    """A run killed while ``stopped`` ran, every step before it ok."""
    run = await journal_a_crashed_run(config_path, state, interrupted=False)
    run.journal = Journal(run.journal_path)
    for sid in [s for s in run.records if s != "preflight"]:
        run.journal.event(StepStarted(sid, run.step(sid).title))
        if sid == stopped:
            run.journal.event(OutputLine(sid, f"{sid} output before the kill"))
            break
        run.journal.event(StepFinished(sid, "ok", f"{sid} done"))
    run.journal.close()


async def test_an_interrupted_deploy_says_maintenance_mode_and_the_lock_may_be_left(
    tiny_config_path: Path, tmp_path: Path
) -> None:
    await _journal_interrupted(tiny_config_path, tmp_path / "state", "deploy-production")
    app = make_app(load_config(tiny_config_path), state_dir=tmp_path / "state", snapshot_mode=True)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(app, pilot)
        await pilot.press("enter")
        await settle(app, pilot)
        record = app.release_run.records["deploy-production"]
        assert record.status == "interrupted"
        assert "may still be in maintenance mode with the deploy lock held" in record.message
        assert "takes the lock back and ends maintenance mode" in record.fix
        status = str(app.screen.query_one("#step-status", Static).render())
        assert "maintenance mode" in status


async def test_an_interrupted_verification_is_shown_once(tiny_config_path: Path, tmp_path: Path) -> None:
    await _journal_interrupted(tiny_config_path, tmp_path / "state", "verify")
    app = make_app(load_config(tiny_config_path), state_dir=tmp_path / "state", snapshot_mode=True)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(app, pilot)
        await pilot.press("enter")
        await settle(app, pilot)
        screen = app.screen
        assert isinstance(screen, VerifyScreen)
        assert "maintenance" not in app.release_run.records["verify"].message
        log = screen.query_one(CommandLog)
        log.flush()
        await pilot.pause()
        shown = [str(line) for line in log.log_widget.lines]
        assert sum("Verify production: interrupted" in line for line in shown) == 1, shown
        assert shown.count("» verify output before the kill") == 1, shown


async def test_an_unexpected_error_while_resuming_is_said_not_dropped(
    tiny_config_path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from iact_tui.engine import resume

    await journal_a_crashed_run(tiny_config_path, tmp_path / "state", interrupted=False)

    async def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("the disk is on fire [/x]")

    monkeypatch.setattr(resume, "resume_release", broken)
    app = make_app(load_config(tiny_config_path), state_dir=tmp_path / "state", snapshot_mode=True)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(app, pilot)
        await pilot.press("enter")
        await settle(app, pilot)
        assert isinstance(app.screen, WelcomeScreen)
        said = [n.message for n in app._notifications]
        assert any("resume worker failed: RuntimeError: the disk is on fire [/x]" in m for m in said), said
        assert any("start iact-tui again to resume" in m for m in said)
