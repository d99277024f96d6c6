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
    pressing enter to go on never unticks an item by accident.
    """

    BINDINGS: ClassVar[list[BindingType]] = [Binding("space", "toggle_button", "Toggle", show=False)]

    @property
    def _button(self) -> Content:
        self.BUTTON_INNER = "✔" if self.value else " "
        return super()._button
