"""Stage 3: the pre-release checklist: automatic checks (``preflight``) and manual ticks."""

from __future__ import annotations

from collections.abc import Iterable

from textual import on, work
from textual.containers import Vertical
from textual.widget import Widget
from textual.widgets import Button, Checkbox, Static

from iact_tui.engine.events import StepFinished
from iact_tui.engine.run_lock import RunLockLost
from iact_tui.screens.base import StepScreen
from iact_tui.screens.lock_lost import say_not_recorded
from iact_tui.widgets import CheckTable, TickBox
from iact_tui.widgets.literal import escape


class ChecklistScreen(StepScreen):
    """Runs ``preflight`` into a CheckTable; manual items are checkboxes.

    Continue is enabled when :meth:`ReleaseRun.checklist_complete` says so.
    """

    STAGE = "checklist"
    TITLE_TEXT = "Pre-release checklist"
    ALLOW_BACK = True

    def __init__(self) -> None:
        super().__init__()
        #: Version files that disagree with the current release: ``(file, version held)``.
        self.mismatches: list[tuple[str, str]] = []

    def compose_step(self) -> Iterable[Widget]:
        yield CheckTable(id="auto-checks", title="Automatic checks")
        with Vertical(id="manual-checks", classes="panel"):
            for check_id, label in self.run.manual_checks():
                yield TickBox(label, value=check_id in self.run.state.ticks, id=f"tick-{check_id}")
        with Vertical(id="version-mismatch", classes="panel"):
            yield Static("", id="mismatch-text")
            yield TickBox("", value=self.run.state.accept_version_mismatch, id="accept-mismatch")

    def on_mount(self) -> None:
        self.query_one("#manual-checks").border_title = "Confirm by hand (space to tick)"
        panel = self.query_one("#version-mismatch")
        panel.border_title = "Version files disagree"
        panel.display = False
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
        try:
            if event.checkbox.id == "accept-mismatch":
                self.run.accept_version_mismatch(event.value)
            else:
                self.run.tick((event.checkbox.id or "").removeprefix("tick-"), event.value)
        except RunLockLost as exc:  # not recorded: the box goes back to what the run holds
            with event.checkbox.prevent(Checkbox.Changed):
                event.checkbox.value = not event.value
            say_not_recorded(self, exc)
            return
        self.refresh_state()
        if self.is_ready():
            self.query_one("#continue", Button).focus()

    def is_ready(self) -> bool:
        accepted = not self.mismatches or self.run.state.accept_version_mismatch
        return self.run.checklist_complete() and accepted

    @work(exclusive=True, exit_on_error=False, group="mismatch")
    async def load_mismatches(self) -> None:
        """Read the version files (in the run) and ask about any that disagree."""
        found = await self.run.version_mismatches()
        self.mismatches = [(str(f.path), f.version) for f in found]
        panel = self.query_one("#version-mismatch")
        panel.display = bool(self.mismatches)
        if self.mismatches:
            state = self.run.state
            lines = "\n".join(f"  {name} holds [b]{escape(held)}[/b]" for name, held in self.mismatches)
            self.query_one("#mismatch-text", Static).update(
                f"The current release is [b]{escape(state.previous_version)}[/b], but:\n{lines}"
            )
            self.query_one(
                "#accept-mismatch", TickBox
            ).label = (
                f"Bump them to {state.version} anyway (otherwise align them with {state.previous_version} and press r)"
            )
        self.refresh_state()

    def blocked_hint(self) -> str:
        if self.failure:
            return "Fix the failed check, then press r to re-run the checks."
        unticked = [c for c, _ in self.run.manual_checks() if c not in self.run.state.ticks]
        if unticked:
            return f"Tick the {len(unticked)} remaining item(s) to continue."
        if self.mismatches and not self.run.state.accept_version_mismatch:
            return "Choose what to do about the version files that disagree."
        return ""

    def status_text(self) -> tuple[str, str]:
        text, state = super().status_text()
        if state == "-ok" and not self.run.checklist_complete():
            return "✔ Automatic checks passed. Tick the items below.", "-ok"
        return text, state

    def on_step_finished(self, event: StepFinished) -> None:
        super().on_step_finished(event)
        if event.status == "ok":
            self.load_mismatches()
        if event.status == "failed":
            # Checks the step never reached stay "pending"; say so rather than look stuck.
            table = self.query_one("#auto-checks", CheckTable)
            for check_id, label in self.run.automatic_checks():
                if table.status_of(check_id) in ("pending", "running"):
                    table.update_check(check_id, label, "skipped", "not reached")
            # A table too short for every row shows the failed one (once laid out anew).
            table.call_after_refresh(table.scroll_to_first, "failed")
