"""The hotfix screen: what production runs, the hotfix branch, the fix commits as the
operator makes them, the changelog section, then the patch release straight to
production and the backport into main.

The screen never makes the fix: the operator commits it on ``hotfix/vX.Y.Z`` in an editor
or terminal and the screen polls the branch every :data:`POLL_SECONDS`. Nothing is
deployed before the rollback plan is acknowledged (``a``) and the version typed (``d``).
The backport waits until the operator ticked both verification items done by hand and
pressed ``c``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable, Mapping
from typing import ClassVar

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.timer import Timer
from textual.widget import Widget
from textual.widgets import Button, Label, Static, TextArea
from textual.worker import Worker

from iact_tui.engine.events import CheckUpdate, StepFinished, StepStarted
from iact_tui.engine.flows import HOTFIX_STEP_IDS
from iact_tui.engine.hotfix import BACKPORT, BRANCH, CHECKS, HotfixRun
from iact_tui.engine.resume import Replayed
from iact_tui.engine.run_lock import RunLockLost
from iact_tui.errors import IactError
from iact_tui.screens.flow import FLOW_BINDINGS, VERIFY, FlowScreen
from iact_tui.screens.lock_lost import say_not_recorded
from iact_tui.screens.prep import skip_dialog
from iact_tui.widgets import CheckTable
from iact_tui.widgets.literal import escape

#: How often the hotfix branch is read for new fix commits, in seconds.
POLL_SECONDS = 2.0
ENV = "production"
DEPLOY, PREP = "deploy-production", "prep-production"
#: ``c``: the checks up to the tag (and staging, when configured).
RELEASE_STEPS: tuple[str, ...] = HOTFIX_STEP_IDS[
    HOTFIX_STEP_IDS.index(CHECKS) : HOTFIX_STEP_IDS.index("smoke-staging") + 1
]
#: ``d``: after the typed version (then the items verified by hand, then ``c``: the backport).
DEPLOY_STEPS: tuple[str, ...] = (DEPLOY, VERIFY)
#: Prep items that can be skipped with a reason, and how the reason modal names them.
_SKIPPABLE = {"backup": "the database backup", "notice": "the stakeholder notice"}


class DeleteBranchModal(ModalScreen[bool]):
    """Offer to delete a hotfix branch that holds nothing (no commit, never pushed).

    Dismisses with ``True`` (Delete, ``y``) or ``False`` (Keep, the default; Escape).

    Args:
        branch: The hotfix branch, e.g. ``hotfix/v1.3.3``.
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "keep", "Keep"),
        Binding("y", "delete", "Delete"),
    ]

    def __init__(self, branch: str) -> None:
        super().__init__()
        self.branch = branch

    def compose(self) -> ComposeResult:
        with Vertical(id="delete-branch-dialog"):
            yield Static(
                f"[b]Delete {escape(self.branch)}?[/b]\n"
                "It has no commit since production's tag and was never pushed: nothing is lost. "
                "Kept, the next hotfix reuses it.",
                id="delete-branch-text",
            )
            with Horizontal(id="delete-branch-buttons"):
                yield Button("Keep", id="delete-branch-keep", variant="primary")
                yield Button("Delete", id="delete-branch-ok", variant="warning")

    def on_mount(self) -> None:
        self.query_one("#delete-branch-keep", Button).focus()

    @on(Button.Pressed, "#delete-branch-ok")
    def action_delete(self) -> None:
        """Delete the branch."""
        self.dismiss(True)

    @on(Button.Pressed, "#delete-branch-keep")
    def action_keep(self) -> None:
        """Keep the branch."""
        self.dismiss(False)


