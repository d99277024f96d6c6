"""``iact-tui hotfix``: the hotfix screen alone in its app (leaving it exits).

:func:`make_hotfix_app` is the factory the CLI and the Pilot tests share.
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path, PurePath
from typing import ClassVar

from textual.app import App
from textual.binding import Binding, BindingType

from iact_tui.config import Config
from iact_tui.engine.hotfix import HotfixRun
from iact_tui.engine.resume import Replayed
from iact_tui.screens.hotfix import HotfixScreen

#: Style sheets of the hotfix app, in cascade order.
STYLE_FILES: tuple[str, ...] = ("base.tcss", "widgets.tcss", "steps.tcss", "prep.tcss", "hotfix.tcss")
# prep.tcss: the reason modal asked for a missing backup or notice.


def _css_paths() -> list[str | PurePath]:
    styles = files("iact_tui.styles")
    return [Path(str(styles / name)) for name in STYLE_FILES]


class HotfixApp(App[None]):
    """A hotfix of what production runs.

    Args:
        run: The hotfix run the screen drives (loaded by the screen).
        snapshot_mode: Deterministic rendering for tests (no cursor blink).
        resumed: The journal's replay of a resumed ``run``; ``None``: a new run.
    """

    TITLE = "iact-tui hotfix"
    CSS_PATH = _css_paths()

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("ctrl+q", "quit", "Quit", show=False, priority=True),
    ]

    def __init__(self, run: HotfixRun, *, snapshot_mode: bool = False, resumed: Replayed | None = None) -> None:
        super().__init__()
        self.hotfix_run = run
        #: The journal's replay when ``run`` is a resumed one (:func:`~iact_tui.engine.resume.resume_flow`).
        self.resumed = resumed
        self.blink = not snapshot_mode
        self.sub_title = f"production · {run.config.path}"

    def on_mount(self) -> None:
        self.push_screen(HotfixScreen(self.hotfix_run, blink=self.blink, resumed=self.resumed))


def make_hotfix_app(config: Config, *, state_dir: Path | None = None, snapshot_mode: bool = False) -> HotfixApp:
    """Build the hotfix app for the CLI and the tests.

    Raises:
        ConfigError: There is no ``[environments.production]``.
    """
    return HotfixApp(HotfixRun(config, state_dir=state_dir), snapshot_mode=snapshot_mode)
