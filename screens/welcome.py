"""Stage 1: choose what to do: a release, a hotfix, a rollback or the monitor."""

from __future__ import annotations

from collections.abc import Iterable
from typing import ClassVar

from textual import on
from textual.widget import Widget
from textual.widgets import OptionList, Static
from textual.widgets.option_list import Option

#: ``(id, title, description, available)`` of each run kind.
CHOICES: tuple[tuple[str, str, str, bool], ...] = (
    ("release", "Release", "Cut a new version from {main}: bump, changelog, tag, deploy, verify.", True),
    ("hotfix", "Hotfix", "Patch what production runs from its tag, deploy it, bring the fix into {main}.", True),
    ("rollback", "Rollback", "Return production's code and database to an earlier release.", True),
    ("monitor", "Monitor", "Follow production's logs, health and hosts live.", True),
)

from iact_tui.screens.base import WizardScreen  # noqa: E402


class WelcomeScreen(WizardScreen):
    """Choose Release, Hotfix, Rollback or Monitor; shows the repository and config."""

    STAGE = "welcome"
    TITLE_TEXT = "What are we doing today?"
    ALLOW_BACK = False

    BINDINGS: ClassVar = []

    def compose_body(self) -> Iterable[Widget]:
        config = self.run.config
        yield Static(
            f"[b]Repository[/b]  {self.display_path(config.root)}\n"
            f"[b]Config[/b]      {self.display_path(config.path)}\n"
            f"[b]Main branch[/b] {config.project.main_branch} on {config.project.remote}"
            f"    [b]Environments[/b] {', '.join(config.environments) or 'none configured'}",
            id="welcome-info",
        )
        main = config.project.main_branch
        options = [
            Option(
                f"[b]{title}[/b]\n[dim]{text.format(main=main)}[/dim]"
                if ok
                else f"[dim]{title}  (in a later version)\n{text}[/dim]",
                id=key,
                disabled=not ok,
            )
            for key, title, text, ok in CHOICES
        ]
        yield OptionList(*options, id="flow-choice")
        yield Static("↑/↓ choose · ⏎ start · ctrl+p commands · q quit", id="welcome-hint")

    def on_mount(self) -> None:
        super().on_mount()
        choice = self.query_one("#flow-choice", OptionList)
        choice.highlighted = 0
        choice.focus()

    @on(OptionList.OptionSelected, "#flow-choice")
    def _chosen(self, event: OptionList.OptionSelected) -> None:
        self.choose(event.option.id or "")

    def choose(self, kind: str) -> None:
        """Start the chosen kind of run: ``release`` goes on through the wizard;
        ``hotfix``, ``rollback`` and ``monitor`` open their screen on production (``esc`` comes back)."""
        if kind == "release":
            self.go_next()
        elif kind == "hotfix":
            self.iact.start_hotfix()
        elif kind == "rollback":
            self.iact.start_rollback()
        elif kind == "monitor":
            self.iact.start_monitor()
        else:
            title = next((t for k, t, _, _ in CHOICES if k == kind), kind)
            self.notify(f"{title} comes in a later version.", severity="warning")
