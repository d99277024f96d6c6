"""Modal dialogs: the typed production confirmation and the quit confirmation."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, Static

from iact_tui.widgets.literal import escape


class ConfirmModal(ModalScreen[bool]):
    """Ask the operator to type the version before a dangerous step.

    Dismisses with ``True`` once ``check(typed)`` accepts the text, ``False`` on Cancel
    or Escape. Wrong text keeps the dialog open with a message saying what to type.

    The wording defaults to a release's deploy; another flow gives its own, e.g. a
    rollback: ``title="Roll production back to v1.4.0"``, ``purpose="roll production
    back to v1.4.0"``, ``noun="the rollback target"``.

    Args:
        version: The version to type, e.g. ``"1.4.0"``.
        check: Decides whether the typed text confirms (the run records the attempt).
        target: What is being confirmed, e.g. ``"production"``.
        blink: Whether the input's cursor blinks (off for snapshots).
        title: The dialog's title; ``""``: ``Deploy to <target>``.
        purpose: What typing the version does, after "to" in the prompt; ``""``:
            ``deploy to <target>``.
        noun: What the version is, in the message for a wrong one (``“1.3.2” is not
            <noun>``).
    """

    BINDINGS = [Binding("escape", "cancel", "Cancel")]

    DEFAULT_CSS = """
    ConfirmModal {
        align: center middle;
        background: $background 60%;
    }
    ConfirmModal > #confirm-dialog {
        width: 64;
        height: auto;
        padding: 1 2;
        border: thick $error;
        background: $surface;
    }
    ConfirmModal .confirm--title { text-style: bold; color: $error; margin-bottom: 1; }
    ConfirmModal .confirm--prompt { margin-bottom: 1; }
    ConfirmModal .confirm--error { color: $error; height: auto; min-height: 1; }
    ConfirmModal #confirm-buttons { height: auto; margin-top: 1; align-horizontal: right; }
    ConfirmModal #confirm-buttons Button { margin-left: 2; }
    """

    #: What the typed text is, in the message for an empty answer (a subclass asking
    #: for a hostname says so).
    typed_kind = "the version"

    def __init__(
        self,
        version: str,
        check: Callable[[str], bool],
        *,
        target: str = "production",
        blink: bool = True,
        title: str = "",
        purpose: str = "",
        noun: str = "the version being released",
    ) -> None:
        super().__init__()
        self.version = version
        self.target = target
        self.heading = title or f"Deploy to {target}"  # not ``title``: a screen's own reactive
        self.purpose = purpose or f"deploy to {target}"
        self.noun = noun
        self._check = check
        self._blink = blink

    def compose(self) -> ComposeResult:
        with Vertical(id="confirm-dialog"):
            yield Label(escape(self.heading), classes="confirm--title")
            yield Static(
                f"Type the version [b]{escape(self.version)}[/b] to {escape(self.purpose)}.",
                classes="confirm--prompt",
            )
            yield Input(placeholder="type the version here", id="confirm-input")
            yield Static("", id="confirm-error", classes="confirm--error")
            with Horizontal(id="confirm-buttons"):
                yield Button("Cancel", id="confirm-cancel")
                yield Button("Confirm", id="confirm-ok", variant="error")

    def on_mount(self) -> None:
        field = self.query_one("#confirm-input", Input)
        field.cursor_blink = self._blink
        field.focus()

    @on(Input.Submitted, "#confirm-input")
    @on(Button.Pressed, "#confirm-ok")
    def _confirm(self) -> None:
        field = self.query_one("#confirm-input", Input)
        typed = field.value.strip()
        if self._check(typed):
            self.dismiss(True)
            return
        message = (
            f"“{escape(typed)}” is not {escape(self.noun)}. Type {escape(self.version)} exactly."
            if typed
            else f"Type {self.typed_kind} {self.version} to confirm, or press Cancel."
        )
        self.query_one("#confirm-error", Static).update(message)
        field.value = ""
        field.focus()

    @on(Button.Pressed, "#confirm-cancel")
    def action_cancel(self) -> None:
        """Close without confirming."""
        self.dismiss(False)


class QuitModal(ModalScreen[bool]):
    """Ask before quitting or leaving: while a step is running (it will be cancelled), or
    while a flow is half done (it has changed things and is not finished yet).

    Dismisses with ``True`` (the leave button, ``y``) or ``False`` (Stay, the default; Escape).

    Args:
        step: The running step's title (``""`` when none is running).
        done: What the flow has done, e.g. ``"v1.5.3 is tagged and deployed to production."``
        not_done: What it has not, e.g. ``["Deploy to production", "Backport into main"]``.
        subject: The dialog's first line when no step runs, e.g. ``"The hotfix is not finished."``
        leave_label: The leave button's label: ``"Quit"`` when the app exits, ``"Leave"``
            when the operator goes back to another screen.
        still_running: With ``step``: whether it still runs, asked every
            :attr:`POLL_SECONDS`; once it has ended the message says so (the dialog
            must not say a step runs that has finished).
    """

    BINDINGS = [Binding("escape", "stay", "Stay"), Binding("y", "leave", "Leave")]
    #: How often ``still_running`` is asked, in seconds.
    POLL_SECONDS = 0.25

    DEFAULT_CSS = """
    QuitModal { align: center middle; background: $background 60%; }
    QuitModal > #quit-dialog {
        width: 60; height: auto; padding: 1 2; border: thick $warning; background: $surface;
    }
    QuitModal #quit-buttons { height: auto; margin-top: 1; align-horizontal: right; }
    QuitModal #quit-buttons Button { margin-left: 2; }
    """

    def __init__(
        self,
        step: str = "",
        *,
        done: str = "",
        not_done: Sequence[str] = (),
        subject: str = "The release is not finished.",
        leave_label: str = "Quit",
        still_running: Callable[[], bool] | None = None,
    ) -> None:
        super().__init__()
        self.step = step
        self.still_running = still_running
        #: The step has ended while the dialog was open.
        self.step_ended = False
        self.done = done
        self.not_done = tuple(not_done)
        self.subject = subject
        self.leave_label = leave_label

    def text(self) -> str:
        """The dialog's message (markup)."""
        if self.step and self.step_ended:
            return (
                f"[b]{escape(self.step)}[/b] has ended.\n"
                "No further step starts while this dialog is open.\n"
                "Quitting now stops nothing that runs; the journal records where the run is."
            )
        if self.step:
            return (
                f"[b]{escape(self.step)}[/b] is still running, and keeps running while you decide.\n"
                "Quitting stops it first: its command is stopped, and a deploy runs its post "
                "commands (maintenance mode off) before iact-tui exits. No later step starts "
                "meanwhile. The journal records where it stopped."
            )
        lines = [f"[b]{escape(self.subject)}[/b]"]
        if self.done:
            lines.append(escape(self.done))
        if self.not_done:
            lines.append(f"[b]not done:[/b] {escape(', '.join(self.not_done))}")
        lines.append("The journal records where it stopped.")
        return "\n".join(lines)

    def compose(self) -> ComposeResult:
        with Vertical(id="quit-dialog"):
            yield Static(self.text(), id="quit-text")
            with Horizontal(id="quit-buttons"):
                yield Button("Stay", id="quit-stay", variant="primary")
                yield Button(self.leave_label, id="quit-leave", variant="warning")

    def on_mount(self) -> None:
        self.query_one("#quit-stay", Button).focus()
        if self.step and self.still_running is not None:
            self._poll = self.set_interval(self.POLL_SECONDS, self._check_step)

    def _check_step(self) -> None:
        """Say so once the running step has ended."""
        if self.still_running is None or self.still_running():
            return
        self.step_ended = True
        self._poll.stop()
        self.query_one("#quit-text", Static).update(self.text())

    @on(Button.Pressed, "#quit-leave")
    def action_leave(self) -> None:
        """Quit or leave anyway."""
        self.dismiss(True)

    @on(Button.Pressed, "#quit-stay")
    def action_stay(self) -> None:
        """Go back to the flow."""
        self.dismiss(False)
