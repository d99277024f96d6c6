"""The app factory, styles, commands and quitting."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent / "screens"))

import pytest
from textual import events
from textual.css import stylesheet
from textual.geometry import Size
from textual.widgets import Button
from textual.widgets._toast import Toast, ToastRack
from textual.widgets._tooltip import Tooltip
from ui_helpers import build_tiny_repo, settle, walk_to_checklist

from iact_tui import cli, demo
from iact_tui.app import FIRST_STYLE_FILES, STYLE_FILES, Backdrop, IactApp, _css_paths, make_app, make_lazy_app
from iact_tui.config import load_config
from iact_tui.engine.rollback import RollbackRun
from iact_tui.engine.run import ReleaseRun
from iact_tui.screens import WelcomeScreen
from iact_tui.screens.base import StepScreen
from iact_tui.screens.hotfix import DeleteBranchModal, HotfixScreen
from iact_tui.screens.rollback import RollbackScreen
from iact_tui.widgets import QuitModal


def test_every_style_sheet_ships_and_screen_rules_are_nested() -> None:
    paths = _css_paths()
    assert [Path(p).name for p in paths] == list(STYLE_FILES)
    for path in paths:
        text = Path(path).read_text(encoding="utf-8")
        assert text.strip(), path
    for name, screen in [("welcome", "WelcomeScreen"), ("changelog", "ChangelogScreen"), ("deploy", "DeployScreen")]:
        text = Path(next(p for p in paths if Path(p).name == f"{name}.tcss")).read_text(encoding="utf-8")
        assert text.lstrip().startswith(screen + " {")


def test_the_style_sheets_parsed_before_welcome_hold_no_other_screens_rules() -> None:
    """Welcome's first frame parses only FIRST_STYLE_FILES: the stage screens' shared rules,
    the check tables', the verification ticks' and the plan dialog's come later."""
    first = "".join(Path(p).read_text(encoding="utf-8") for p in _css_paths(FIRST_STYLE_FILES))
    later = "".join(Path(p).read_text(encoding="utf-8") for p in _css_paths(STYLE_FILES[len(FIRST_STYLE_FILES) :]))
    for selector in (".step-status", "#actions", "#step-main", ".panel", "CheckTable", "VerifyTicks", "PlanScreen"):
        assert selector not in first, selector
        assert selector in later, selector
    assert "WelcomeScreen {" in first and "#release-badge.-unset" in first


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


async def test_a_resize_to_the_same_size_does_not_lay_the_screen_out_again(tmp_path: Path) -> None:
    """The terminal's size reported again (the driver does at start) costs no layout and
    paint of the whole screen; a size that changed still lays it out."""
    config = load_config(build_tiny_repo(tmp_path / "tiny"))
    app = make_app(config, state_dir=tmp_path / "state", snapshot_mode=True)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(app, pilot)
        screen = app.screen
        layouts: list[Size] = []
        screen_resized = screen._screen_resized

        def counted(size: Size) -> None:
            layouts.append(size)
            screen_resized(size)

        screen._screen_resized = counted  # type: ignore[method-assign]
        app.post_message(events.Resize(Size(120, 40), Size(120, 40)))
        await pilot.pause()
        await pilot.pause()
        assert layouts == []
        await pilot.resize_terminal(100, 30)
        await settle(app, pilot)
        assert Size(100, 30) in layouts
        assert screen.size == Size(100, 30)
        await pilot.press("q")
        await pilot.pause()


async def test_the_stage_widgets_css_is_parsed_while_welcome_waits(tmp_path: Path) -> None:
    """The default CSS of the widgets the stage screens mount is added and parsed while
    Welcome waits, not on the screen switch that first mounts them (a third of the
    checklist's first frame); the stage screens look the same (the snapshots)."""
    from textual.widgets import DataTable

    from iact_tui.app import PRELOAD_DELAY

    load = build_tiny_repo(tmp_path / "tiny")
    app = make_lazy_app(lambda: load_config(load), state_dir=tmp_path / "state", snapshot_mode=True)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(app, pilot)
        await pilot.pause(PRELOAD_DELAY + 0.3)
        assert not list(app.query(DataTable))  # nothing mounted one yet
        names = {location for _, location in app.stylesheet.source}
        assert {"DataTable.DEFAULT_CSS", "CheckTable.DEFAULT_CSS", "TextArea.DEFAULT_CSS"} <= names, names
        assert not app.stylesheet._require_parse  # parsed already, not at the next mount
        await pilot.press("q")


async def test_under_welcome_is_an_empty_backdrop_and_toasts_show_on_welcome(tmp_path: Path) -> None:
    """The bottom screen (Textual's default screen) is never shown: it holds no toast rack
    or tooltip to compose, style and lay out before Welcome's first frame. Welcome has its
    own: a toast still shows, and q still quits."""
    load = build_tiny_repo(tmp_path / "tiny")
    app = make_lazy_app(lambda: load_config(load), state_dir=tmp_path / "state", snapshot_mode=True)
    async with app.run_test(size=(120, 40), notifications=True, tooltips=True) as pilot:
        await settle(app, pilot)
        bottom, welcome = app.screen_stack
        assert isinstance(bottom, Backdrop) and isinstance(welcome, WelcomeScreen)
        assert list(bottom.children) == []
        assert {type(child) for child in welcome.children} >= {ToastRack, Tooltip}
        app.notify("hello from the test", timeout=30)
        await pilot.pause()
        await pilot.pause()
        assert any("hello from the test" in str(toast.render()) for toast in welcome.walk_children(Toast))
        await pilot.press("q")
        await pilot.pause()
    assert app.return_code == 0