class HotfixScreen(FlowScreen[HotfixRun]):
    """Make a hotfix of what production runs and ship it.

    Args:
        run: The hotfix run (not loaded yet: the screen loads it).
        blink: Whether input cursors blink (off for snapshots).
        exit_on_leave: Leaving exits the app (``iact-tui hotfix``) or goes back (from
            the Welcome screen).
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("c", "continue", "Continue"),
        Binding("a", "acknowledge", "Acknowledge plan"),
        Binding("d", "deploy", "Deploy"),
        Binding("ctrl+s", "save_changelog", "Save changelog"),
        *FLOW_BINDINGS,
    ]
    PREFIX = "hotfix"
    ICON = "✚"
    TABLE_TITLE = "Deploy commands"
    PASSING = frozenset({"ok", "skipped"})
    FINAL_STEP = BACKPORT
    RUN_RIGHT_AFTER = frozenset({*RELEASE_STEPS[1:], VERIFY})

    def __init__(
        self, run: HotfixRun, *, blink: bool = True, exit_on_leave: bool = True, resumed: Replayed | None = None
    ) -> None:
        super().__init__(run, blink=blink, exit_on_leave=exit_on_leave, resumed=resumed)
        #: ``(sha, subject)`` of the fix commits, newest first (as last polled).
        self.commits: list[tuple[str, str]] = []
        #: The draft last put in the editor (an edit is text that differs from it).
        self.seeded: str | None = None
        self.plan_lines: list[str] = []
        self._poll_timer: Timer | None = None
        self._poll_worker: Worker[None] | None = None
        #: Leaving (the operator's branch is being checked out again).
        self.leaving = False
        #: Leaving found uncommitted work: the next esc leaves with the hotfix branch checked out.
        self.stay_on_branch = False

    def compose_flow(self) -> Iterable[Widget]:
        yield Label("Hotfix production", id="hotfix-title")
        yield Static("Reading what production runs…", id="hotfix-production")
        yield Static("", id="hotfix-instructions")
        yield Static("[dim]no fix commit yet[/dim]", id="hotfix-commits")
        editor = TextArea("", id="hotfix-changelog", soft_wrap=True, show_line_numbers=False)
        editor.cursor_blink = self.blink
        yield editor
        yield CheckTable(id="hotfix-steps", title="Steps", item_header="Step")
        yield CheckTable(id="hotfix-checks", title="Checks")
        yield Static("", id="hotfix-plan")

    def on_mount(self) -> None:
        self.query_one("#hotfix-commits", Static).border_title = "Fix commits"
        editor = self.query_one("#hotfix-changelog", TextArea)
        editor.border_title = "Changelog section (ctrl+s saves; esc leaves the editor)"
        editor.disabled = True
        self.query_one("#hotfix-plan", Static).border_title = "Rollback plan"
        steps = self.query_one("#hotfix-steps", CheckTable)
        for step in self.run.steps:
            steps.update_check(step.id, step.title, "pending")
        self._load()

    # -- loading, the branch, the fix commits -----------------------------------------------

    @work(exclusive=True, exit_on_error=False, group="hotfix")
    async def _load(self) -> None:
        if not await self.load_run():
            return
        run = self.run
        runs = (
            f"ran [b]{escape(run.production_tag)}[/b] when this hotfix started (resumed)"
            if self.resumed is not None
            else f"runs [b]{escape(run.production_tag)}[/b] (read from the {escape(run.source)})"
        )
        text = f"[b]production[/b] {runs}; hotfix [b]{escape(run.ctx.tag)}[/b] on [b]{escape(run.branch)}[/b]"
        for note in run.notes:
            text += f"\n[dim]{escape(note)}[/dim]"
        self.query_one("#hotfix-production", Static).update(text)
        self.query_one("#hotfix-instructions", Static).update(
            f"Make the minimal fix and commit it on [b]{escape(run.branch)}[/b] in your editor or terminal "
            "(`git commit`); new commits appear below."
        )
        self.loaded = True
        saved = await run.resume_changelog()
        if saved is not None:  # an earlier run of this hotfix saved an edit: it is the section
            editor = self.query_one("#hotfix-changelog", TextArea)
            editor.load_text(saved)
            editor.disabled = False
            self.seeded = saved
        await self._make_branch()
        if self.resumed is not None:
            await self._restore_hotfix()

    async def _restore_hotfix(self) -> None:
        """A resumed hotfix: each step's status, its checks and interrupted output, the
        changelog section as saved (read-only once written), the rollback plan (as
        acknowledged, or read again), the items done by hand, the failure to retry."""
        run, resumed = self.run, self.resumed
        assert resumed is not None
        steps = self.query_one("#hotfix-steps", CheckTable)
        for sid, record in run.records.items():
            if record.status != "pending":
                steps.update_check(sid, run.step(sid).title, record.status, record.message)
        await self._quiet_poll()
        try:  # the poll stops once the fix is tagged: read the commits once
            self._show_commits(await run.fix_commits())
        except IactError as exc:
            self.query_one("#hotfix-commits", Static).update(f"[red]{escape(exc.what)}[/red]")
        if run.records["tag"].status == "ok":
            self.query_one("#hotfix-instructions", Static).update(
                f"Resumed: the fix is tagged {escape(run.ctx.tag)} on [b]{escape(run.branch)}[/b]."
            )
        editor = self.query_one("#hotfix-changelog", TextArea)
        if run.records["changelog"].status == "ok":
            if not editor.text.strip():  # the section written, unedited: the draft from the fix commits
                editor.load_text(await run.draft_changelog())
            editor.disabled, editor.read_only = False, True
        if self.done(RELEASE_STEPS):
            acknowledged = resumed.acknowledged_plans.get(ENV)
            if acknowledged and self.acknowledged():
                self.plan_lines = list(acknowledged)
                plan_pane = self.query_one("#hotfix-plan", Static)
                plan_pane.update("\n".join(escape(line) for line in acknowledged))
                plan_pane.add_class("-shown")
            else:
                await self._read_plan()
        self.restore()

    async def _make_branch(self) -> None:
        """Note the operator's branch (checked out again on leaving), then make the hotfix branch."""
        try:
            await self.run.remember_branch()
        except IactError as exc:
            self.busy = False
            self.fail(exc)
            return
        await self.run_steps([BRANCH])
        if self.run.records[BRANCH].status == "ok":
            self._start_polling()

    def _start_polling(self) -> None:
        if self._poll_timer is None:
            self._poll_timer = self.set_interval(POLL_SECONDS, self._poll)
        self._poll()

    def _poll(self) -> None:
        if self.busy or self.run.records["tag"].status == "ok":
            return  # a step reads the repository now, or the fix is tagged: nothing new can come
        self._poll_worker = self._read_commits()

    @work(exclusive=True, exit_on_error=False, group="poll")
    async def _read_commits(self) -> None:
        try:
            commits = await self.run.fix_commits()
        except IactError as exc:
            self.query_one("#hotfix-commits", Static).update(f"[red]{escape(exc.what)}[/red]")
            return
        if commits == self.commits:
            return
        self._show_commits(commits)
        editor = self.query_one("#hotfix-changelog", TextArea)
        unedited = self.seeded is None or editor.text == self.seeded
        if (
            commits
            and unedited
            and self.run.state.changelog_body is None
            and self.run.records["changelog"].status != "ok"
        ):
            self.seeded = await self.run.draft_changelog()
            editor.load_text(self.seeded)
            editor.disabled = False
        self.refresh_status()

    def _show_commits(self, commits: list[tuple[str, str]]) -> None:
        """List the fix commits (``(sha, subject)``, newest first)."""
        self.commits = commits
        self.query_one("#hotfix-commits", Static).update(
            "\n".join(f"[b]{sha[:10]}[/b] {escape(subject)}" for sha, subject in commits)
            or "[dim]no fix commit yet[/dim]"
        )

    async def _quiet_poll(self) -> None:
        """Wait for a poll in flight: steps and the poll share the repository."""
        worker = self._poll_worker
        if worker is not None and worker.is_running:
            await worker.wait()

    def action_save_changelog(self) -> None:
        """Keep the edited changelog section (checked for at least one entry)."""
        editor = self.query_one("#hotfix-changelog", TextArea)
        if editor.disabled or editor.read_only:
            return
        if self._save_changelog(editor.text):
            self.notify("Changelog section saved.")

    def _save_changelog(self, body: str) -> bool:
        try:
            self.run.check_changelog(body)
        except IactError as exc:
            self.fail(exc)
            return False
        self.run.set_changelog(body)
        self.seeded = body
        if self.failure is not None and self.run.records[CHECKS].status == "pending":
            self.failure = None
        self.refresh_status()
        return True

    # -- the hotfix --------------------------------------------------------------------------

    def can_continue(self) -> bool:
        """A fix commit is there and the steps up to the tag have not all passed."""
        return (
            not self.busy
            and bool(self.commits)
            and self.run.records[BRANCH].status == "ok"
            and not self.done(RELEASE_STEPS)
        )

    def action_continue(self) -> None:
        """Check, bump, write the changelog, commit, push and tag the hotfix; after the
        verification (both items ticked by hand), backport it."""
        if self.can_finish():
            self.finish_flow()
            return
        if not self.can_continue():
            return
        editor = self.query_one("#hotfix-changelog", TextArea)
        if self.seeded is not None and editor.text != self.seeded and not self._save_changelog(editor.text):
            return
        self._release()

    @work(exclusive=True, exit_on_error=False, group="hotfix")
    async def _release(self) -> None:
        await self._quiet_poll()
        await self.run_steps(list(RELEASE_STEPS))
        if self.run.records["changelog"].status == "ok":
            self.query_one("#hotfix-changelog", TextArea).read_only = True
        if self.done(RELEASE_STEPS):
            await self._read_plan()

    async def _read_plan(self) -> None:
        self.busy = True
        self.refresh_status()
        try:
            plan = await self.run.rollback_plan(ENV)
        except IactError as exc:
            self.failure = (exc.what, exc.fix)
            return
        finally:
            self.busy = False
            self.refresh_status()
        self.plan_lines = list(plan.lines)
        text = "\n".join(f"[yellow]{escape(line)}[/]" if line.startswith("⚠") else escape(line) for line in plan.lines)
        plan_pane = self.query_one("#hotfix-plan", Static)
        plan_pane.update(text)
        plan_pane.add_class("-shown")
        self.refresh_status()

    def acknowledged(self) -> bool:
        return self.run.state.prep.get(f"{ENV}:rollback-ack") == "yes"

    def can_acknowledge(self) -> bool:
        return not self.busy and bool(self.plan_lines) and self.run.records[PREP].status != "ok"

    def action_acknowledge(self) -> None:
        """Record the acknowledged rollback plan; ask for any missing prep reason; run the prep."""
        if not self.can_acknowledge():
            return
        if not self.acknowledged():
            try:
                self.run.acknowledge_rollback_plan(ENV, self.plan_lines)
            except RunLockLost as exc:
                say_not_recorded(self, exc)
                return
        self._prep()

    def _prep(self) -> None:
        """Ask for a reason for each prep item neither configured nor skipped, then run the prep."""
        gaps = self.run.prep_gaps(ENV)
        if not gaps:
            self._run_prep()
            return
        item = "backup" if "backup" in gaps[0].what else "notice"

        def answered(answer: tuple[str, str] | None) -> None:
            if not answer:
                self.failure = (gaps[0].what, "press a to answer again, or configure it and press a")
                self.refresh_status()
                return
            try:
                self.run.skip_prep_item(ENV, item, *answer)
            except IactError as exc:
                self.fail(exc)
                return
            self._prep()

        self.app.push_screen(skip_dialog(self.run, ENV, item, _SKIPPABLE[item]), answered)

    @work(exclusive=True, exit_on_error=False, group="hotfix")
    async def _run_prep(self) -> None:
        await self.run_steps([PREP])

    def can_deploy(self) -> bool:
        """The prep passed and the production deploy has not run yet."""
        return not self.busy and self.run.records[PREP].status == "ok" and self.run.records[DEPLOY].status == "pending"

    def action_deploy(self) -> None:
        """Ask for the typed version, then deploy to production, verify and backport."""
        if not self.can_deploy():
            return

        self.ask_version(DEPLOY, f"{ENV} (hotfix {self.run.ctx.tag})", self._deploy)

    @work(exclusive=True, exit_on_error=False, group="hotfix")
    async def _deploy(self) -> None:
        await self.run_steps(list(DEPLOY_STEPS))

    def action_retry(self) -> None:
        """Run the failed step again, and the ones after it in the same part of the flow."""
        if self.busy or self.failure is None:
            return
        if not self.loaded:
            self._load()
        elif self.run.records[BRANCH].status != "ok":
            self._retry_branch()
        elif not self.done(RELEASE_STEPS):
            if self.commits:
                self._release()
        elif not self.plan_lines:
            self._retry_plan()
        elif self.run.records[PREP].status != "ok":
            if self.acknowledged():
                self._prep()
        elif self.run.records[VERIFY].status == "ok":
            if self.ticks_complete():
                self.finish_flow()
        elif DEPLOY in self.run.state.confirmations:
            self._deploy()

    @work(exclusive=True, exit_on_error=False, group="hotfix")
    async def _retry_branch(self) -> None:
        await self._make_branch()

    @work(exclusive=True, exit_on_error=False, group="hotfix")
    async def _retry_plan(self) -> None:
        self.failure = None
        await self._read_plan()

    def action_leave(self) -> None:
        """Leave: ask first when the hotfix is tagged but not finished; check the operator's
        branch back out (offering to delete a hotfix branch that holds nothing)."""
        if self.leave_field():  # esc leaves the editor or a note first
            return
        if self.leaving:
            return
        if self.busy and self.loaded:
            self.notify(
                "A hotfix step is running: wait for it to end, then leave (the run can be resumed: "
                "the hotfix branch and tag are reused).",
                severity="warning",
            )
            return
        unfinished = self.unfinished()
        if unfinished is None:
            self._leave()
            return
        done, not_done = unfinished
        self.ask_to_leave(done, not_done, "The hotfix is not finished.", self._leave)

    def unfinished(self) -> tuple[str, list[str]] | None:
        """What a tagged, unfinished hotfix has done and what it has not, by step title
        (for the quit dialog), or ``None``: not tagged yet, or backported."""
        records = self.run.records
        if records["tag"].status != "ok" or records[BACKPORT].status == "ok":
            return None
        tag = escape(self.run.ctx.tag)
        phrases = ["tagged and pushed"]
        phrases += ["deployed to production"] if records[DEPLOY].status == "ok" else []
        phrases += ["verified"] if records[VERIFY].status == "ok" else []
        done = f"Hotfix {tag} is {', '.join(phrases[:-1]) + ' and ' if len(phrases) > 1 else ''}{phrases[-1]}."
        order = list(records)
        title = self.run.step
        not_done = [
            f"{title(sid).title} ({record.status})" if record.status in ("failed", "cancelled") else title(sid).title
            for sid, record in records.items()
            if order.index(sid) > order.index("tag") and record.status not in self.PASSING
        ]
        return done, not_done

    def _leave(self) -> None:
        # Loading reads production and fetches: nothing to undo. Stop it, then check the
        # operator's branch back out.
        self.workers.cancel_group(self, "hotfix")
        self.workers.cancel_group(self, "poll")
        if self._poll_timer is not None:
            self._poll_timer.stop()
        if self.run.records[BRANCH].status == "pending":
            self.close()
            return
        self.leaving = True
        self._restore_branch()

    @work(exclusive=True, exit_on_error=False, group="leave")
    async def _restore_branch(self) -> None:
        """Check the operator's branch back out (asking whether to delete an empty hotfix
        branch), then close; with uncommitted work, say so and stay (esc again leaves the
        clone on the hotfix branch)."""
        run = self.run
        try:
            await self._quiet_poll()
            delete = False
            if await run.branch_disposable():
                answer: asyncio.Future[bool | None] = asyncio.get_running_loop().create_future()
                self.app.push_screen(DeleteBranchModal(run.branch), answer.set_result)
                delete = bool(await answer)
            said = await run.leave(delete_branch=delete)
        except IactError as exc:
            if self.stay_on_branch:  # said once already: the operator leaves anyway
                self.app.notify(f"{run.branch} stays checked out (uncommitted changes).", title="Hotfix")
                self.close()
                return
            self.stay_on_branch, self.leaving = True, False
            self.failure = (exc.what, f"{exc.fix}; or press esc again to leave with {run.branch} checked out")
            self.refresh_status()
            return
        if said:
            self.app.notify(said[:1].upper() + said[1:] + ".", title="Hotfix")
        self.close()

    def step_started(self, event: StepStarted) -> None:
        steps = self.query_one("#hotfix-steps", CheckTable)
        steps.update_check(event.step_id, event.title, "running")
        if event.step_id != BRANCH:  # while the fix is being made, the top (commits, editor) stays in view
            steps.scroll_visible(top=True, animate=False)  # the steps, then their checks and output

    def check_key(self, event: CheckUpdate) -> str:
        return f"{event.step_id}:{event.check_id}"  # each step's checks in one table

    def step_finished(self, event: StepFinished) -> None:
        steps = self.query_one("#hotfix-steps", CheckTable)
        steps.update_check(event.step_id, self.run.step(event.step_id).title, event.status, event.message)

    # -- status ------------------------------------------------------------------------------

    def flow_status(self) -> tuple[str, str]:
        run, version = self.run, escape(self.run.state.version)
        backport = run.records[BACKPORT]
        if backport.status == "ok":
            return (
                f"✔ Hotfix {escape(run.ctx.tag)} runs in production; {escape(backport.message)}. "
                f"Journal: {escape(str(run.journal_path))}",
                "-ok",
            )
        if self.awaiting_ticks():
            return (
                f"✔ {escape(run.ctx.tag)} is deployed and verified. Now tick what you verified by hand below "
                "(space; a note is optional), then press [b]c[/b] to backport the fix.",
                "-ok",
            )
        if self.can_finish():
            return f"Both items are ticked. Press [b]c[/b] to backport {escape(run.branch)} into main.", ""
        if self.can_deploy():
            return f"Production is ready. Press [b]d[/b] and type [b]{version}[/b] to deploy the hotfix.", ""
        if self.can_acknowledge():
            return (
                "Read the rollback plan above, then press [b]a[/b] to acknowledge it and run the production prep.",
                "",
            )
        if self.can_continue():
            return (
                f"{len(self.commits)} fix commit(s). Check the changelog section, then press [b]c[/b] to check, "
                f"tag and push {escape(run.ctx.tag)} (nothing is deployed before you type the version).",
                "",
            )
        if self.loaded and run.records[BRANCH].status == "ok" and not self.commits:
            return f"Waiting for a fix commit on {escape(run.branch)}…", ""
        return "", ""

    def action_gates(self) -> Mapping[str, Callable[[], bool]]:
        return {
            "continue": lambda: self.can_continue() or self.can_finish(),
            "acknowledge": self.can_acknowledge,
            "deploy": self.can_deploy,
            "save_changelog": self.can_save_changelog,
        }

    def can_save_changelog(self) -> bool:
        """The changelog editor holds a section that can still be edited."""
        found = self.query("#hotfix-changelog") if self.is_mounted else None
        editor = found.first() if found else None  # composing: the footer asks before it exists
        return isinstance(editor, TextArea) and not editor.disabled and not editor.read_only

    @on(TextArea.Changed, "#hotfix-changelog")
    def _edited(self) -> None:
        self.refresh_bindings()
