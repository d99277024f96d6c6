"""StepList: the wizard's stages in the sidebar, marking done, current, failed and pending."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import Label

#: Stage state → icon.
ICONS: dict[str, str] = {"done": "✔", "current": "▶", "failed": "✘", "pending": "·", "skipped": "–"}


class StepList(Vertical):
    """The stages of the wizard as a vertical list with state icons.

    Args:
        stages: ``(key, label)`` pairs in wizard order.
        states: Stage key → ``done``/``current``/``failed``/``pending``/``skipped``.
    """

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
        margin-bottom: 1;
    }
    StepList > .step-list--item {
        width: 1fr;
        height: 1;
        padding: 0 1;
        color: $text-muted;
    }
    StepList > .step-list--item.-done { color: $success; }
    StepList > .step-list--item.-skipped { color: $warning; }
    StepList > .step-list--item.-failed { color: $error; text-style: bold; }
    StepList > .step-list--item.-current {
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
        #: Stage key → the state its item shows.
        self._shown: dict[str, str] = {}
        self._title = title

    def compose(self) -> ComposeResult:
        yield Label(self._title, classes="step-list--title")
        for n, (key, label) in enumerate(self.stages, start=1):
            state = self._states.get(key, "pending")
            self._shown[key] = state
            yield Label(self._text(n, key, label), id=f"stage-{key}", classes=f"step-list--item -{state}")

    def on_mount(self) -> None:
        self.set_states(self._states)

    @property
    def states(self) -> dict[str, str]:
        """Stage key → state as shown."""
        return {key: self._states.get(key, "pending") for key, _ in self.stages}

    def set_states(self, states: Mapping[str, str]) -> None:
        """Show new states (keys not given keep theirs)."""
        self._states.update(states)
        if not self.is_mounted:
            return
        for n, (key, label) in enumerate(self.stages, start=1):
            state = self._states.get(key, "pending")
            if self._shown.get(key) == state:
                continue  # the screens call this on every engine event, mostly with no change
            self._shown[key] = state
            item = self.query_one(f"#stage-{key}", Label)
            # One line of fixed width: no layout of the screen needed.
            item.update(self._text(n, key, label), layout=False)
            item.set_classes(f"step-list--item -{state}")

    def _text(self, n: int, key: str, label: str) -> str:
        state = self._states.get(key, "pending")
        return f"{ICONS.get(state, '·')} {n:>2}  {label}"