def test_building_the_cli_app_takes_what_is_imported_out_of_the_collector() -> None:
    """make_lazy_app freezes the objects made so far (Textual's and the first screen's
    modules): the collections before Welcome's first frame do not walk them."""
    code = (
        "import gc\n"
        "from iact_tui.app import make_lazy_app\n"
        "before = gc.get_freeze_count()\n"
        "make_lazy_app(lambda: None)\n"
        "print(before, gc.get_freeze_count())\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    before, after = map(int, done.stdout.split())
    assert before == 0 and after > 10_000


async def test_no_default_css_is_parsed_twice_for_the_backdrop(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Screen's and Widget's default CSS are parsed once before Welcome's first frame: the
    backdrop reads none (Textual parsed each again when Welcome, deeper, changed its
    tie-breaker)."""
    parsed: list[str] = []
    parse = stylesheet.parse

    def counted(scope: str, css: str, read_from: tuple[str, str], **kwargs: Any) -> Any:
        parsed.append(read_from[1])
        return parse(scope, css, read_from, **kwargs)

    monkeypatch.setattr(stylesheet, "parse", counted)
    config = load_config(build_tiny_repo(tmp_path / "tiny"))
    app = make_lazy_app(lambda: config, state_dir=tmp_path / "state", snapshot_mode=True)
    at_first_frame: list[str] = []
    drawn = app.first_frame_drawn

    def first_frame_drawn() -> None:
        at_first_frame.extend(parsed)  # after it, the stage widgets' CSS is added (_prewarm_css)
        drawn()

    monkeypatch.setattr(app, "first_frame_drawn", first_frame_drawn)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(app, pilot)
        assert at_first_frame.count("Screen.DEFAULT_CSS") == 1 and at_first_frame.count("Widget.DEFAULT_CSS") == 1
        await pilot.press("q")
        await pilot.pause()


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


async def test_the_exit_summary_says_what_the_flows_started_from_welcome_did(
    quiet_sandbox: demo.Sandbox, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A hotfix and a rollback opened from Welcome are summed up on exit, each with its
    journal; the unused release does not claim that nothing changed. Leaving the hotfix
    says on Welcome where the checkout went."""
    box = quiet_sandbox
    app = make_app(load_config(box.config_path), state_dir=tmp_path / "state", snapshot_mode=True)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(app, pilot)
        app.start_hotfix()
        await settle(app, pilot)
        await settle(app, pilot)
        hotfix = app.screen
        assert isinstance(hotfix, HotfixScreen) and hotfix.run.records["hotfix-branch"].status == "ok"
        hotfix.run.records["tag"].status = "ok"  # as if tagged: leaving asks first
        await pilot.press("escape")
        await pilot.pause()
        dialog = app.screen
        assert isinstance(dialog, QuitModal) and dialog.text().startswith("[b]The hotfix is not finished.")
        assert str(dialog.query_one("#quit-leave", Button).label) == "Leave"  # back to Welcome, not out
        await pilot.press("escape")  # stay
        await pilot.pause()
        hotfix.run.records["tag"].status = "pending"
        await pilot.press("escape")
        for _ in range(50):  # the leaving worker reads the branch, then asks (it waits for the answer)
            if isinstance(app.screen, DeleteBranchModal):
                break
            await pilot.pause(0.05)
        await pilot.press("escape")  # keep the branch
        await settle(app, pilot)
        assert isinstance(app.screen, WelcomeScreen)
        said = [n.message for n in app._notifications]
        assert "Checked out main again; hotfix/v1.3.3 is kept." in said
        app.start_rollback()
        await settle(app, pilot)
        assert isinstance(app.screen, RollbackScreen)
        await pilot.press("escape")
        await settle(app, pilot)
        assert isinstance(app.screen, WelcomeScreen)
        # as if both had run to the end (the flows themselves are tested on their own)
        for record in hotfix.run.records.values():
            record.status = "ok"
        rollback = app.other_runs[1]
        assert isinstance(rollback, RollbackRun)
        rollback.state.version = "1.3.1"
        for record in rollback.records.values():
            record.status = "ok"
        await pilot.press("q")
        await settle(app, pilot)
    assert not app.is_running
    cli._after_wizard(app.release_run, app.other_flow_lines())
    out = capsys.readouterr().out
    assert f"Hotfix v1.3.3: deployed to production and backported (journal {hotfix.run.journal_path})" in out
    assert f"Rollback of production to v1.3.1: recorded (journal {rollback.journal_path})" in out
    assert "nothing changed" not in out
    assert "release: no step was run" in out


def test_the_first_screen_imports_no_engine_flow_service_or_pydantic() -> None:
    """What the wizard imports before Welcome is drawn (the rest loads in a thread after):
    no steps, services, HTTP, git, pydantic or the config module."""
    code = (
        "import sys\n"
        "import iact_tui.cli, iact_tui.app, iact_tui.screens.welcome\n"
        "print('\\n'.join(sorted(sys.modules)))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    loaded = set(done.stdout.split())
    assert "iact_tui.screens.welcome" in loaded and "textual.app" in loaded
    heavy = {"pydantic", "httpx", "git", "asyncssh", "iact_tui.config", "iact_tui.engine.run", "iact_tui.engine.flows"}
    # Nor the engine's events (a step's screen imports them when it runs one), nor
    # importlib.resources and zipfile (the style sheets are found from the package's folder).
    heavy |= {"iact_tui.engine.events", "importlib.resources", "zipfile"}
    # Nor the quit dialog (imported when q is pressed; preloaded once Welcome is up).
    heavy |= {"iact_tui.widgets.confirm"}
    assert not loaded & heavy
    assert not [
        m for m in loaded if m.startswith(("iact_tui.engine.steps", "iact_tui.services.", "iact_tui.engine.run_lock"))
    ]
