"""A modal showing a run's report (:mod:`iact_tui.engine.report`) as Markdown."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import ClassVar

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Markdown, Static

from iact_tui.engine import report
from iact_tui.errors import IactError
from iact_tui.widgets.literal import escape


class ReportModal(ModalScreen[None]):
    """The report of the run in ``run_dir``, built from its journal as it stands (in a
    thread: a long journal never holds up the UI); ``esc``, ``q`` or ``v`` closes it.

    Args:
        run_dir: The run's folder (it holds ``journal.jsonl``).
        mask: Applied to the report before it is shown (the app's snapshot masking);
            ``None``: shown as built.
    """

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape,q,v", "close", "Close")]

    DEFAULT_CSS = """
    ReportModal {
        align: center middle;
        background: $background 60%;
    }
    ReportModal > #report-dialog {
        width: 90%;
        height: 90%;
        border: round $primary;
        border-title-color: $text-muted;
        background: $surface;
    }
    ReportModal #report-scroll { height: 1fr; padding: 0 1; }
    ReportModal .report--hint { height: 1; padding: 0 1; color: $text-muted; }
    """

    def __init__(self, run_dir: Path, mask: Callable[[str], str] | None = None) -> None:
        super().__init__()
        self.run_dir = run_dir
        self._mask = mask or (lambda text: text)
        #: The report shown (``""`` until built).
        self.text = ""

    def compose(self) -> ComposeResult:
        with Vertical(id="report-dialog") as dialog:
            dialog.border_title = "Run report"
            with VerticalScroll(id="report-scroll"):
                yield Markdown("Building the report from the journal…", id="report-markdown")
            yield Static(
                escape(f"saved as {report.REPORT_NAME} in the run folder when the run ends · esc closes"),
                classes="report--hint",
            )

    def on_mount(self) -> None:
        self._build()

    @work(exclusive=True, exit_on_error=False, group="report")
    async def _build(self) -> None:
        try:
            text = await asyncio.to_thread(report.current_report, self.run_dir)
        except IactError as exc:
            text = f"**The report could not be built.** {exc.what}\n\n→ {exc.fix}"
        self.text = self._mask(text)
        await self.query_one("#report-markdown", Markdown).update(self.text)

    def action_close(self) -> None:
        """Back to the screen below."""
        self.dismiss(None)
