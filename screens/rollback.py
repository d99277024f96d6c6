"""The rollback screen: what runs now, the target, the plan per host, the typed
confirmation, then the rollback, the verification and the journal record.

Nothing changes before the operator typed the target version: choosing a target only
runs the read-only ``rollback-plan`` step. An irreversible migration is shown in red and
the rollback is refused (the engine refuses it too).
"""

from __future__ import annotations

from typing import Any, ClassVar

from rich.markup import escape
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, VerticalScroll
from textual.screen import Screen
from textual.widgets import Footer, Header, Label, Select, Static

from iact_tui.engine.events import CheckUpdate, CommandUpdate, Event, OutputLine, StepFinished, StepStarted
from iact_tui.engine.rollback import PLAN, RECORD, RollbackRun
from iact_tui.errors import IactError
from iact_tui.widgets import CheckTable, CommandLog, ConfirmModal, DeployTable


class RollbackScreen(Screen[None]):
    """Roll an environment back to an earlier release.

    Args:
        run: The rollback run (not loaded yet: the screen loads it).
        blink: Whether input cursors blink (off for snapshots).
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("b", "rollback", "Roll back"),
        Binding("r", "retry", "Retry"),
        Binding("escape", "leave", "Close"),
    ]

    def __init__(self, run: RollbackRun, *, blink: bool = True, exit_on_leave: bool = True) -> None:
        super().__init__()
        self.run = run
        self.blink = blink
        #: Leaving exits the app (``iact-tui rollback``) or goes back (from the Welcome screen).
        self.exit_on_leave = exit_on_leave
        self.busy = False
        #: The rollback itself (not the read-only loading and planning) is running.
        self.rolling = False
        self.loaded = False
        self.failure: tuple[str, str] | None = None

    def compose(self) -> ComposeResult:
        yield Header(show_clock=False, icon="↶")
        with VerticalScroll(id="rollback-main"):
            yield Label(f"Roll back {self.run.env}", id="rollback-title")
            yield Static("Reading what runs now…", id="rollback-current")
            with Horizontal(id="rollback-target-row"):
                yield Label("Go back to", id="rollback-target-label")
                yield Select[str]([], prompt="no target yet", allow_blank=True, id="rollback-target")
            yield CheckTable(id="rollback-checks", title="Plan checks")
            yield Static("", id="rollback-plan")
            yield DeployTable(id="rollback-table", title="Rollback commands")
            yield CommandLog(id="command-log", title="Output")
        yield Static("", id="rollback-status")
        yield Footer()

    def on_mount(self) -> None:
        self._load()

    # -- loading and planning ------------------------------------------------------------

    @work(exclusive=True, exit_on_error=False, group="rollback")
    async def _load(self) -> None:
        self.busy = True
        try:
            await self.run.load()
        except IactError as exc:
            self.failure = (exc.what, exc.fix)
            self.busy = False
            self._refresh()
            return
        current = self.run.current_tag or "an unknown release"
        hosts = ", ".join(f"{name} ({s.tag or s.commit[:12]})" for name, s in self.run.hosts.items())
        text = f"[b]{escape(self.run.env)}[/b] runs [b]{escape(current)}[/b] on {escape(hosts)}"
        for note in self.run.notes:
            text += f"\n[dim]{escape(note)}[/dim]"
        self.query_one("#rollback-current", Static).update(text)
        select = self.query_one("#rollback-target", Select)
        targets = self.run.targets()
        select.set_options([(f"{t.tag} — {t.detail}", t.version) for t in targets])
        self.loaded = True
        self.busy = False
        default = self.run.default_target()
        if default is None:
            self.failure = (
                f"no release to go back to: nothing older than {current} that is not marked bad",
                "deploy an older release by hand if you must",
            )
            self._refresh()
            return
        select.value = default.version  # plans it (Select.Changed)

    @on(Select.Changed, "#rollback-target")
    def _target_changed(self, event: Select.Changed) -> None:
        if not isinstance(event.value, str) or self.busy:
            return
        try:
            self.run.choose_target(event.value)
        except IactError as exc:
            self.failure = (exc.what, exc.fix)
            self._refresh()
            return
        self._plan()

    @work(exclusive=True, exit_on_error=False, group="rollback")
    async def _plan(self) -> None:
        await self._steps([PLAN])
        data = self.run.plan_result
        self._show_plan(data)

    def _show_plan(self, data: dict[str, Any]) -> None:
        if not data:
            return
        lines: list[str] = []
        hosts = data.get("hosts", {})
        assert isinstance(hosts, dict)
        bad = {(i["host"], i["migration"]) for i in data.get("irreversible", []) or [] if isinstance(i, dict)}
        for host, plan in hosts.items():
            lines.append(f"[b]{escape(host)}[/b]: runs {escape(str(plan.get('tag') or plan.get('commit', ''))[:20])}")
            if not plan.get("reversals"):
                lines.append("  no migration to reverse")
            for rev in plan.get("reversals", []):
                unapply = ", ".join(rev["unapply"])
                lines.append(
                    f"  reverse [b]{escape(rev['app'])}[/b] to {escape(rev['target'])}: unapply {escape(unapply)}"
                )
            for info in plan.get("backwards", {}).values():
                for op in info.get("operations", []):
                    text = f"{op['migration']}: {op['description']}"
                    if (host, op["migration"]) in bad and op.get("irreversible"):
                        lines.append(f"    [red b]✘ {escape(text)}[/red b]")
                    else:
                        lines.append(f"    [dim]{escape(text)}[/dim]")
        if bad:
            lines.append("[red]Irreversible: Django cannot run these backwards; the rollback is refused.[/red]")
        lines.append("[b]Each host runs[/b] (under the deploy lock, after recording its state):")
        for cmd in data.get("commands", []) or []:
            assert isinstance(cmd, dict)
            lines.append(f"  \\[{escape(cmd['phase'])}] {escape(cmd['name'])}: [dim]{escape(cmd['run'])}[/dim]")
        for warning in data.get("warnings", []) or []:
            lines.append(f"[yellow]! {escape(str(warning))}[/yellow]")
        self.query_one("#rollback-plan", Static).update("\n".join(lines))

    # -- the rollback --------------------------------------------------------------------

    def action_rollback(self) -> None:
        """Ask for the typed target version, then roll back, verify and record."""
        if not self.can_roll_back():
            return
        step = self.run.deploy_step_id

        def done(confirmed: bool | None) -> None:
            if confirmed:
                self._rollback()

        self.app.push_screen(
            ConfirmModal(
                self.run.state.version,
                lambda typed: self.run.confirm(step, typed),
                target=f"{self.run.env} (roll back to {self.run.ctx.tag})",
                blink=self.blink,
            ),
            done,
        )

    def can_roll_back(self) -> bool:
        """The plan passed for the chosen target and the rollback has not run yet."""
        plan = self.run.records[PLAN]
        return (
            not self.busy
            and plan.status == "ok"
            and plan.data.get("target") == self.run.state.version
            and self.run.records[self.run.deploy_step_id].status == "pending"
        )

    def action_retry(self) -> None:
        """Run the failed step again (the plan, or the rollback from where it stopped)."""
        if self.busy or self.failure is None:
            return
        if self.run.records[PLAN].status != "ok":
            self._plan()
        elif self.run.deploy_step_id in self.run.state.confirmations:
            self._rollback()

    def action_leave(self) -> None:
        if self.rolling:
            self.notify(
                "The rollback is running: wait for it to end (a stopped rollback still runs its post "
                "commands, so maintenance mode goes off).",
                severity="warning",
            )
            return
        # Reading what runs and planning change nothing: stop them and leave.
        self.workers.cancel_group(self, "rollback")
        self.run.finish()
        if self.exit_on_leave:
            self.app.exit()
        else:
            self.app.pop_screen()

    @work(exclusive=True, exit_on_error=False, group="rollback")
    async def _rollback(self) -> None:
        self.query_one("#rollback-target", Select).disabled = True
        for check_id, _ in self.run.verify_manual_checks():
            self.run.tick_verify(check_id, True, "not asked on the rollback screen")
        self.rolling = True
        try:
            await self._steps([self.run.deploy_step_id, "verify", RECORD])
        finally:
            self.rolling = False

    async def _steps(self, step_ids: list[str]) -> None:
        self.busy, self.failure = True, None
        self._refresh()
        try:
            for sid in step_ids:
                if self.run.records[sid].status == "ok":
                    continue
                failed = False
                async for event in self.run.run_step(sid):
                    self._route(event)
                    failed = failed or (isinstance(event, StepFinished) and event.status != "ok")
                if failed:
                    break
        finally:
            self.busy = False
            self._refresh()

    def _route(self, event: Event) -> None:
        log = self.query_one(CommandLog)
        if isinstance(event, StepStarted):
            log.append_output(f"{event.title}…", "info")
        elif isinstance(event, OutputLine):
            log.append_output(event.text, event.stream, event.host)
        elif isinstance(event, CheckUpdate):
            self.query_one("#rollback-checks", CheckTable).update_check(
                event.check_id, event.label, event.status, event.detail
            )
        elif isinstance(event, CommandUpdate):
            self.query_one("#rollback-table", DeployTable).update_command(event)
        elif isinstance(event, StepFinished):
            mark = "✔" if event.status == "ok" else "✘"
            log.append_output(f"{mark} {event.message}", "info")
            if event.status != "ok":
                self.failure = (event.message, event.fix)
            if event.step_id == PLAN:
                self._show_plan(dict(event.data))

    # -- status --------------------------------------------------------------------------

    def status_text(self) -> tuple[str, str]:
        """The status line's markup and state class."""
        if self.failure is not None:
            what, fix = self.failure
            text = f"[b]✘ {escape(what)}[/b]" + (f"\n  → {escape(fix)}" if fix else "")
            return text, "-failed"
        if self.busy:
            return "◌ Working…", "-running"
        record = self.run.records[RECORD]
        if record.status == "ok":
            return f"✔ {escape(record.message)}. Journal: {escape(str(self.run.journal_path))}", "-ok"
        if self.can_roll_back():
            version = escape(self.run.state.version)
            return f"Nothing has changed yet. Press [b]b[/b] and type [b]{version}[/b] to roll back.", ""
        return "", ""

    def _refresh(self) -> None:
        if not self.is_mounted:
            return
        text, state = self.status_text()
        pane = self.query_one("#rollback-status", Static)
        pane.update(text)
        pane.set_classes(state)
        self.refresh_bindings()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "rollback":
            return self.can_roll_back()
        if action == "retry":
            return self.failure is not None and not self.busy
        return True
