"""The app factory, styles, commands and quitting."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent / "screens"))

from ui_helpers import build_tiny_repo, settle, walk_to_checklist

from iact_tui.app import STYLE_FILES, IactApp, _css_paths, make_app
from iact_tui.config import load_config
from iact_tui.engine.run import ReleaseRun
from iact_tui.screens import WelcomeScreen
from iact_tui.screens.base import StepScreen


def test_every_style_sheet_ships_and_screen_rules_are_nested() -> None:
    paths = _css_paths()
    assert [Path(p).name for p in paths] == list(STYLE_FILES)
    for path in paths:
        text = Path(path).read_text(encoding="utf-8")
        assert text.strip(), path
    for name, screen in [("welcome", "WelcomeScreen"), ("changelog", "ChangelogScreen"), ("deploy", "DeployScreen")]:
        text = Path(next(p for p in paths if Path(p).name == f"{name}.tcss")).read_text(encoding="utf-8")
        assert text.lstrip().startswith(screen + " {")


def test_make_app_builds_a_run_with_the_state_dir(tmp_path: Path) -> None:
    config = load_config(build_tiny_repo(tmp_path / "tiny"))
    app = make_app(config, state_dir=tmp_path / "state")
    assert isinstance(app.release_run, ReleaseRun)
    assert app.release_run.journal_path.is_relative_to(tmp_path / "state")
    assert app.title == "iact-tui"
    assert app.sub_title.endswith("repo")
    given = ReleaseRun(config, state_dir=tmp_path / "other")
    assert make_app(config, run=given).release_run is given


async def test_starts_on_welcome_with_snapshot_masks(tmp_path: Path) -> None:
    config = load_config(build_tiny_repo(tmp_path / "tiny"))
    app = make_app(config, state_dir=tmp_path / "state", snapshot_mode=True)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(app, pilot)
        assert isinstance(app.screen, WelcomeScreen)
        assert app.display_path(config.root) == "<repo>"
        assert app.display_path(config.path) == "<repo>/iact-release.toml"
        assert app.display_path(app.release_run.journal_path) == "…/journal.jsonl"
        assert not app.blink
        await pilot.press("q")
        await pilot.pause()
    assert app.return_code == 0


async def test_palette_offers_retry_only_when_a_step_failed(tmp_path: Path) -> None:
    config_path = build_tiny_repo(tmp_path / "tiny")
    tracked = config_path.parent / "app.py"
    tracked.write_text(tracked.read_text(encoding="utf-8") + "# dirty\n", encoding="utf-8")
    app: IactApp = make_app(load_config(config_path), state_dir=tmp_path / "state", snapshot_mode=True)
    async with app.run_test(size=(120, 40)) as pilot:
        await walk_to_checklist(app, pilot)
        screen = app.screen
        assert isinstance(screen, StepScreen)
        titles = [c.title for c in app.get_system_commands(screen)]
        assert "Retry step" in titles and "Back" in titles and "Show journal path" in titles
        assert "Continue" not in titles
