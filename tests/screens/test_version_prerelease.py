"""Version screen: the pre-release choices under the bumps, over the tiny repository (v0.1.0, v0.2.0-rc.1)."""

from __future__ import annotations

from textual import events
from textual.widgets import Input, OptionList
from ui_helpers import settle

from iact_tui.app import IactApp
from iact_tui.screens import ChecklistScreen, VersionScreen


def _ids(options: OptionList) -> list[str | None]:
    return [options.get_option_at_index(i).id for i in range(options.option_count)]


async def _open_version(app: IactApp, pilot: object) -> VersionScreen:
    from textual.pilot import Pilot

    assert isinstance(pilot, Pilot)
    await pilot.press("enter")
    await settle(app, pilot)
    screen = app.screen
    assert isinstance(screen, VersionScreen) and screen.loaded
    return screen


async def test_prerelease_options_are_listed_with_meanings(tiny_app: IactApp) -> None:
    async with tiny_app.run_test(size=(120, 40)) as pilot:
        screen = await _open_version(tiny_app, pilot)
        options = screen.query_one("#bump-choice", OptionList)
        assert _ids(options) == [
            "major",
            "minor",
            "patch",
            "prerelease-heading",
            "next-pre",
            "promote",
            "major-pre",
            "patch-pre",
        ]
        assert options.highlighted == 1  # MINOR stays the default
        assert options.get_option("prerelease-heading").disabled
        prompts = {o: str(options.get_option(o).prompt) for o in ("next-pre", "promote", "major-pre", "patch-pre")}
        assert "0.2.0-rc.2" in prompts["next-pre"] and "next release candidate after v0.2.0-rc.1" in prompts["next-pre"]
        assert "promote v0.2.0-rc.1 to 0.2.0" in prompts["promote"]
        assert "1.0.0-rc.1" in prompts["major-pre"] and "start the 1.0.0 release candidates" in prompts["major-pre"]
        assert "0.1.1-rc.1" in prompts["patch-pre"]


async def test_next_prerelease_continues_like_a_bump(tiny_app: IactApp) -> None:
    async with tiny_app.run_test(size=(120, 40)) as pilot:
        await _open_version(tiny_app, pilot)
        await pilot.press("down", "down", "enter")  # MINOR → PATCH → (heading skipped) NEXT
        await settle(tiny_app, pilot)
        run = tiny_app.release_run
        assert (run.state.version, run.state.bump) == ("0.2.0-rc.2", "next-pre")
        assert isinstance(tiny_app.screen, ChecklistScreen)
        assert "v0.2.0-rc.2" in str(tiny_app.screen.query_one("#release-badge").render())
        await pilot.press("escape")
        await settle(tiny_app, pilot)
        screen = tiny_app.screen
        assert isinstance(screen, VersionScreen)
        options = screen.query_one("#bump-choice", OptionList)
        assert options.highlighted is not None and _ids(options)[options.highlighted] == "next-pre"


async def test_promote_gives_the_final_release(tiny_app: IactApp) -> None:
    async with tiny_app.run_test(size=(120, 40)) as pilot:
        await _open_version(tiny_app, pilot)
        await pilot.press("down", "down", "down", "enter")  # … NEXT → PROMOTE
        await settle(tiny_app, pilot)
        run = tiny_app.release_run
        assert (run.state.version, run.state.bump) == ("0.2.0", "promote")
        assert isinstance(tiny_app.screen, ChecklistScreen)


async def test_typing_a_version_still_goes_to_the_field(tiny_app: IactApp) -> None:
    async with tiny_app.run_test(size=(120, 40)) as pilot:
        screen = await _open_version(tiny_app, pilot)
        await pilot.press("down", "down", "down")  # on a pre-release option
        await pilot.press("v", "3")
        await pilot.pause()
        field = screen.query_one("#custom-version", Input)
        assert field.has_focus and field.value == "v3"


async def test_a_refused_prerelease_shows_why(tiny_app: IactApp) -> None:
    async with tiny_app.run_test(size=(120, 40)) as pilot:
        screen = await _open_version(tiny_app, pilot)
        screen.choose_prerelease("minor-pre")  # not offered: it would equal next-pre
        await pilot.pause()
        assert tiny_app.screen is screen
        error = str(screen.query_one("#version-error").render())
        assert "✘" in error and "next-pre" in error


async def test_commits_suggest_a_bump_and_a_smaller_one_is_confirmed_by_choosing_it_again(tiny_app: IactApp) -> None:
    async with tiny_app.run_test(size=(120, 40)) as pilot:
        screen = await _open_version(tiny_app, pilot)
        await tiny_app.workers.wait_for_complete()
        await pilot.pause()
        advice = str(screen.query_one("#bump-advice").render())
        assert advice == "Commits since v0.1.0: 1 feature, 1 other change → SemVer suggests MINOR"
        await pilot.press("down", "enter")  # PATCH, although a feat commit calls for MINOR
        await settle(tiny_app, pilot)
        assert tiny_app.screen is screen
        warning = str(screen.query_one("#version-error").render())
        assert "1 feat commit since v0.1.0: SemVer 2.0.0 §7 calls for MINOR, but 0.1.1 is a PATCH release" in warning
        assert "choose 0.1.1 again to release it anyway" in warning
        await pilot.press("enter")
        await settle(tiny_app, pilot)
        assert isinstance(tiny_app.screen, ChecklistScreen)
        assert tiny_app.release_run.state.version == "0.1.1"


def _type_at_once(app: IactApp, text: str) -> None:
    """Queue one key event per character with no pause, as a terminal delivers fast typing.

    ``pilot.press`` waits for the app to go idle after every key, so the focus has
    always moved before the next key; a real burst arrives before it has.
    """
    driver = app._driver
    assert driver is not None
    for char in text:
        key = {".": "full_stop", "-": "minus", "+": "plus"}.get(char, char)
        event = events.Key(key, char)
        event.set_sender(app)
        driver.send_message(event)


async def test_a_version_typed_fast_on_the_list_keeps_its_dots(tiny_app: IactApp) -> None:
    async with tiny_app.run_test(size=(120, 40)) as pilot:
        screen = await _open_version(tiny_app, pilot)
        field = screen.query_one("#custom-version", Input)
        assert screen.query_one("#bump-choice", OptionList).has_focus
        await pilot.press("2", ".", "0", ".", "0")
        await pilot.pause()
        assert field.has_focus and field.value == "2.0.0"


async def test_a_burst_of_keys_on_the_list_keeps_every_version_character(tiny_app: IactApp) -> None:
    async with tiny_app.run_test(size=(120, 40)) as pilot:
        screen = await _open_version(tiny_app, pilot)
        field = screen.query_one("#custom-version", Input)
        assert screen.query_one("#bump-choice", OptionList).has_focus
        # The dots, the pre-release's letters and the build part all arrive before the
        # focus has moved to the field.
        _type_at_once(tiny_app, "2.0.0-rc.1+b7")
        await pilot.pause()
        assert field.has_focus and field.value == "2.0.0-rc.1+b7"
        assert tiny_app.screen is screen
