"""Stage 3: the pre-release checklist: automatic checks (``preflight``) and manual ticks."""

from __future__ import annotations

from collections.abc import Iterable

from textual import on
from textual.containers import Vertical
from textual.widget import Widget
from textual.widgets import Button, Checkbox

from iact_tui.engine.events import StepFinished
from iact_tui.screens.base import StepScreen
from iact_tui.widgets import CheckTable, TickBox


class ChecklistScreen(StepScreen):
    """Runs ``preflight`` into a CheckTable; manual items are checkboxes.

    Continue is enabled when :meth:`ReleaseRun.checklist_complete` says so.
    """

    STAGE = "checklist"
    TITLE_TEXT = "Pre-release checklist"
    ALLOW_BACK = True

    def compose_step(self) -> Iterable[Widget]:
        yield CheckTable(id="auto-checks", title="Automatic checks")
        with Vertical(id="manual-checks", classes="panel"):
            for check_id, label in self.run.manual_checks():
                yield TickBox(label, value=check_id in self.run.state.ticks, id=f"tick-{check_id}")

    def on_mount(self) -> None:
        self.query_one("#manual-checks").border_title = "Confirm by hand (space to tick)"
        table = self.query_one("#auto-checks", CheckTable)
        for check_id, label in self.run.automatic_checks():
            table.update_check(check_id, label, "pending")
        super().on_mount()

    def can_go_back(self) -> bool:
        return not self.running and super().can_go_back()

    def start_steps(self) -> None:
        # ``r`` re-runs the whole preflight, also after it passed (the tree may have changed).
        self.step_status.pop("preflight", None)
        self.run.reset_checklist()
        super().start_steps()

    def can_retry(self) -> bool:
        return not self.running

    @on(Checkbox.Changed)
    def _ticked(self, event: Checkbox.Changed) -> None:
        check_id = (event.checkbox.id or "").removeprefix("tick-")
        self.run.tick(check_id, event.value)
        self.refresh_state()
        if self.is_ready():
            self.query_one("#continue", Button).focus()

    def is_ready(self) -> bool:
        return self.run.checklist_complete()

    def blocked_hint(self) -> str:
        if self.failure:
            return "Fix the failed check, then press r to re-run the checks."
        unticked = [c for c, _ in self.run.manual_checks() if c not in self.run.state.ticks]
        if unticked:
            return f"Tick the {len(unticked)} remaining item(s) to continue."
        return ""

    def status_text(self) -> tuple[str, str]:
        text, state = super().status_text()
        if state == "-ok" and not self.run.checklist_complete():
            return "✔ Automatic checks passed. Tick the items on the right.", "-ok"
        return text, state

    def on_step_finished(self, event: StepFinished) -> None:
        super().on_step_finished(event)
        if event.status == "failed":
            # Checks the step never reached stay "pending"; say so rather than look stuck.
            table = self.query_one("#auto-checks", CheckTable)
            for check_id, label in self.run.automatic_checks():
                if table.status_of(check_id) in ("pending", "running"):
                    table.update_check(check_id, label, "skipped", "not reached")
