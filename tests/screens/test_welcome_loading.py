"""Welcome before the run is loaded (``make_lazy_app``, the CLI's app): it is drawn and
takes keys at once, says it is reading the config, and fills in when the load is done."""

from __future__ import annotations

import contextlib
import gc
import threading
from pathlib import Path

import pytest
from textual.widgets import OptionList, Static
from textual.worker import WorkerFailed
from ui_helpers import build_tiny_repo, settle

from iact_tui.app import STYLE_FILES, IactApp, make_lazy_app
from iact_tui.config import Config, load_config
from iact_tui.engine.run import ReleaseRun
from iact_tui.errors import ConfigError
from iact_tui.screens import VersionScreen, WelcomeScreen


class HeldLoad:
    """A config load that waits until the test lets it go (the first screen's keys are
    tried while it is still loading)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.go = threading.Event()
        self.started = threading.Event()

    def __call__(self) -> Config:
        self.started.set()
        assert self.go.wait(30), "the test never let the load go"
        return load_config(self.path)


def _sheets(app: IactApp) -> list[str]:
    """The names of the app's own style sheets read so far, in order."""
    return [Path(str(where[0])).name for where in app.stylesheet.source if str(where[0]).endswith(".tcss")]


def _info(screen: WelcomeScreen) -> str:
    return str(screen.query_one("#welcome-info", Static).render())


async def test_welcome_takes_keys_while_loading_then_fills_in_and_starts_the_choice(tmp_path: Path) -> None:
    load = HeldLoad(build_tiny_repo(tmp_path / "tiny"))
    app = make_lazy_app(load, state_dir=tmp_path / "state", snapshot_mode=True)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        assert load.started.wait(10)  # the load runs in a thread once Welcome is painted
        screen = app.screen
        assert isinstance(screen, WelcomeScreen) and not app.loaded
        assert "Reading iact-release.toml…" in _info(screen)
        choice = screen.query_one("#flow-choice", OptionList)
        assert "from the main branch" in str(choice.get_option_at_index(0).prompt)
        assert _sheets(app) == ["base.tcss", "widgets.tcss", "welcome.tcss"]  # Welcome's only, first

        await pilot.press("down")  # the first screen answers keys before the load ends
        assert choice.highlighted == 1
        await pilot.press("up", "enter")  # a choice made while loading is kept...
        assert isinstance(app.screen, WelcomeScreen) and screen.pending == "release"
        assert any("Release starts once iact-release.toml is read" in str(n.message) for n in app._notifications)

        load.go.set()
        await settle(app, pilot)
        assert app.loaded and isinstance(app.release_run, ReleaseRun)
        assert "<repo>" in _info(screen) and "Reading" not in _info(screen)
        assert "from main:" in str(choice.get_option_at_index(0).prompt)
        assert app.sub_title == "<repo>"
        assert _sheets(app) == list(STYLE_FILES)  # the other screens' style sheets follow the load
        assert isinstance(app.screen, VersionScreen)  # ...and started once the run is there
    assert app.wait_for_load() is app.release_run


async def test_the_collector_waits_for_welcomes_first_frame_then_the_load_starts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """From the app's start to Welcome's first frame the garbage collector does not run
    (startup: the objects built for that frame set off ~30 collections); once Welcome is
    painted, what the frame built leaves the collector's generations (gc.freeze), the
    collector runs again and the load starts."""
    load = HeldLoad(build_tiny_repo(tmp_path / "tiny"))
    app = make_lazy_app(load, state_dir=tmp_path / "state", snapshot_mode=True)
    at_mount: list[bool] = []
    mounted = WelcomeScreen.on_mount

    def on_mount(screen: WelcomeScreen) -> None:
        at_mount.append(gc.isenabled())
        mounted(screen)

    monkeypatch.setattr(WelcomeScreen, "on_mount", on_mount)
    frozen: list[tuple[int, int]] = []
    drawn = IactApp.first_frame_drawn

    def first_frame_drawn(app: IactApp) -> None:
        before = gc.get_freeze_count()
        drawn(app)
        frozen.append((before, gc.get_freeze_count()))

    monkeypatch.setattr(IactApp, "first_frame_drawn", first_frame_drawn)
    try:
        async with app.run_test(size=(120, 40)) as pilot:
            await pilot.pause()
            assert load.started.wait(10)
            assert at_mount == [False] and gc.isenabled()
            [(before, after)] = frozen
            assert after > before
            load.go.set()
            await settle(app, pilot)
            assert app.loaded
    finally:
        load.go.set()
        gc.enable()


async def test_quitting_while_loading_exits_at_once_and_leaves_no_run(tmp_path: Path) -> None:
    load = HeldLoad(build_tiny_repo(tmp_path / "tiny"))
    app = make_lazy_app(load, state_dir=tmp_path / "state")
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        assert load.started.wait(10)
        await pilot.press("q")
        await pilot.pause()
        assert app._exit  # no question: nothing has started
        load.go.set()
    assert app.wait_for_load() is None and app.load_error is None
    assert not (tmp_path / "state" / "runs").exists() or not any((tmp_path / "state" / "runs").rglob("*.jsonl"))


async def test_a_bad_config_ends_the_app_with_the_error(tmp_path: Path) -> None:
    path = tmp_path / "iact-release.toml"
    path.write_text("[project]\nmain_brnch = 'main'\n", encoding="utf-8")
    app = make_lazy_app(lambda: load_config(path), state_dir=tmp_path / "state")
    async with app.run_test(size=(120, 40)) as pilot:
        with contextlib.suppress(WorkerFailed):  # the load's error ends the app
            await app.workers.wait_for_complete()
        await pilot.pause()
        assert app._exit
    assert app.wait_for_load() is None
    assert isinstance(app.load_error, ConfigError) and "main_brnch" in str(app.load_error)


async def test_a_release_chosen_while_loading_is_not_started_over_an_unfinished_one(tmp_path: Path) -> None:
    from test_resume_offer import journal_a_crashed_run

    config_path = build_tiny_repo(tmp_path / "tiny")
    crashed = await journal_a_crashed_run(config_path, tmp_path / "state", interrupted=True)
    load = HeldLoad(config_path)
    app = make_lazy_app(load, state_dir=tmp_path / "state", snapshot_mode=True)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        assert load.started.wait(10)
        screen = app.screen
        assert isinstance(screen, WelcomeScreen)
        await pilot.press("enter")  # Release, before the resume offer can be shown
        load.go.set()
        await settle(app, pilot)
        assert app.screen is screen and screen.pending is None  # not started: that would abandon it
        assert screen.unfinished is not None and screen.unfinished.journal == crashed.journal_path
        choice = screen.query_one("#flow-choice", OptionList)
        assert choice.get_option_at_index(0).id == "resume"
        assert any("An unfinished release was found" in str(n.message) for n in app._notifications)
