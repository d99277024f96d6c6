"""Guards found by trying the wizard as a new operator would (Pilot, tiny real repository)."""

from __future__ import annotations

import subprocess
from pathlib import Path

from textual.widgets import Input, Static, TextArea
from ui_helpers import settle, tick_all, walk_to_checklist

from iact_tui import demo
from iact_tui.app import IactApp, make_app
from iact_tui.config import load_config
from iact_tui.screens import ChangelogScreen, ChecklistScreen, ReleaseScreen, VersionScreen
from iact_tui.widgets import TickBox


async def test_typing_on_the_version_screen_goes_to_the_version_field(tiny_app: IactApp) -> None:
    async with tiny_app.run_test(size=(120, 40)) as pilot:
        await settle(tiny_app, pilot)
        await pilot.press("enter")
        await settle(tiny_app, pilot)
        assert isinstance(tiny_app.screen, VersionScreen)
        await pilot.press(*"0.3.0")
        field = tiny_app.screen.query_one("#custom-version", Input)
        assert field.has_focus and field.value == "0.3.0"
        await pilot.press("enter")
        await settle(tiny_app, pilot)
        assert tiny_app.release_run.state.version == "0.3.0"
        assert isinstance(tiny_app.screen, ChecklistScreen)


async def test_enter_on_a_tick_box_does_not_untick_it(tiny_app: IactApp) -> None:
    async with tiny_app.run_test(size=(120, 40)) as pilot:
        await walk_to_checklist(tiny_app, pilot)
        await tick_all(tiny_app, pilot)
        box = tiny_app.screen.query(TickBox).first()
        box.focus()
        await pilot.press("enter")
        await settle(tiny_app, pilot)
        assert box.value is True
        assert isinstance(tiny_app.screen, ChangelogScreen)  # enter went on instead


async def test_changing_the_version_runs_the_checklist_again(tiny_app: IactApp) -> None:
    async with tiny_app.run_test(size=(120, 40)) as pilot:
        await walk_to_checklist(tiny_app, pilot)
        run = tiny_app.release_run
        assert run.records["preflight"].status == "ok" and run.state.version == "0.2.0"
        await pilot.press("escape")
        await settle(tiny_app, pilot)
        assert isinstance(tiny_app.screen, VersionScreen)
        await pilot.press("down", "enter", "enter")  # PATCH, chosen twice past the feat-commit warning
        await settle(tiny_app, pilot)
        assert run.state.version == "0.1.1"
        assert isinstance(tiny_app.screen, ChecklistScreen)
        assert run.records["preflight"].status == "ok"
        assert run.records["preflight"].data["version"] == "0.1.1"


async def test_an_empty_changelog_is_refused_before_any_git_work(tiny_app: IactApp) -> None:
    async with tiny_app.run_test(size=(120, 40)) as pilot:
        await walk_to_checklist(tiny_app, pilot)
        await tick_all(tiny_app, pilot)
        await pilot.click("#continue")
        await settle(tiny_app, pilot)
        screen = tiny_app.screen
        assert isinstance(screen, ChangelogScreen)
        screen.query_one(TextArea).text = "### Added\n\n"
        await pilot.press("ctrl+s")
        await settle(tiny_app, pilot)
        assert isinstance(tiny_app.screen, ChangelogScreen)
        assert not isinstance(tiny_app.screen, ReleaseScreen)
        assert tiny_app.release_run.records["branch"].status == "pending"
        assert tiny_app.release_run.state.changelog_body == "### Added\n\n"  # what was typed is kept


async def test_disagreeing_version_files_need_the_operators_choice(quiet_sandbox: demo.Sandbox, tmp_path: Path) -> None:
    repo = quiet_sandbox.repo
    init = repo / "iact" / "__init__.py"
    init.write_text(init.read_text().replace('"1.3.2"', '"1.3.1"'))
    for args in (["commit", "-qam", "chore: an old version slipped in"], ["push", "-q", "origin", "main"]):
        subprocess.run(["git", *args], cwd=repo, check=True)
    app = make_app(load_config(quiet_sandbox.config_path), state_dir=tmp_path / "state", snapshot_mode=True)
    async with app.run_test(size=(120, 40)) as pilot:
        await walk_to_checklist(app, pilot)
        await tick_all(app, pilot)
        await settle(app, pilot)
        screen = app.screen
        assert isinstance(screen, ChecklistScreen)
        assert screen.mismatches == [("iact/__init__.py", "1.3.1")]
        panel = screen.query_one("#version-mismatch")
        assert panel.display
        assert not screen.is_ready()
        assert "version files that disagree" in str(screen.query_one("#actions-hint", Static).render())
        await pilot.click("#accept-mismatch")
        await pilot.pause()
        assert app.release_run.state.accept_version_mismatch
        assert screen.is_ready()
