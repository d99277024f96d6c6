"""Welcome and Version screens over a tiny real repository."""

from __future__ import annotations

from textual.widgets import Input, OptionList, Static
from ui_helpers import settle

from iact_tui.app import IactApp
from iact_tui.screens import ChecklistScreen, VersionScreen, WelcomeScreen


async def test_welcome_shows_repo_and_only_release_is_available(tiny_app: IactApp) -> None:
    async with tiny_app.run_test(size=(120, 40)) as pilot:
        await settle(tiny_app, pilot)
        screen = tiny_app.screen
        assert isinstance(screen, WelcomeScreen)
        info = str(screen.query_one("#welcome-info", Static).render())
        assert "<repo>" in info and "iact-release.toml" in info
        choice = screen.query_one("#flow-choice", OptionList)
        assert [choice.get_option_at_index(i).disabled for i in range(4)] == [False, True, True, True]
        screen.choose("hotfix")
        await pilot.pause()
        assert isinstance(tiny_app.screen, WelcomeScreen)
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
