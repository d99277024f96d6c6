"""Welcome and Version screens over a tiny real repository."""

from __future__ import annotations

import subprocess
from pathlib import Path

from textual import events
from textual.keys import _character_to_key
from textual.widgets import Input, OptionList, Static
from ui_helpers import settle

from iact_tui import demo
from iact_tui.app import IactApp, make_app
from iact_tui.config import load_config
from iact_tui.screens import ChecklistScreen, MonitorScreen, VersionScreen, WelcomeScreen
from iact_tui.screens.hotfix import DeleteBranchModal, HotfixScreen
from iact_tui.screens.rollback import RollbackScreen


async def test_welcome_shows_repo_and_what_is_available(tiny_app: IactApp) -> None:
    async with tiny_app.run_test(size=(120, 40)) as pilot:
        await settle(tiny_app, pilot)
        screen = tiny_app.screen
        assert isinstance(screen, WelcomeScreen)
        info = str(screen.query_one("#welcome-info", Static).render())
        assert "<repo>" in info and "iact-release.toml" in info
        choice = screen.query_one("#flow-choice", OptionList)
        assert [choice.get_option_at_index(i).disabled for i in range(4)] == [False, False, False, False]
        screen.choose("hotfix")  # the tiny repository has no production environment
        await pilot.pause()
        assert isinstance(tiny_app.screen, WelcomeScreen)
        assert any(n.title == "Cannot make a hotfix" for n in tiny_app._notifications)
        screen.choose("rollback")  # the tiny repository has no production environment
        await pilot.pause()
        assert isinstance(tiny_app.screen, WelcomeScreen)
        assert any("no [environments.production]" in str(n.message) for n in tiny_app._notifications)
        assert tiny_app.title == "iact-tui" and tiny_app.sub_title == "<repo>"
        await pilot.press("enter")
        await settle(tiny_app, pilot)
        assert isinstance(tiny_app.screen, VersionScreen)


async def test_version_shows_tags_and_candidates_then_bump_continues(tiny_app: IactApp) -> None:
    async with tiny_app.run_test(size=(120, 40)) as pilot:
        await pilot.press("enter")
        await settle(tiny_app, pilot)
        screen = tiny_app.screen
        assert isinstance(screen, VersionScreen) and screen.loaded
        current = str(screen.query_one("#current-version", Static).render())
        assert "0.1.0" in current and "v0.1.0" in current
        tags = str(screen.query_one("#other-tags", Static).render())
        assert "v0.2.0-rc.1" in tags and "nightly" in tags
        bumps = screen.query_one("#bump-choice", OptionList)
        prompts = [str(bumps.get_option_at_index(i).prompt) for i in range(3)]
        assert "1.0.0" in prompts[0] and "0.2.0" in prompts[1] and "0.1.1" in prompts[2]
        # MINOR is highlighted first; down → PATCH, which the feat commit makes a warned choice: enter again.
        await pilot.press("down", "enter")
        await settle(tiny_app, pilot)
        assert isinstance(tiny_app.screen, VersionScreen)
        await pilot.press("enter")
        await settle(tiny_app, pilot)
        assert tiny_app.release_run.state.version == "0.1.1"
        assert isinstance(tiny_app.screen, ChecklistScreen)
        assert "v0.1.1" in str(tiny_app.screen.query_one("#release-badge").render())


async def test_typed_version_is_validated_and_escape_goes_back(tiny_app: IactApp) -> None:
    async with tiny_app.run_test(size=(120, 40)) as pilot:
        await pilot.press("enter")
        await settle(tiny_app, pilot)
        screen = tiny_app.screen
        assert isinstance(screen, VersionScreen)
        field = screen.query_one("#custom-version", Input)
        field.focus()
        await pilot.press(*"0.0.9", "enter")
        await pilot.pause()
        error = str(screen.query_one("#version-error", Static).render())
        assert "✘" in error and "→" in error  # what is wrong, and what to do
        assert tiny_app.screen is screen
        field.value = "1.0.0-beta.1"
        await pilot.press("enter")
        await settle(tiny_app, pilot)
        assert isinstance(tiny_app.screen, ChecklistScreen)
        assert tiny_app.release_run.state.version == "1.0.0-beta.1"
        await pilot.press("escape")
        await settle(tiny_app, pilot)
        assert isinstance(tiny_app.screen, VersionScreen)
        await pilot.press("escape")
        await settle(tiny_app, pilot)
        assert isinstance(tiny_app.screen, WelcomeScreen)


