"""Production prep, before the production deploy: backup, stakeholder notice, rollback plan.

The rollback plan is read first and shown; the operator acknowledges it with ``a``, which
records it and runs the prep (the backup, the notice). An item that cannot be done (no
backup configured, no webhook) is skipped only with a typed reason (``b``, ``n``).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, ClassVar

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widget import Widget
from textual.widgets import Button, Input, Label, Static

from iact_tui.engine.events import CheckUpdate
from iact_tui.engine.run import ReleaseRun
from iact_tui.engine.run_lock import RunLockLost
from iact_tui.engine.steps.prep import ITEMS as PREP_ITEMS
from iact_tui.errors import IactError
from iact_tui.screens.base import StepScreen
from iact_tui.screens.lock_lost import say_not_recorded
from iact_tui.widgets import CheckTable
from iact_tui.widgets.literal import escape

_SKIPPABLE = {"backup": "the database backup", "notice": "the stakeholder notice"}


class ReasonModal(ModalScreen[tuple[str, str] | None]):
    """Ask why it is safe to go on without an item; dismisses with ``(reason, typed)`` or ``None``.

    Skipping a backup that guards a confirmed deploy (production) also needs the version
    typed, as the deploy does: give it as ``version`` and the dialog asks for it too.

    Args:
        what: What is being skipped, e.g. ``"the database backup"``.
        version: The version to type (``1.4.0``; ``tag`` is accepted too); empty: no
            typed version is asked and ``typed`` is ``""``.
        tag: The release's tag, e.g. ``v1.4.0``.
    """

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, what: str, version: str = "", tag: str = "") -> None:
        super().__init__()
        self.what = what
        self.version = version
        self.tag = tag

    def compose(self) -> ComposeResult:
        with Vertical(id="reason-dialog"):
            yield Label(f"Skip {escape(self.what)}?", classes="reason--title")
            yield Static("Type why it is safe to deploy without it. The reason is recorded in the journal.")
            yield Input(placeholder="reason", id="reason-input")
            if self.version:
                yield Static(f"Type the version ({escape(self.version)}) to confirm going on without it.")
                yield Input(placeholder=self.version, id="reason-version")
            yield Static("", id="reason-error")
            with Horizontal(id="reason-buttons"):
                yield Button("Cancel", id="reason-cancel")
                yield Button("Skip it", id="reason-ok", variant="warning")

    def on_mount(self) -> None:
        # Tab moves between the fields only: a focused button would take the Enter (and
        # the typing) meant for a field; the buttons are for the mouse, Escape cancels.
        for button in self.query(Button):
            button.can_focus = False
        self.query_one("#reason-input", Input).focus()

    @on(Input.Submitted)
    @on(Button.Pressed, "#reason-ok")
    def _ok(self, event: Input.Submitted | Button.Pressed) -> None:
        """Dismiss with the answer once complete; else say exactly what is missing or
        wrong, focus that field and stay open."""
        field = self.query_one("#reason-input", Input)
        reason = field.value.strip()
        error = self.query_one("#reason-error", Static)
        if not reason:
            error.update("[red]The reason is empty: type why it is safe to go on without it, or press Escape.[/]")
            field.focus()
            return
        typed = ""
        if self.version:
            box = self.query_one("#reason-version", Input)
            typed = box.value.strip()
            if not typed:
                error.update(
                    f"The version is not typed yet: type {escape(self.version)} below to confirm going on "
                    "without it, or press Escape."
                )
                box.focus()
                return
            if typed not in {self.version, self.tag}:
                error.update(
                    f"[red]“{escape(typed)}” is not the version being released: type {escape(self.version)} "
                    f"(or {escape(self.tag)}), or press Escape.[/]"
                )
                box.value = ""
                box.focus()
                return
        self.dismiss((reason, typed))

    @on(Button.Pressed, "#reason-cancel")
    def action_cancel(self) -> None:
        self.dismiss(None)


def skip_dialog(run: ReleaseRun, env: str, item: str, what: str) -> ReasonModal:
    """The reason dialog for skipping ``item`` of ``env``'s prep: it asks for the typed
    version too when the item is the backup of an environment whose deploy is confirmed."""
    if item == "backup" and env in run.config.environments and run.config.needs_confirmation(env):
        return ReasonModal(what, run.state.version, run.ctx.tag)
    return ReasonModal(what)


class PrepScreen(StepScreen):
    """Runs ``prep-{env}`` once the operator has acknowledged the rollback plan.

    Args:
        env: The environment about to be deployed (``production``).
    """

    TITLE_TEXT = "Production prep"
    ALLOW_BACK = False

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("a", "acknowledge", "Acknowledge plan"),
        Binding("b", "skip('backup')", "Skip backup"),
        Binding("n", "skip('notice')", "Skip notice"),
    ]

    def __init__(self, env: str = "production") -> None:
        super().__init__()
        self.env = env
        self.plan_lines: list[str] = []
        self.item_status: dict[str, str] = {}

    @property
    def stage(self) -> str:
        return f"prep-{self.env}"

    @property
    def step_ids(self) -> tuple[str, ...]:
        return (f"prep-{self.env}",)

    @property
    def acknowledged(self) -> bool:
        """Whether the operator has acknowledged the rollback plan in this run."""
        return self.run.state.prep.get(f"{self.env}:rollback-ack") == "yes"

    def compose_step(self) -> Iterable[Widget]:
        with Vertical(id="rollback-panel", classes="panel"):
            yield Label("Rollback plan", classes="panel--title")
            yield Static("Reading what production runs…", id="rollback-plan")
        yield CheckTable(id="prep-items", title="Before the production deploy")

    def begin(self) -> None:
        """Show the plan; run the prep once it is acknowledged (at once when it already is).

        Without the environment in the config the step runs at once and skips itself.
        """
        if self.env not in self.run.config.environments:
            self.query_one("#rollback-plan", Static).update(f"No [environments.{self.env}] in the config.")
            self.start_steps()
            return
        table = self.query_one("#prep-items", CheckTable)
        for item, label in PREP_ITEMS:
            table.update_check(item, label, self.item_status.get(item, "pending"), "")
        self.load_plan()
        if self.acknowledged and self.step_status.get(self.step_ids[0]) not in {"ok", "skipped"}:
            self.start_steps()

    @work(exclusive=True, exit_on_error=False, group="plan")
    async def load_plan(self) -> None:
        """Work out the rollback plan (reads the host and the repository, off the UI)."""
        plan = await self.run.rollback_plan(self.env)
        self.plan_lines = list(plan.lines)
        text = "\n".join(f"[yellow]{escape(line)}[/]" if line.startswith("⚠") else escape(line) for line in plan.lines)
        self.query_one("#rollback-plan", Static).update(self.iact.mask(text))
        self.refresh_state()

    def on_check(self, event: CheckUpdate) -> None:
        self.item_status[event.check_id] = event.status
        super().on_check(event)

    def status_text(self) -> tuple[str, str]:
        waiting = self.env in self.run.config.environments and not self.is_ready()
        if waiting and not self.acknowledged and not self.running and self.failure is None:
            if not self.plan_lines:
                return "◌ Reading the rollback plan…", "-running"
            return (
                "Read the rollback plan above, then press [b]a[/b] to acknowledge it and run the prep; "
                "an item it cannot do can then be skipped with a reason.",
                "",
            )
        return super().status_text()

    def blocked_hint(self) -> str:
        skips = [f"{key} to skip {what}" for key, what in (("b", "the backup"), ("n", "the notice"))]
        if self.failure and any(self.item_status.get(i) == "failed" for i in _SKIPPABLE):
            return "Press r to retry, or " + ", ".join(skips) + " with a reason."
        return super().blocked_hint()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "acknowledge":
            if self.acknowledged:
                return False  # hidden: done (found by an operator trial: it stayed in the footer)
            return None if not self.plan_lines or self.running else True
        if action == "skip":
            item = str(parameters[0]) if parameters else ""
            if self._skipped_by_config(item):
                return False  # hidden: the config gives the reason, nothing to type
            # Hidden until usable: only an item the prep tried and could not do is skipped.
            return self.item_status.get(item) == "failed" and not self.running
        return super().check_action(action, parameters)

    def _skipped_by_config(self, item: str) -> bool:
        """Whether the config already skips ``item`` (``backup`` or ``notice``) with a reason."""
        config = self.run.config
        if item == "backup":
            env = config.environments.get(self.env)
            return env is not None and env.backup is None and bool(env.backup_skip_reason)
        if item == "notice":
            return not config.notify.webhook_env and bool(config.notify.skip_reason)
        return False

    def action_acknowledge(self) -> None:
        """Re-read the config (the operator may have edited the backup or the notice since
        the run began), record the acknowledged plan, then run the prep."""
        if self.acknowledged or not self.plan_lines or self.running:
            return
        if not self.reload_config():
            return
        self.refresh_bindings()
        try:
            self.run.acknowledge_rollback_plan(self.env, self.plan_lines)
        except RunLockLost as exc:
            say_not_recorded(self, exc)
            return
        self.start_steps()

    def action_skip(self, item: str) -> None:
        """Ask for a reason to go on without ``item``; then run the prep again."""
        if item not in _SKIPPABLE or self.running:
            return

        def answered(answer: tuple[str, str] | None) -> None:
            if not answer:
                return
            try:
                self.run.skip_prep_item(self.env, item, *answer)
            except IactError as exc:
                self.failure = (exc.what, exc.fix)
                self.refresh_state()
                return
            self.start_steps()

        self.app.push_screen(skip_dialog(self.run, self.env, item, _SKIPPABLE[item]), answered)

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "acknowledged": self.acknowledged, "items": dict(self.item_status)}
