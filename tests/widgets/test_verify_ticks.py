"""VerifyTicks alone: a tick and a note post what the screen records; Enter in a note
keeps the note and moves on to the next item not ticked; the note's keys stay in it."""

from __future__ import annotations

from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.widgets import Input

from iact_tui.widgets import VerifyTicks

ITEMS = (("by-hand", "Critical functionality verified by hand"), ("metrics", "Metrics normal"))


class TicksApp(App[None]):
    BINDINGS = [Binding("c", "pressed('c')", "Continue")]

    def __init__(self) -> None:
        super().__init__()
        self.changes: list[tuple[str, bool, str]] = []
        self.keys: list[str] = []

    def compose(self) -> ComposeResult:
        yield VerifyTicks(ITEMS, {"metrics": "grafana"})

    def action_pressed(self, key: str) -> None:
        self.keys.append(key)

    def on_verify_ticks_changed(self, event: VerifyTicks.Changed) -> None:
        self.changes.append((event.check_id, event.ticked, event.note))


async def test_ticks_and_notes_are_posted_and_keys_stay_in_the_note() -> None:
    app = TicksApp()
    async with app.run_test(size=(80, 12)) as pilot:
        ticks = app.query_one(VerifyTicks)
        assert ticks.unticked() == [ITEMS[0]]
        assert ticks.query_one("#verify-note-metrics", Input).value == "grafana"  # kept from before
        assert ticks.focus_next_tick()
        assert app.focused is ticks.query_one("#verify-tick-by-hand")
        await pilot.press("space")
        assert app.changes == [("by-hand", True, "")] and ticks.complete()
        ticks.query_one("#verify-note-by-hand", Input).focus()
        await pilot.press(*"checkout", "enter")
        await pilot.pause()
        assert app.keys == []  # c went into the note
        assert app.changes[-1] == ("by-hand", True, "checkout")
        assert not ticks.focus_next_tick()  # nothing left to tick


async def test_a_ticked_items_note_is_kept_a_second_after_the_last_key() -> None:
    """A note typed just before a kill -9 is not lost: it is posted (journaled by the
    screen) about a second after the last key, the field still focused."""
    app = TicksApp()
    async with app.run_test(size=(80, 12)) as pilot:
        ticks = app.query_one(VerifyTicks)
        note = ticks.query_one("#verify-note-metrics", Input)
        note.focus()
        note.cursor_position = len(note.value)
        await pilot.press(*" p95 ok")
        await pilot.pause(0.3)
        assert app.changes == []  # still typing
        await pilot.pause(1.2)
        assert app.focused is note
        assert app.changes == [("metrics", True, "grafana p95 ok")]
