"""A checkbox that reads the same in any terminal: ``✔`` when ticked, blank when not.

Textual's ``Checkbox`` draws an ``X`` in both states and tells them apart by colour
only, which a monochrome terminal, a screen reader or ``tmux capture-pane`` cannot see.
"""

from __future__ import annotations

from typing import ClassVar

from textual.binding import Binding, BindingType
from textual.content import Content
from textual.widgets import Checkbox


class TickBox(Checkbox, inherit_bindings=False):
    """A :class:`~textual.widgets.Checkbox` whose mark shows its state without colour.

    Only space toggles it: enter is left to the screen (Continue), so an operator
    pressing enter to go on never unticks an item by accident. ``↓``/``↑`` move to the
    next/previous tick box on the screen (tab goes through every widget); at the last or
    first one they stay put, so space, down, space never toggles the same item twice.
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("space", "toggle_button", "Toggle", show=False),
        Binding("down", "focus_tick(1)", "Next item", show=False),
        Binding("up", "focus_tick(-1)", "Previous item", show=False),
    ]

    def action_focus_tick(self, step: int) -> None:
        """Focus the tick box ``step`` places away among those that can take focus now
        (in the screen's focus order; hidden panels' boxes are skipped); nothing past
        either end.

        Args:
            step: ``1`` for the next box, ``-1`` for the previous one.
        """
        boxes = [w for w in self.screen.focus_chain if isinstance(w, TickBox)]
        if self not in boxes:
            return
        index = boxes.index(self) + step
        if 0 <= index < len(boxes):
            boxes[index].focus()

    @property
    def _button(self) -> Content:
        self.BUTTON_INNER = "✔" if self.value else " "
        return super()._button
