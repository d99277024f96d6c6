"""The plan view, opened from Welcome with ``p``: every step of a release with its actions,
then the read-only probes' results as they come, then only what would change.

Nothing here changes anything: the plan is worked out on a run of its own that records
nothing (no journal, no run lock), with the bump the commits call for (``patch`` when
they call for none). The probes run in a worker, each under the config's HTTP timeout;
``c`` cancels them, ``esc`` closes the view (cancelling what is left).
"""

from __future__ import annotations

import asyncio
from typing import ClassVar

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Label, Static

from iact_tui.config import Config
from iact_tui.engine import probes
from iact_tui.engine.run import ReleaseRun
from iact_tui.errors import IactError
from iact_tui.widgets.literal import escape

_MARK = {"ok": "[green]✔[/]", "warning": "[yellow]![/]", "failed": "[red]✘[/]"}
_CHECK_MARK = {"passed": "[green]✔[/]", "warning": "[yellow]![/]", "failed": "[red]✘[/]", "skipped": "[dim]–[/]"}


class PlanScreen(ModalScreen[None]):
    """Lists the release's steps and actions, then the repository checks (those of
    ``iact-tui plan release``), then the probes' results; changes nothing.

    Args:
        config: The validated config.
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "close", "Close"),
        Binding("c", "cancel_probes", "Cancel probes"),
    ]

    def __init__(self, config: Config) -> None:
        super().__init__()
        self.config = config
        #: ``probes.ProbeResult`` lines shown so far, in the order they came.
        self.results: list[probes.ProbeResult] = []
        #: ``"planning"``, ``"checking"``, ``"probing"``, ``"done"``, ``"cancelled"`` or ``"failed"``.
        self.state = "planning"
        #: What the repository checks found that would stop the release.
        self.problems: list[IactError] = []

    def compose(self) -> ComposeResult:
        with Vertical(id="plan-dialog"):
            yield Label("Plan: what a release would do (nothing is changed)", classes="plan--title")
            yield Static("Working out the version…", id="plan-status")
            with VerticalScroll(id="plan-body"):
                yield Static("", id="plan-steps")
                yield Static("", id="plan-checks")
                yield Static("", id="plan-probes")
                yield Static("", id="plan-changes")
            yield Static("c cancel the probes · esc close", id="plan-hint")

    def on_mount(self) -> None:
        self.work_out()

    def _status(self, text: str) -> None:
        self.query_one("#plan-status", Static).update(text)

    @work(exclusive=True, exit_on_error=False, group="plan")
    async def work_out(self) -> None:
        """Choose the version on a run that records nothing, list the steps, then probe."""
        run = await asyncio.to_thread(ReleaseRun, self.config, record=False)
        try:
            try:
                await run.load_versions()
                suggestion = await run.bump_suggestion()
                bump = suggestion.level or "patch"
                run.choose_bump(bump)
            except IactError as exc:
                self.state = "failed"
                self._status(f"[red]✘ {escape(exc.what)}[/]\n→ {escape(exc.fix)}")
                return
            previous = run.state.previous_tag or "no release yet"
            self._status(f"Release {escape(run.ctx.tag)} ({escape(bump)}, from {escape(previous)}): probing…")
            lines = []
            for i, (step, actions) in enumerate(run.plan(), 1):
                lines.append(f"[b]{i:>2}. {escape(step.title)}[/b] [dim]{escape('[' + step.id + ']')}[/dim]")
                for action in actions:
                    where = f" @{action.target}" if action.target != "local" else ""
                    lines.append(f"      {escape(action.kind + where)}: {escape(action.description)}")
            self.query_one("#plan-steps", Static).update("\n".join(lines))
            self.state = "checking"
            self._status(f"Release {escape(run.ctx.tag)} ({escape(bump)}, from {escape(previous)}): checking…")
            self.query_one("#plan-checks", Static).update("\n[b]Repository checks[/b] (read-only)…")
            found = await probes.repository_checks(run)
            self.problems = found.failures
            self._show_checks(found)
            self.state = "probing"
            self._status(f"Release {escape(run.ctx.tag)} ({escape(bump)}, from {escape(previous)}): probing…")
            total = probes.probe_count(self.config)
            self._show_probes(total)
            target = probes.target_of(run)
            async for result in probes.run_probes(self.config, target, timeout=self.config.timeouts.http):
                self.results.append(result)
                self._show_probes(total)
            changes = probes.planned_changes(run, self.results)
            self.query_one("#plan-changes", Static).update(
                "\n[b]What would change[/b]\n" + "\n".join(f"  - {escape(c)}" for c in changes)
            )
            self.state = "done"
            verdict = escape(probes.verdict(self.results))
            if self.problems:
                count = len(self.problems)
                verdict = f"[red]✘ {count} problem(s) would stop this release (see Repository checks); {verdict}[/]"
            elif any(r.status == "failed" for r in self.results):
                verdict = f"[red]{verdict}[/]"
            elif any(r.status == "warning" for r in self.results):
                verdict = f"[yellow]{verdict}[/]"
            self._status(f"Release {escape(run.ctx.tag)} ({escape(bump)}, from {escape(previous)}): {verdict}")
        except asyncio.CancelledError:
            if self.is_attached:
                self.state = "cancelled"
                self._status("Probes cancelled: the results so far are shown.")
            raise
        finally:
            run.journal.close()

    def _show_checks(self, found: probes.RepositoryChecks) -> None:
        rows = ["\n[b]Repository checks[/b] (read-only; the checklist runs them again, with the tests and coverage)"]
        for result in found.checks:
            if result.error is not None:
                rows.append(f"  [red]✘ {escape(result.label)}: {escape(result.error.what)}[/]")
                if result.error.fix:
                    rows.append(f"    → {escape(result.error.fix)}")
            else:
                mark = _CHECK_MARK.get(result.status, "?")
                rows.append(f"  {mark} {escape(result.label)}: {escape(result.detail)}")
        for problem in found.problems:
            rows.append(f"  [red]✘ {escape(problem.what)}[/]")
            if problem.fix:
                rows.append(f"    → {escape(problem.fix)}")
        self.query_one("#plan-checks", Static).update("\n".join(rows))

    def _show_probes(self, total: int) -> None:
        done = len(self.results)
        head = f"\n[b]Probes[/b] (read-only, {done} of {total})"
        rows = [f"  {_MARK[r.status]} {escape(r.line())}" for r in self.results]
        self.query_one("#plan-probes", Static).update("\n".join([head, *rows]))

    def action_cancel_probes(self) -> None:
        """Stop the probes still running (each one's connection is closed)."""
        self.workers.cancel_group(self, "plan")

    def action_close(self) -> None:
        """Close the plan view; the probes still running are cancelled."""
        self.workers.cancel_group(self, "plan")
        self.dismiss(None)
