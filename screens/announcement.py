"""Stage 10: the release announcement, rendered, with where it and the journal are saved."""

from __future__ import annotations

from collections.abc import Iterable
from typing import ClassVar

from rich.markup import escape
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.widget import Widget
from textual.widgets import Button, Markdown, Static

from iact_tui.engine.events import StepFinished
from iact_tui.screens.base import StepScreen


class AnnouncementScreen(StepScreen):
    """Runs ``announce``; shows the Markdown, the saved file and the run's journal."""

    STAGE = "announce"
    TITLE_TEXT = "Announcement"
    ALLOW_BACK = False
    SHOW_LOG = False

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("r", "retry", "Retry"),
        Binding("enter", "continue", "Finish"),
    ]

    def compose_step(self) -> Iterable[Widget]:
        with VerticalScroll(id="announcement-pane"):
            yield Markdown("", id="announcement")
        yield Static("", id="announcement-paths")

    def on_mount(self) -> None:
        super().on_mount()
        self.query_one("#announcement-pane").border_title = "Announcement"
        self.query_one("#continue", Button).label = "Finish ⏎"
        self._show_paths(None)
        record = self.run.records.get("announce")
        if record is not None and record.status == "ok":
            self._show(dict(record.data))

    def on_step_finished(self, event: StepFinished) -> None:
        super().on_step_finished(event)
        if event.status == "ok":
            self._show(dict(event.data))

    def _show(self, data: dict[str, object]) -> None:
        self.query_one("#announcement", Markdown).update(self.iact.mask(str(data.get("markdown", ""))))
        path = data.get("path")
        self._show_paths(str(path) if path else None)

    def _show_paths(self, saved: str | None) -> None:
        lines = []
        if saved:
            lines.append(f"[b]Saved to[/b]  {escape(self.display_path(saved))}")
        lines.append(f"[b]Journal[/b]   {escape(self.display_path(self.run.journal_path))}")
        self.query_one("#announcement-paths", Static).update("\n".join(lines))

    def status_text(self) -> tuple[str, str]:
        text, state = super().status_text()
        if state == "-ok":
            # The engine's message repeats the saved path, shown (masked) just above.
            return "✔ Announcement written. Press enter or q to finish.", state
        return text, state

    def go_next(self) -> None:
        self.iact.finish_and_exit()
