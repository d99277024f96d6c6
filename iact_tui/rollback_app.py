"""``iact-tui rollback``: the rollback screen alone in its app (leaving it exits).

:func:`make_rollback_app` is the factory the CLI and the Pilot tests share.
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path, PurePath
from typing import ClassVar

from textual.app import App
from textual.binding import Binding, BindingType

from iact_tui.config import Config
from iact_tui.engine.resume import Replayed
from iact_tui.engine.rollback import RollbackRun
from iact_tui.screens.rollback import RollbackScreen

#: Style sheets of the rollback app, in cascade order.
STYLE_FILES: tuple[str, ...] = ("base.tcss", "widgets.tcss", "steps.tcss", "rollback.tcss")


def _css_paths() -> list[str | PurePath]:
    styles = files("iact_tui.styles")
    return [Path(str(styles / name)) for name in STYLE_FILES]


class RollbackApp(App[None]):
    """The rollback of one environment.

    Args:
        run: The rollback run the screen drives (loaded by the screen).
        snapshot_mode: Deterministic rendering for tests (no cursor blink).
        resumed: The journal's replay of a resumed ``run``; ``None``: a new run.
    """

    TITLE = "iact-tui rollback"
    CSS_PATH = _css_paths()

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("ctrl+q", "quit", "Quit", show=False, priority=True),
    ]

    def __init__(self, run: RollbackRun, *, snapshot_mode: bool = False, resumed: Replayed | None = None) -> None:
        super().__init__()
        self.rollback_run = run
        #: The journal's replay when ``run`` is a resumed one (:func:`~iact_tui.engine.resume.resume_flow`).
        self.resumed = resumed
        self.blink = not snapshot_mode
        self.sub_title = f"{run.env} · {run.config.path}"

    def on_mount(self) -> None:
        self.push_screen(RollbackScreen(self.rollback_run, blink=self.blink, resumed=self.resumed))


def make_rollback_app(
    config: Config, *, env: str = "production", state_dir: Path | None = None, snapshot_mode: bool = False
) -> RollbackApp:
    """Build the rollback app for the CLI and the tests.

    Raises:
        ConfigError: ``env`` is not configured.
    """
    return RollbackApp(RollbackRun(config, state_dir=state_dir, env=env), snapshot_mode=snapshot_mode)
