"""Stage 11: the release announcement: preview, edit, save, copy, send to the team's chat.

The ``announce`` step renders the announcement from its template and saves it; the
screen previews it with :class:`~iact_tui.widgets.markdown_preview.MarkdownPreview` (one
widget: Textual's ``Markdown`` mounted some 200 and stalled the UI for 50-60 ms). ``f2``
(or ``e``) opens it in an editor and back: the edit is kept in the run (journaled) and is what is saved (``ctrl+s``),
copied (``c``) and sent (``s``, when ``[announce] webhook_env`` names the webhook); ``v``
shows the run's report (:class:`~iact_tui.widgets.report_view.ReportModal`). A
failed send shows the status and the start of the server's answer; ``r`` sends again.
Copying goes through the terminal (OSC 52): it works only where the terminal lets
programs set the clipboard.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, ClassVar

from textual import on, work
from textual.binding import Binding, BindingType
from textual.containers import Vertical, VerticalScroll
from textual.widget import Widget
from textual.widgets import Button, Static, TextArea

from iact_tui.engine.events import StepFinished
from iact_tui.engine.steps.announce import SendOutcome
from iact_tui.errors import IactError
from iact_tui.screens.base import StepScreen, show
from iact_tui.widgets.literal import escape
from iact_tui.widgets.markdown_preview import MarkdownPreview
from iact_tui.widgets.report_view import ReportModal

STEP = "announce"


class AnnouncementScreen(StepScreen):
    """Runs ``announce``; previews and edits the announcement, saves, copies and sends it."""

    STAGE = "announce"
    TITLE_TEXT = "Announcement"
    ALLOW_BACK = False
    SHOW_LOG = False

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("r", "retry", "Retry"),
        Binding("f2", "open_editor", "Edit"),
        Binding("f2,escape", "close_editor", "Preview"),
        Binding("e", "open_editor", "Edit", show=False),
        Binding("ctrl+s", "save", "Save"),
        Binding("ctrl+r", "reset", "Reset to template"),
        Binding("c", "copy", "Copy"),
        Binding("s", "send", "Send"),
        Binding("v", "view_report", "Report"),
        Binding("enter", "continue", "Finish"),
    ]

    def __init__(self) -> None:
        super().__init__()
        #: The editor is shown instead of the preview.
        self.editing = False
        #: The text last written to the file (``None`` before the step saved it).
        self.saved_text: str | None = None
        #: The last send's outcome (this screen's, or the run's from before).
        self.sent: SendOutcome | None = None
        #: A send is under way.
        self.sending = False
        #: The text of the last send.
        self.sent_text: str | None = None
        #: Finish was pressed once with something left undone (the second press finishes).
        self._warned = False

    # -- layout ------------------------------------------------------------------------

    def compose_step(self) -> Iterable[Widget]:
        with Vertical(id="announcement-pane"):
            with VerticalScroll(id="announcement-scroll"):
                yield MarkdownPreview(id="announcement")
            area = TextArea("", id="announcement-editor", soft_wrap=True, show_line_numbers=False)
            if "markdown" in area.available_languages:
                area.language = "markdown"
            yield area
        yield Static("", id="announcement-paths")

    def on_mount(self) -> None:
        super().on_mount()
        self.query_one("#announcement-editor").display = False
        self.query_one("#continue", Button).label = "Finish ⏎"
        self._show_paths()
        self._title()
        record = self.run.records.get(STEP)
        if record is not None and record.status == "ok":
            self._show(dict(record.data))

    @property
    def webhook(self) -> str:
        """Where ``s`` sends (URL path masked); ``""`` with no webhook configured."""
        return self.run.announcement_webhook()

    @property
    def text(self) -> str:
        """The announcement as it stands (the editor's text while editing)."""
        if self.editing:
            return self.query_one("#announcement-editor", TextArea).text
        return self.run.announcement or ""

    # -- the step's result ---------------------------------------------------------------

    def on_step_finished(self, event: StepFinished) -> None:
        super().on_step_finished(event)
        if event.status == "ok":
            self._show(dict(event.data))

    def _show(self, data: dict[str, Any]) -> None:
        markdown = str(data.get("markdown", ""))
        self.saved_text = markdown
        send = data.get("send")
        if isinstance(send, dict):
            self.sent = SendOutcome(**send)
            self.sent_text = markdown
        self.query_one("#announcement", MarkdownPreview).update(self.iact.mask(markdown))
        self._show_paths()

    def _show_paths(self) -> None:
        data = self.run.state.results.get(STEP) or {}
        lines = []
        if data.get("path"):
            unsaved = "  [$warning](edited since: ctrl+s saves)[/]" if self._unsaved() else ""
            lines.append(f"[b]Saved to[/b]  {escape(self.display_path(str(data['path'])))}{unsaved}")
        lines.append(f"[b]Journal[/b]   {escape(self.display_path(self.run.journal_path))}")
        if self.webhook:
            lines.append(f"[b]Send to[/b]   {escape(self.iact.mask(self.webhook))}")
        elif data:
            lines.append("[b]Send to[/b]   [$text-muted]no webhook set (\\[announce] webhook_env); c copies it[/]")
        show(self.query_one("#announcement-paths", Static), "\n".join(lines))

    def _title(self) -> None:
        pane = self.query_one("#announcement-pane")
        edited = " (edited)" if (self.run.state.results.get(STEP) or {}).get("edited") else ""
        if self.editing:
            pane.border_title = "Announcement · editing Markdown · f2 preview · ctrl+r template"
        else:
            pane.border_title = f"Announcement{edited} · f2 edit"

    def _unsaved(self) -> bool:
        return self.saved_text is not None and self.text != self.saved_text

    # -- editing -----------------------------------------------------------------------

    def _commit_edit(self) -> None:
        """Keep the editor's text in the run (journaled) when it changed."""
        if not self.editing:
            return
        text = self.query_one("#announcement-editor", TextArea).text
        if text != self.run.announcement:
            self.run.set_announcement_text(text)

    def action_toggle_editor(self) -> None:
        """Open the announcement in the editor, or go back to the preview (keeping the edit)."""
        if not self._has_announcement():
            return
        area = self.query_one("#announcement-editor", TextArea)
        scroll = self.query_one("#announcement-scroll")
        if self.editing:
            self._commit_edit()
            self.editing = False
            self.query_one("#announcement", MarkdownPreview).update(self.iact.mask(self.text))
            area.display, scroll.display = False, True
            self.query_one("#continue", Button).focus()
        else:
            area.load_text(self.text)
            self.editing = True
            area.display, scroll.display = True, False
            area.focus()
        self._title()
        self.refresh_state()

    def action_open_editor(self) -> None:
        """``f2``/``e``: edit the announcement's Markdown."""
        if not self.editing:
            self.action_toggle_editor()

    def action_close_editor(self) -> None:
        """``f2``/``escape`` in the editor: back to the preview (the edit is kept)."""
        if self.editing:
            self.action_toggle_editor()

    @on(TextArea.Changed, "#announcement-editor")
    def _typed(self) -> None:
        self._show_paths()  # "edited since" appears as soon as the text differs from the file

    def action_reset(self) -> None:
        """``ctrl+r`` in the editor: put the rendered template back in the editor and the
        preview (the edit is dropped, as asked; a notice says so)."""
        if not self.editing:
            return
        self.run.set_announcement_text(None)
        # ``self.text`` is the editor's text while editing: read the run's (now the template).
        rendered = self.run.announcement or ""
        self.query_one("#announcement-editor", TextArea).load_text(rendered)
        self.query_one("#announcement", MarkdownPreview).update(self.iact.mask(rendered))
        self.notify(
            "The announcement was reset to the template; your edit is dropped (ctrl+s saves it as it is now).",
            title="Reset to the template",
        )
        self._title()
        self.refresh_state()

    # -- save, copy, send --------------------------------------------------------------

    def action_save(self) -> None:
        """Write the announcement as it stands to its file."""
        if self._has_announcement():
            self._commit_edit()
            self._save()

    @work(exclusive=True, exit_on_error=False, group="announce-save")
    async def _save(self) -> None:
        text = self.text
        try:
            path = await self.run.save_announcement()
        except IactError as exc:
            self.notify(f"{escape(exc.what)}\n→ {escape(exc.fix)}", title="Not saved", severity="error", timeout=10)
            return
        self.saved_text = text
        self._warned = False
        self.notify(escape(self.display_path(path)), title="Announcement saved")
        self._title()
        self.refresh_state()

    def action_copy(self) -> None:
        """Copy the announcement to the clipboard through the terminal (OSC 52)."""
        if not self._has_announcement():
            return
        self._commit_edit()
        text = self.text
        self.app.copy_to_clipboard(text)
        self.notify(
            f"{len(text)} characters, through the terminal (OSC 52): if nothing was copied, "
            "your terminal does not allow it; the saved file has the same text.",
            title="Copied to the clipboard",
        )

    def action_send(self) -> None:
        """Send the announcement as it stands to the webhook."""
        if not self.can_send():
            return
        self._commit_edit()
        self.sending = True
        self.sent_text = self.text
        self.refresh_state()
        self._send()

    @work(exclusive=True, exit_on_error=False, group="announce-send")
    async def _send(self) -> None:
        try:
            self.sent = await self.run.send_announcement()
        finally:
            self.sending = False
        self._warned = False
        self.refresh_state()

    def action_view_report(self) -> None:
        """``v``: the run's report as the journal stands (saved as report.md at the end)."""
        if not self.editing:
            self.app.push_screen(ReportModal(self.run.run_dir, self.iact.mask))

    # -- state -------------------------------------------------------------------------

    def _has_announcement(self) -> bool:
        return self.step_status.get(STEP) == "ok" and self.run.announcement is not None

    def can_send(self) -> bool:
        """Whether ``s`` sends now: a webhook is configured, nothing is being sent, and the
        text was not sent already as it is (a second post of the same text is a duplicate)."""
        if not (self.webhook and self._has_announcement()) or self.sending:
            return False
        return not (self.sent is not None and self.sent.ok and self.sent_text == self.text)

    def send_failed(self) -> bool:
        """Whether the last send failed (``r`` sends again)."""
        return self.sent is not None and not self.sent.ok

    def can_retry(self) -> bool:
        if super().can_retry():
            return True
        return self.send_failed() and self.can_send()

    def action_retry(self) -> None:
        """Run the failed step again, or send again after a failed send (with the config
        read again: a fixed ``[announce] format`` is used)."""
        if super().can_retry():
            super().action_retry()
        elif self.send_failed() and self.reload_config():
            self.action_send()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "send":
            if not self.webhook:
                return False
            return True if self.can_send() else None
        if action in ("save", "copy"):
            return True if self._has_announcement() else None
        if action == "open_editor":
            return (True if self._has_announcement() else None) if not self.editing else False
        if action == "view_report":
            return not self.editing
        if action in ("reset", "close_editor"):
            return self.editing
        if action == "continue" and self.editing:
            return False  # enter is a new line in the editor; the Finish button still works
        if action == "back":
            return False
        return super().check_action(action, parameters)

    def status_text(self) -> tuple[str, str]:
        text, state = super().status_text()
        if state != "-ok":
            return text, state
        if self.editing:
            return "✎ Editing the Markdown: f2 or esc shows the preview; ctrl+s saves it; ctrl+r resets it.", ""
        if self.sending:
            return f"◌ Sending to the {escape(self.webhook)}…", "-running"
        if self.sent is not None and not self.sent.ok:
            failed = f"[b]✘ Not sent: {escape(self.sent.message)}[/b]"
            if self.sent.answer and self.sent.answer[:200] not in self.sent.message:
                failed += f"\n  Server's answer: {escape(self.sent.answer[:200])}"
            fix = f"{escape(self.sent.fix)}; " if self.sent.fix else ""
            return failed + f"\n  → {fix}press [b]r[/b] to send again (the text is kept).", "-failed"
        if self.sent is not None:
            return f"✔ Saved and {escape(self.sent.message)}. Press enter or q to finish.", "-ok"
        if self.webhook:
            return "✔ Announcement written. Read it (f2 to edit), then press s to send it; enter finishes.", "-ok"
        # The engine's message repeats the saved path, shown (masked) just above.
        return "✔ Announcement written. Press enter or q to finish.", state

    def refresh_state(self) -> None:
        super().refresh_state()
        if self.is_mounted:
            self._show_paths()

    def leftovers(self) -> list[str]:
        """What finishing now would leave undone: an unsaved edit, an unsent announcement."""
        left = []
        if self._unsaved():
            left.append("the edit is not saved (ctrl+s)")
        if self.webhook and not (self.sent is not None and self.sent.ok):
            left.append("it was not sent (s)")
        return left

    def action_continue(self) -> None:
        """Finish; the first press with something left undone says what, the second finishes."""
        if not self.is_ready():
            return
        self._commit_edit()
        left = self.leftovers()
        if left and not self._warned:
            self._warned = True
            self.notify(
                f"The announcement: {'; '.join(left)}. Press enter again to finish anyway.",
                title="Not done yet",
                severity="warning",
                timeout=8,
            )
            return
        self.go_next()

    def go_next(self) -> None:
        self.iact.finish_and_exit()

    def describe(self) -> dict[str, Any]:
        return {
            **super().describe(),
            "editing": self.editing,
            "sent": self.sent.to_json() if self.sent else None,
            "unsaved": self._unsaved(),
        }
