"""The question before a new release leaves an unfinished one for good.

Welcome offers an unfinished release first; choosing "Start a new release" instead
records ``run_abandoned`` in that run's journal, after which it is never offered or
resumed again. When that run changed anything (a step past the checklist's preflight
ran: a branch, a tag, a deploy), the operator confirms first by typing its version
(:class:`LeaveUnfinishedModal`); what it did is said in the question.
"""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.widgets import Button, Input, Label, Static

from iact_tui.widgets.confirm import ConfirmModal
from iact_tui.widgets.literal import escape


class LeaveUnfinishedModal(ConfirmModal):
    """``Leave release v1.5.2 unfinished for good?`` with what it did; typing its version
    (with or without the tag prefix) confirms.

    Dismisses with ``True`` once the version is typed, ``False`` on Cancel or Escape; a
    wrong text keeps it open saying what to type.

    Args:
        tag: The unfinished release's tag, e.g. ``"v1.5.2"``.
        version: Its version, e.g. ``"1.5.2"``.
        did: What it did, e.g. ``"It is tagged and on staging (Tag v1.5.2: ok, ...)."``.
        blink: Whether the input's cursor blinks (off in tests).
        subject: What it is, e.g. ``"rollback of production to v1.3.1"``; ``""``:
            ``release <tag>``.
        then: What starts once it is left: ``release``, ``hotfix`` or ``rollback``.
    """

    typed_kind = "the unfinished release's version"

    def __init__(
        self, tag: str, version: str, did: str, *, blink: bool = True, subject: str = "", then: str = "release"
    ) -> None:
        subject = subject or f"release {tag}"
        super().__init__(
            version,
            lambda typed: typed in {version, tag},
            blink=blink,
            title=f"Leave {subject} unfinished",
            purpose=f"leave it and start a new {then}",
            noun=f"the unfinished {subject.split()[0]}'s version",
        )
        self.tag, self.did, self.subject, self.then = tag, did, subject, then

    def compose(self) -> ComposeResult:
        with Vertical(id="confirm-dialog"):
            yield Label(escape(self.heading), classes="confirm--title")
            yield Static(
                f"Leave {escape(self.subject).replace(escape(self.tag), f'[b]{escape(self.tag)}[/b]', 1)} "
                f"unfinished for good? {escape(self.did)} "
                "Its journal stays; it will not be offered again.\n"
                f"Type its version [b]{escape(self.version)}[/b] to leave it and start a new {escape(self.then)}.",
                classes="confirm--prompt",
                id="leave-question",
            )
            yield Input(placeholder="type the version here", id="confirm-input")
            yield Static("", id="confirm-error", classes="confirm--error")
            with Horizontal(id="confirm-buttons"):
                yield Button("Cancel", id="confirm-cancel")
                yield Button("Leave it", id="confirm-ok", variant="error")
