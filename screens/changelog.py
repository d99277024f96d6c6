"""Stage 4: edit the new release's changelog section, with a live Markdown preview
(:class:`~iact_tui.widgets.markdown_preview.MarkdownPreview`: one widget, not one per block)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import ClassVar

from textual import on, work
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.timer import Timer
from textual.widget import Widget
from textual.widgets import Button, Static, TextArea

from iact_tui.errors import IactError
from iact_tui.screens.base import WizardScreen
from iact_tui.widgets.literal import escape
from iact_tui.widgets.markdown_preview import MarkdownPreview

#: Seconds of quiet typing before the preview re-renders.
PREVIEW_DEBOUNCE = 0.3
#: Seconds after the last key before the edited text is kept in the run (and journaled,
#: so a run resumed after a crash has it).
SAVE_DEBOUNCE = 1.0


class ChangelogScreen(WizardScreen):
    """A TextArea pre-filled with the drafted section; preview beside it (toggle f2)."""

    STAGE = "changelog"
    TITLE_TEXT = "Edit the changelog"

    BINDINGS: ClassVar[list[BindingType]] = [
        # Priority: the editor would otherwise take Escape to give up focus.
        Binding("escape", "back", "Back", priority=True),
        Binding("f2", "toggle_preview", "Preview"),
        Binding("ctrl+s", "continue", "Save & continue"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.drafted: str | None = None
        self._preview_timer: Timer | None = None
        self._save_timer: Timer | None = None

    def compose_body(self) -> Iterable[Widget]:
        with Horizontal(id="changelog-panes"):
            with Vertical(id="editor-pane"):
                area = TextArea(
                    "", id="changelog-editor", soft_wrap=True, show_line_numbers=True, tab_behavior="indent"
                )
                if "markdown" in area.available_languages:
                    area.language = "markdown"
                area.border_title = "Markdown"
                area.disabled = True
                yield area
            with VerticalScroll(id="preview-pane"):
                yield MarkdownPreview(id="changelog-preview")
        with Horizontal(id="actions"):
            yield Static("", id="changelog-error")
            yield Button("Save & continue", id="continue", variant="success", disabled=True)

    def on_mount(self) -> None:
        super().on_mount()
        self.query_one("#preview-pane").border_title = "Preview"
        self.load()

    @work(exclusive=True, exit_on_error=False, group="changelog")
    async def load(self) -> None:
        """Draft the section (the run keeps the operator's edited text) and show it."""
        try:
            text = await self.run.draft_changelog()
        except IactError as exc:
            self.query_one("#changelog-error", Static).update(f"[b red]✘ {escape(exc.what)}[/]  → {escape(exc.fix)}")
            return
        self.drafted = text
        area = self.query_one("#changelog-editor", TextArea)
        area.load_text(text)
        area.disabled = False
        area.focus()
        self.query_one("#continue", Button).disabled = False
        self.query_one("#changelog-preview", MarkdownPreview).update(self.preview_source(text))

    def preview_source(self, body: str) -> str:
        """The section as it will appear in the changelog (heading added for the preview)."""
        state = self.run.state
        return f"## [{state.version or 'next'}]\n\n{body}"

    @property
    def text(self) -> str:
        """The editor's text."""
        return self.query_one("#changelog-editor", TextArea).text

    @on(TextArea.Changed, "#changelog-editor")
    def _edited(self) -> None:
        if self._preview_timer is not None:
            self._preview_timer.stop()
        self._preview_timer = self.set_timer(PREVIEW_DEBOUNCE, self.refresh_preview)
        if self._save_timer is not None:
            self._save_timer.stop()
        self._save_timer = self.set_timer(SAVE_DEBOUNCE, self.keep_edit)

    def keep_edit(self) -> None:
        """Keep the editor's text in the run when the operator changed it (journaled)."""
        text = self.text
        if self.drafted is not None and text != self.drafted and text != self.run.state.changelog_body:
            self.run.set_changelog(text)

    async def refresh_preview(self) -> None:
        """Render the editor's text into the preview (drawn on the next paint)."""
        self.query_one("#changelog-preview", MarkdownPreview).update(self.preview_source(self.text))

    def action_toggle_preview(self) -> None:
        """Show or hide the preview (the editor takes the full width)."""
        pane = self.query_one("#preview-pane")
        pane.display = not pane.display

    def leaving(self) -> None:
        # Going back keeps what the operator typed (the run hands it back on return).
        if self.drafted is not None and self.text != self.drafted:
            self.run.set_changelog(self.text)

    def action_continue(self) -> None:
        """Keep the text in the run and go on."""
        if self.drafted is None:
            return
        self.run.set_changelog(self.text)
        try:
            self.run.check_changelog(self.text)
        except IactError as exc:
            self.notify(
                f"{exc.what}\n→ {exc.fix}",
                title="The changelog section cannot be written",
                severity="error",
                timeout=12,
            )
            return
        self.go_next()

    @on(Button.Pressed, "#continue")
    def _continue_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.action_continue()
