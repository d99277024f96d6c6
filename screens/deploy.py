"""Stages 6 and 8: deploy to an environment, with live output and progress."""

from __future__ import annotations

from collections.abc import Iterable

from textual.containers import Horizontal
from textual.widget import Widget
from textual.widgets import Label, ProgressBar

from iact_tui.engine.events import Progress, StepFinished
from iact_tui.screens.base import StepScreen
from iact_tui.widgets import ConfirmModal


class DeployScreen(StepScreen):
    """Runs ``deploy-{env}``; production asks for the typed version first.

    Args:
        env: ``staging`` or ``production`` (any configured environment works).
    """

    TITLE_TEXT = "Deploy"
    ALLOW_BACK = False

    def __init__(self, env: str = "staging") -> None:
        super().__init__()
        self.env = env
        self.awaiting_confirmation = False

    @property
    def stage(self) -> str:
        return f"deploy-{self.env}"

    @property
    def step_ids(self) -> tuple[str, ...]:
        return (f"deploy-{self.env}",)

    def _title_text(self) -> str:
        return super()._title_text().replace("Deploy", f"Deploy to {self.env}")

    def compose_step(self) -> Iterable[Widget]:
        with Horizontal(id="deploy-progress"):
            yield Label("Waiting…", id="progress-label")
            yield ProgressBar(total=None, show_eta=False, id="progress-bar")

    def begin(self) -> None:
        step_id = self.step_ids[0]
        needs = self.run.needs_confirmation(step_id)
        if needs and step_id not in self.run.state.confirmations and self.step_status.get(step_id) != "ok":
            self.ask_confirmation()
        else:
            self.start_steps()

    def ask_confirmation(self) -> None:
        """Ask the operator to type the version; run the deploy once it matches."""
        step_id = self.step_ids[0]
        self.awaiting_confirmation = True
        self.failure = None
        self.refresh_state()

        def answered(ok: bool | None) -> None:
            self.awaiting_confirmation = False
            if ok:
                self.start_steps()
            else:
                self.failure = (
                    f"the {self.env} deploy was not confirmed",
                    f"press r and type the version {self.run.state.version} to deploy",
                )
                self.refresh_state()

        self.app.push_screen(
            ConfirmModal(
                self.run.state.version,
                lambda typed: self.run.confirm(step_id, typed),
                target=self.env,
                blink=self.iact.blink,
            ),
            answered,
        )

    def action_retry(self) -> None:
        step_id = self.step_ids[0]
        if not self.can_retry() or not self.reload_config():
            return
        if self.run.needs_confirmation(step_id) and step_id not in self.run.state.confirmations:
            self.ask_confirmation()
        else:
            self.start_steps()

    def status_text(self) -> tuple[str, str]:
        if self.awaiting_confirmation:
            return f"Waiting for the operator to confirm the {self.env} deploy…", "-running"
        return super().status_text()

    def on_progress(self, event: Progress) -> None:
        super().on_progress(event)
        label = f"{event.done}/{event.total}"
        if event.label:
            label += f"  {event.label}"
        self.query_one("#progress-label", Label).update(label)

    def on_step_finished(self, event: StepFinished) -> None:
        super().on_step_finished(event)
        bar = self.query_one("#progress-bar", ProgressBar)
        text = {"ok": "Deployed", "skipped": "Skipped", "failed": "Failed", "cancelled": "Cancelled"}[event.status]
        # A finished step never leaves the bar indeterminate (it animates).
        total = bar.total or 1
        bar.update(total=total, progress=total if event.status == "ok" else bar.progress)
        self.query_one("#progress-label", Label).update(text)
