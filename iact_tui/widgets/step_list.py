"""StepList: the wizard's stages in the sidebar, marking done, current, failed and pending."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import ClassVar

from rich.cells import cell_len, set_cell_size
from textual.content import Content
from textual.style import Style
from textual.widget import Widget

#: Stage state → icon.
ICONS: dict[str, str] = {"done": "✔", "current": "▶", "failed": "✘", "pending": "·", "skipped": "–"}


class StepList(Widget):
    """The stages of the wizard as a vertical list with state icons.

    One widget draws the whole list (a title, a blank line, one line per stage), styled
    by its component classes: it is one node of the screen, not one label per stage (a
    stage screen composed, styled and laid out 13 nodes for it, on every screen switch
    and at startup). A state change repaints it without a layout of the screen.

    Args:
        stages: ``(key, label)`` pairs in wizard order.
        states: Stage key → ``done``/``current``/``failed``/``pending``/``skipped``.
        title: The line above the stages.
    """

    COMPONENT_CLASSES: ClassVar[set[str]] = {
        "step-list--title",
        "step-list--item",
        "step-list--done",
        "step-list--skipped",
        "step-list--failed",
        "step-list--current",
    }

    DEFAULT_CSS = """
    StepList {
        width: 28;
        height: 1fr;
        padding: 1 1;
        background: $panel;
        border-right: vkey $panel-lighten-2;
    }
    StepList > .step-list--title {
        color: $text-muted;
        text-style: bold;
    }
    StepList > .step-list--item { color: $text-muted; }
    StepList > .step-list--done { color: $success; }
    StepList > .step-list--skipped { color: $warning; }
    StepList > .step-list--failed { color: $error; text-style: bold; }
    StepList > .step-list--current {
        color: $text;
        background: $boost;
        text-style: bold;
    }
    """

    def __init__(
        self,
        stages: Sequence[tuple[str, str]],
        states: Mapping[str, str] | None = None,
        *,
        title: str = "RELEASE",
        name: str | None = None,
        id: str | None = None,
        classes: str | None = None,
    ) -> None:
        super().__init__(name=name, id=id, classes=classes)
        self.stages = list(stages)
        self._states: dict[str, str] = dict(states or {})
        self._title = title

    @property
    def states(self) -> dict[str, str]:
        """Stage key → state as shown."""
        return {key: self._states.get(key, "pending") for key, _ in self.stages}

    def set_states(self, states: Mapping[str, str]) -> None:
        """Show new states (keys not given keep theirs); repaints only when one changed
        (the screens call this on every engine event, mostly with no change)."""
        before = self.states
        self._states.update(states)
        if self.states != before:
            self.refresh()

    def item_text(self, n: int, key: str) -> str:
        """The text of stage ``key``'s line (its 1-based number ``n``), e.g. ``"✔  3  Checklist"``."""
        label = dict(self.stages)[key]
        return f"{ICONS.get(self._states.get(key, 'pending'), '·')} {n:>2}  {label}"

    def lines(self) -> list[tuple[str, str]]:
        """What the widget draws: ``(text, state)`` per stage, in order."""
        return [(self.item_text(n, key), self.states[key]) for n, (key, _) in enumerate(self.stages, start=1)]

    def render(self) -> Content:
        width = self.content_size.width
        title = Content.styled(set_cell_size(self._title, min(width, cell_len(self._title))), self._style("title"))
        rows = [title, Content("")]
        for text, state in self.lines():
            # One cell of padding either side, the text cropped to the rest: the current
            # stage's background spans the sidebar, the padding has no text style (as a
            # label's padding).
            style = self._style(state)
            padding = Style(background=style.background)
            text = set_cell_size(text, max(0, width - 2)).rstrip()
            rest = max(0, width - 1 - cell_len(text))
            rows.append(Content.assemble((" ", padding), (text, style), (" " * rest, padding)))
        return Content("\n").join(rows)

    def _style(self, part: str) -> Style:
        """The component classes of ``part`` (``title`` or a state) as a visual style."""
        if part == "title":
            return self.get_visual_style("step-list--title")
        if part in ("done", "skipped", "failed", "current"):
            return self.get_visual_style("step-list--item", f"step-list--{part}")
        return self.get_visual_style("step-list--item")
