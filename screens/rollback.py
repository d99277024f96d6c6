"""The rollback screen: what runs now, the target, the plan per host, the typed
confirmation, then the rollback, the verification, the items verified by hand (ticked by
the operator) and, on ``c``, the journal record.

Nothing changes before the operator typed the target version: choosing a target only
runs the read-only ``rollback-plan`` step. An irreversible migration is shown in red and
the rollback is refused (the engine refuses it too).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any, ClassVar

from textual import on, work
from textual.binding import Binding, BindingType
from textual.containers import Horizontal
from textual.widget import Widget
from textual.widgets import Label, Select, Static

from iact_tui.engine.events import StepFinished
from iact_tui.engine.resume import Replayed
from iact_tui.engine.rollback import PLAN, RECORD, RollbackRun
from iact_tui.errors import IactError
from iact_tui.screens.flow import FLOW_BINDINGS, VERIFY, FlowScreen
from iact_tui.widgets import CheckTable
from iact_tui.widgets.literal import escape

#: The plan box's and the plan checks' border titles ("(before the rollback)" is added
#: once the rollback step ran: they describe what the hosts ran then).
PLAN_TITLE, PLAN_CHECKS_TITLE = "Plan", "Plan checks"


class RollbackScreen(FlowScreen[RollbackRun]):
    """Roll an environment back to an earlier release.

    Args:
        run: The rollback run (not loaded yet: the screen loads it).
        blink: Whether input cursors blink (off for snapshots).
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("b", "rollback", "Roll back"),
        Binding("c", "continue", "Continue"),
        *FLOW_BINDINGS,
    ]
    PREFIX = "rollback"
    ICON = "↶"
    TABLE_TITLE = "Rollback commands"
    FINAL_STEP = RECORD

    def __init__(
        self, run: RollbackRun, *, blink: bool = True, exit_on_leave: bool = True, resumed: Replayed | None = None
    ) -> None:
        super().__init__(run, blink=blink, exit_on_leave=exit_on_leave, resumed=resumed)
        #: The rollback itself (not the read-only loading and planning) is running.
        self.rolling = False
        #: The target a resumed run's Select is set to (its Changed message changes nothing).
        self._restored_target: str | None = None

    def compose_flow(self) -> Iterable[Widget]:
        yield Label(f"Roll back {self.run.env}", id="rollback-title")
        yield Static("Reading what runs now…", id="rollback-current")
        with Horizontal(id="rollback-target-row"):
            yield Label("Go back to", id="rollback-target-label")
            yield Select[str]([], prompt="no target yet", allow_blank=True, id="rollback-target")
        yield CheckTable(id="rollback-checks", title=PLAN_CHECKS_TITLE)
        plan = Static("", id="rollback-plan")
        plan.border_title = PLAN_TITLE
        yield plan

    def on_mount(self) -> None:
        self._load()

    # -- loading and planning ------------------------------------------------------------

    @work(exclusive=True, exit_on_error=False, group="rollback")
    async def _load(self) -> None:
        if not await self.load_run():
            return
        current = self.run.current_tag or "an unknown release"
        self._show_current()
        select = self.query_one("#rollback-target", Select)
        targets = self.run.targets()
        select.set_options([(f"{t.tag} — {t.detail}", t.version) for t in targets])
        self.loaded = True
        self.busy = False
        if self.resumed is not None and self.run.state.version:
            self._restore_rollback(select)
            return
        default = self.run.default_target()
        if default is None:
            self.failure = (
                f"no release to go back to: nothing older than {current} that is not marked bad",
                "deploy an older release by hand if you must",
            )
            self.refresh_status()
            return
        select.value = default.version  # plans it (Select.Changed)

    def _restore_rollback(self, select: Select[str]) -> None:
        """A resumed rollback: its target chosen (and, once the rollback step ran, fixed),
        its plan, checks and interrupted output shown, the failure to retry."""
        run, version = self.run, self.run.state.version
        if version not in {t.version for t in run.targets()}:
            select.set_options([(f"{run.ctx.tag} — the resumed rollback's target", version)])
        self._restored_target = version
        select.value = version
        self._show_plan(run.plan_result)
        if run.records[run.deploy_step_id].status not in {"pending", "skipped"}:
            select.disabled = True
            self.query_one("#rollback-plan", Static).border_title = f"{PLAN_TITLE} (before the rollback)"
            self.query_one("#rollback-checks", CheckTable).border_title = f"{PLAN_CHECKS_TITLE} (before the rollback)"
        self._show_current()
        self.restore()

    @on(Select.Changed, "#rollback-target")
    def _target_changed(self, event: Select.Changed) -> None:
        if self._restored_target is not None and event.value == self._restored_target:
            self._restored_target = None  # set by a resume: chosen already, its plan shown
            return
        if self.busy or (not isinstance(event.value, str) and not self.run.state.version):
            return
        try:
            if isinstance(event.value, str):
                self.run.choose_target(event.value)
            else:  # back to "no target yet": nothing is chosen, so b has nothing to roll back to
                self.run.clear_target()
        except IactError as exc:
            self.fail(exc)
            return
        if isinstance(event.value, str):
            self._plan()
            return
        self.failure = None
        self._clear_plan()
        self.refresh_status()

    def _clear_plan(self) -> None:
        """Empty the plan box and the plan checks (another target, or none, was chosen)."""
        self.query_one("#rollback-checks", CheckTable).clear()
        self.query_one("#rollback-plan", Static).update("")

    @work(exclusive=True, exit_on_error=False, group="rollback")
    async def _plan(self) -> None:
        self._clear_plan()
        await self.run_steps([PLAN])
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
        env, tag = self.run.env, self.run.ctx.tag
        self.ask_version(
            self.run.deploy_step_id,
            env,
            self._rollback,
            title=f"Roll {env} back to {tag}",
            purpose=f"roll {env} back to {tag}",
            noun="the rollback target",
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
        elif self.run.records[VERIFY].status == "ok":
            if self.ticks_complete():
                self.finish_flow()
        elif self.run.deploy_step_id in self.run.state.confirmations:
            self._rollback()

    def action_leave(self) -> None:
        if self.leave_field():  # esc in a note leaves the note first
            return
        if self.rolling:
            self.notify(
                "The rollback is running: wait for it to end (a stopped rollback still runs its post "
                "commands, so maintenance mode goes off).",
                severity="warning",
            )
            return
        unfinished = self.unfinished()
        if unfinished is not None:
            done, not_done = unfinished
            self.ask_to_leave(done, not_done, "The rollback is not finished.", self.close)
            return
        # Reading what runs and planning change nothing: stop them and leave.
        self.workers.cancel_group(self, "rollback")
        self.close()

    def unfinished(self) -> tuple[str, list[str]] | None:
        """What a rollback that changed hosts but is not recorded has done and has not
        (for the quit dialog), or ``None``: nothing changed yet, or recorded."""
        records = self.run.records
        deploy = records[self.run.deploy_step_id]
        if deploy.status in ("pending", "skipped") or records[RECORD].status == "ok":
            return None
        tag, env = self.run.ctx.tag, self.run.env  # QuitModal escapes what it shows
        if deploy.status == "ok":
            done = f"{env} is rolled back to {tag}" + (" and verified." if records[VERIFY].status == "ok" else ".")
        else:
            done = f"The rollback of {env} to {tag} ended {deploy.status}: hosts may have changed."
        not_done = [
            f"{title} ({record.status})" if record.status in ("failed", "cancelled") else title
            for sid, record in records.items()
            if sid not in (PLAN, RECORD) and record.status not in ("ok", "skipped")
            for title in (self.run.step(sid).title,)
        ]
        not_done.append(
            f"{self.run.step(RECORD).title}: the rolled-back release is not marked bad, so it would be offered again"
        )
        return done, not_done

    @work(exclusive=True, exit_on_error=False, group="rollback")
    async def _rollback(self) -> None:
        self.query_one("#rollback-target", Select).disabled = True
        self.rolling = True
        try:
            await self.run_steps([self.run.deploy_step_id, VERIFY])
        finally:
            self.rolling = False

    def action_continue(self) -> None:
        """Record the rollback (and mark the rolled-back release bad) once both items are ticked."""
        if self.can_finish():
            self.finish_flow()

    def step_finished(self, event: StepFinished) -> None:
        if event.step_id == PLAN:
            self._show_plan(dict(event.data))
        elif event.step_id == self.run.deploy_step_id:
            # What the plan and its checks say (what each host ran) was true before the rollback.
            self.query_one("#rollback-plan", Static).border_title = f"{PLAN_TITLE} (before the rollback)"
            self.query_one("#rollback-checks", CheckTable).border_title = f"{PLAN_CHECKS_TITLE} (before the rollback)"
            self._show_current()

    def _show_current(self) -> None:
        """The header: what the environment runs (:meth:`RollbackRun.now_running`): as
        loaded; after the rollback step, from its per-host outcomes (after a failure: that
        hosts may have changed, and what the step reported)."""
        first, *rest = self.run.now_running()
        changed = self.run.records[self.run.deploy_step_id].status in {"failed", "cancelled"} and bool(rest)
        head = f"[yellow b]{escape(first)}[/yellow b]" if changed else f"[b]{escape(first)}[/b]"
        text = head + "".join(f"\n[dim]{escape(line)}[/dim]" for line in rest)
        self.query_one("#rollback-current", Static).update(text)

    # -- status --------------------------------------------------------------------------

    def flow_status(self) -> tuple[str, str]:
        record = self.run.records[RECORD]
        if record.status == "ok":
            return f"✔ {escape(record.message)}. Journal: {escape(str(self.run.journal_path))}", "-ok"
        if self.awaiting_ticks():
            return (
                f"✔ {escape(self.run.env)} runs {escape(self.run.ctx.tag)} again and is verified. Now tick what you "
                "verified by hand below (space; a note is optional), then press [b]c[/b] to record the rollback.",
                "-ok",
            )
        if self.can_finish():
            return "Both items are ticked. Press [b]c[/b] to record the rollback in the journal.", ""
        if self.can_roll_back():
            version = escape(self.run.state.version)
            return f"Nothing has changed yet. Press [b]b[/b] and type [b]{version}[/b] to roll back.", ""
        if self.loaded and not self.run.state.version:
            return "Nothing has changed yet. Choose the release to go back to (Go back to).", ""
        return "", ""

    def action_gates(self) -> Mapping[str, Callable[[], bool]]:
        return {"rollback": self.can_roll_back, "continue": self.can_finish}
