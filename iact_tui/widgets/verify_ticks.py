"""The verification items done by hand: a tick box and an optional note for each.

Used by every screen that verifies an environment (verify, hotfix, rollback): the
operator ticks what they checked ("critical functionality verified by hand", "metrics
normal"), each with a note of what and where. The widget keeps what is shown; the screen
records each change (``ReleaseRun.tick_verify``) from :class:`VerifyTicks.Changed`.

Keys typed in a note stay in the note: the ``Input`` takes printable keys before any
screen binding sees them. Enter in a note saves it and moves on to the next item not
ticked yet (:class:`VerifyTicks.NoteSubmitted` lets the screen go on from there). A
ticked item's note is also kept :data:`NOTE_SAVE_DEBOUNCE` seconds after the last key.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from textual import on
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.message import Message
from textual.timer import Timer
from textual.widgets import Checkbox, Input

from iact_tui.widgets.tick_box import TickBox

#: The panel's border title.
TITLE = "Verified by hand · space ticks, a note is optional"

#: Seconds after the last key in a ticked item's note before it is kept (journaled), so a
#: note typed just before iact-tui is killed is not lost.
NOTE_SAVE_DEBOUNCE = 1.0


class VerifyTicks(Vertical):
    """Tick boxes (``#verify-tick-<id>``) with notes (``#verify-note-<id>``).

    Args:
        items: ``(id, label)`` of the items done by hand, in order.
        ticks: The items ticked already → their notes (kept on a retry).
    """

    @dataclass
    class Changed(Message):
        """An item was ticked or unticked, or a ticked item's note changed."""

        panel: VerifyTicks
        check_id: str
        ticked: bool
        note: str

    @dataclass
    class NoteSubmitted(Message):
        """Enter in a note (saved); ``panel.unticked()`` says what is left."""

        panel: VerifyTicks
        check_id: str

    def __init__(
        self,
        items: Iterable[tuple[str, str]],
        ticks: Mapping[str, str],
        *,
        id: str | None = None,
        classes: str | None = None,
    ) -> None:
        super().__init__(id=id, classes=classes)
        self.items = tuple(items)
        #: What is shown as ticked: item id → its note.
        self.ticks = dict(ticks)
        self.border_title = TITLE
        #: Item id → the pending debounced save of its note.
        self._note_timers: dict[str, Timer] = {}

    def compose(self) -> ComposeResult:
        for check_id, label in self.items:
            yield TickBox(label, value=check_id in self.ticks, id=f"verify-tick-{check_id}")
            yield Input(
                self.ticks.get(check_id, ""),
                placeholder="note (optional): what you checked, where",
                id=f"verify-note-{check_id}",
                classes="verify-note",
                # Coming back to a note goes on writing it: selected, one key erased it.
                select_on_focus=False,
            )

    # -- state -------------------------------------------------------------------------

    def _ids(self) -> list[str]:
        return [check_id for check_id, _ in self.items]

    def note(self, check_id: str) -> str:
        """The note typed for ``check_id`` (stripped)."""
        return self.query_one(f"#verify-note-{check_id}", Input).value.strip()

    def unticked(self) -> list[tuple[str, str]]:
        """The items not ticked yet, as ``(id, label)``."""
        return [(c, label) for c, label in self.items if c not in self.ticks]

    def complete(self) -> bool:
        """Every item is ticked."""
        return not self.unticked()

    def focus_next_tick(self) -> bool:
        """Focus the first item not ticked yet and scroll the panel into view.

        Returns:
            ``False`` when every item is ticked (nothing focused).
        """
        missing = self.unticked()
        if not missing:
            return False
        self.query_one(f"#verify-tick-{missing[0][0]}", TickBox).focus()
        # The whole panel, so the other item and the notes are in view too.
        self.call_after_refresh(self.scroll_visible, animate=False)
        return True

    def save_note(self, check_id: str) -> None:
        """Keep the note of a ticked item when it changed (posts :class:`Changed`)."""
        if check_id in self.ticks and self.ticks[check_id] != self.note(check_id):
            self.ticks[check_id] = self.note(check_id)
            self.post_message(self.Changed(self, check_id, True, self.ticks[check_id]))

    def save_notes(self) -> None:
        """Keep every ticked item's note (before going on)."""
        for check_id in self._ids():
            self.save_note(check_id)

    # -- events ------------------------------------------------------------------------

    @on(Checkbox.Changed)
    def _ticked(self, event: Checkbox.Changed) -> None:
        check_id = (event.checkbox.id or "").removeprefix("verify-tick-")
        if check_id not in self._ids():
            return
        event.stop()
        if event.value == (check_id in self.ticks):
            return
        if event.value:
            self.ticks[check_id] = self.note(check_id)
        else:
            self.ticks.pop(check_id, None)
        # Focus stays on the tick: the operator's next Tab goes to its note. Moving it on
        # made the next Tab wrap round to the first tick, and a note typed there was read
        # as keys (each space a tick, a ``q`` quitting).
        self.post_message(self.Changed(self, check_id, event.value, self.note(check_id)))

    @on(Input.Submitted, ".verify-note")
    def _note_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        check_id = (event.input.id or "").removeprefix("verify-note-")
        self.save_note(check_id)
        # Enter in a note moves on to the first item not ticked yet (its own tick,
        # typically); it never leaves the screen by itself.
        self.focus_next_tick()
        self.post_message(self.NoteSubmitted(self, check_id))

    @on(Input.Changed, ".verify-note")
    def _note_typed(self, event: Input.Changed) -> None:
        check_id = (event.input.id or "").removeprefix("verify-note-")
        if check_id not in self.ticks:
            return  # an unticked item's note is taken with its tick
        timer = self._note_timers.pop(check_id, None)
        if timer is not None:
            timer.stop()
        self._note_timers[check_id] = self.set_timer(NOTE_SAVE_DEBOUNCE, lambda: self.save_note(check_id))

    @on(Input.Blurred, ".verify-note")
    def _note_left(self, event: Input.Blurred) -> None:
        self.save_note((event.input.id or "").removeprefix("verify-note-"))