async def test_on_a_small_terminal_the_typed_version_and_its_error_are_in_view(tiny_app: IactApp) -> None:
    async with tiny_app.run_test(size=(80, 24)) as pilot:
        await pilot.press("enter")
        await settle(tiny_app, pilot)
        screen = tiny_app.screen
        assert isinstance(screen, VersionScreen)
        await pilot.press(*"9.9.9-", "enter")  # typed on the bump list: goes to the field
        await settle(tiny_app, pilot)
        field = screen.query_one("#custom-version", Input)
        error = screen.query_one("#version-error", Static)
        assert field.value == "9.9.9-" and "not a SemVer version" in str(error.render())
        visible = screen.query_one("#version-main").region
        for widget in (field, error):
            assert visible.contains_region(widget.region), (widget.id, widget.region, visible)


async def test_welcome_opens_rollback_and_monitor_and_comes_back(sandbox: demo.Sandbox, tmp_path: Path) -> None:
    """Hotfix, Rollback and Monitor start from the Welcome screen on production; esc comes back."""
    app = make_app(load_config(sandbox.config_path), state_dir=tmp_path / "state", snapshot_mode=True)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(app, pilot)
        welcome = app.screen
        assert isinstance(welcome, WelcomeScreen)
        choice = welcome.query_one("#flow-choice", OptionList)
        await pilot.press("down")  # Hotfix highlighted, then chosen
        assert choice.highlighted == 1
        welcome.choose("hotfix")
        await settle(app, pilot)
        hotfix = app.screen
        assert isinstance(hotfix, HotfixScreen)
        production = str(hotfix.query_one("#hotfix-production", Static).render())
        assert "production runs v1.3.2" in production and "hotfix/v1.3.3" in production, production
        await pilot.press("escape")
        # The hotfix branch holds nothing: deleting it is offered (Keep is the default).
        for _ in range(50):
            if isinstance(app.screen, DeleteBranchModal):
                break
            await pilot.pause(0.05)
        assert isinstance(app.screen, DeleteBranchModal)
        await pilot.press("y")
        await settle(app, pilot)
        assert app.screen is welcome
        # Back on Welcome the first option is highlighted again: enter does not cut a new hotfix.
        assert choice.highlighted == 0
        assert (
            subprocess.run(
                ["git", "branch", "--show-current"], cwd=sandbox.repo, capture_output=True, text=True, check=True
            ).stdout.strip()
            == "main"
        )
        assert app.is_running
        welcome.choose("rollback")
        await settle(app, pilot)
        rollback = app.screen
        assert isinstance(rollback, RollbackScreen) and rollback.run.env == "production"
        current = str(rollback.query_one("#rollback-current", Static).render())
        assert "1.3.2" in current, current  # what the demo's production runs
        await pilot.press("q")  # q on a flow opened from Welcome leaves it, as esc does
        await settle(app, pilot)
        assert app.screen is welcome
        assert app.is_running

        welcome.choose("monitor")
        for _ in range(5):  # the monitor's feeds run until it is left: no settle() here
            await pilot.pause()
        monitor = app.screen
        assert isinstance(monitor, MonitorScreen) and monitor.session.env == "production"
        await pilot.press("escape")
        for _ in range(50):
            if app.screen is welcome:
                break
            await pilot.pause(0.05)
        assert app.screen is welcome
        assert not [w for w in app.workers if w.is_running]  # the monitor's feeds stopped
        assert app.is_running


async def test_a_typed_version_keeps_every_character_and_the_error_names_those_not_allowed(
    tiny_app: IactApp,
) -> None:
    async with tiny_app.run_test(size=(120, 40)) as pilot:
        await pilot.press("enter")
        await settle(tiny_app, pilot)
        screen = tiny_app.screen
        assert isinstance(screen, VersionScreen)
        # Typed fast on the bump list (a terminal delivers the keys before the focus moves).
        for char in "1.4.0$(touch /tmp/x)":
            tiny_app.post_message(events.Key(_character_to_key(char), char))
        await pilot.pause()
        await pilot.press("enter")
        await settle(tiny_app, pilot)
        field = screen.query_one("#custom-version", Input)
        error = str(screen.query_one("#version-error", Static).render())
        assert field.value == "1.4.0$(touch /tmp/x)"  # nothing dropped silently
        assert "“$”, “(”, a space, “/” and “)” are not allowed" in error
        assert tiny_app.screen is screen and not tiny_app.release_run.state.version

        field.value = "01.5.0"
        await pilot.press("enter")
        await pilot.pause()
        error = str(screen.query_one("#version-error", Static).render())
        assert "leading zeros are not allowed (01 in 01.5.0; SemVer 2.0.0 §2), e.g. 1.5.0" in error
