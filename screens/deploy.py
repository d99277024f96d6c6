"""Stages 6 and 8: deploy to an environment, with live output and progress.

The screen shows every command of the recipe on every host (:class:`DeployTable`), a
progress bar over the recipe with the current command ("3/9 run migrations on web1"),
and the output in a bounded, searchable :class:`CommandLog` (the journal keeps all of it).

Output arrives one engine event per line, possibly hundreds of thousands of them. So
that a stream never floods the screen's message queue, consecutive output lines are
delivered together in one :class:`OutputBatch` message per turn of the event loop
(see :meth:`DeployScreen.post_message`); every other event is routed as usual, in order.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from dataclasses import replace
from typing import ClassVar

from textual import events, on
from textual.app import ComposeResult
from textual.binding import ActiveBinding, Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.screen import ModalScreen
from textual.widget import Widget
from textual.widgets import Input, Label, ProgressBar, Static

from iact_tui.engine.events import CommandUpdate, OutputLine, Progress, StepFinished
from iact_tui.engine.monitor import MonitorSession
from iact_tui.engine.run_lock import RunLockLost
from iact_tui.errors import IactError
from iact_tui.screens.base import EngineEvent, StepScreen
from iact_tui.screens.lock_lost import say_not_recorded
from iact_tui.screens.monitor import MonitorScreen
from iact_tui.widgets import CommandLog, ConfirmModal, DeployTable, format_output
from iact_tui.widgets.literal import escape


class OutputBatch(Message):
    """Output lines of the running step, delivered together, as the log shows them.

    The screen keeps adding lines to the batch it posted last until the batch is
    handled (``sealed``) or another engine event is posted, so output and the other
    events keep their order. Lines are kept as formatted strings: strings are not
    tracked by Python's garbage collector, so thousands of lines waiting here do not
    set off the full collections (50-100 ms pauses) that held events would.
    """

    def __init__(self) -> None:
        super().__init__()
        self.lines: list[str] = []
        self.sealed = False


class BreakLockModal(ModalScreen[bool]):
    """Type a host's name to break the deploy lock someone else holds there.

    Args:
        host: The host's name, which must be typed exactly.
        holder: Who holds the lock and since when, for the prompt.
        check: Breaks the lock; returns ``None`` when done, else why not (shown).
    """

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, host: str, holder: str, check: Callable[[str], Awaitable[str | None]]) -> None:
        super().__init__()
        self.host = host
        self.holder = holder
        self.check = check

    def compose(self) -> ComposeResult:
        with Vertical(id="break-lock-dialog"):
            yield Label(f"Break the deploy lock on {self.host}?", classes="break-lock--title")
            yield Static(
                f"It is held by {self.holder}. Break it only if that deploy is not running any more. "
                f"Type the host name [b]{self.host}[/b] to break it."
            )
            yield Input(placeholder=self.host, id="break-lock-input")
            yield Static("", id="break-lock-error")

    def on_mount(self) -> None:
        self.query_one(Input).focus()

    @on(Input.Submitted)
    async def _submitted(self, event: Input.Submitted) -> None:
        problem = await self.check(event.value.strip())
        if problem is None:
            self.dismiss(True)
        else:
            self.query_one("#break-lock-error", Static).update(f"[red]{problem}[/]")

    def action_cancel(self) -> None:
        self.dismiss(False)


class DeployScreen(StepScreen):
    """Runs ``deploy-{env}``; production asks for the typed version first.

    Args:
        env: ``staging`` or ``production`` (any configured environment works).
    """

    TITLE_TEXT = "Deploy"
    ALLOW_BACK = False

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("slash", "search", "Search"),
        Binding("ctrl+f", "search", "Search", show=False),
        Binding("n", "next_match", "Next match", show=False),
        Binding("N", "previous_match", "Previous match", show=False),
        Binding("end", "follow", "Follow output", show=False),
        Binding("m", "toggle_maintenance", "Keep maintenance on failure"),
        Binding("u", "break_lock", "Break lock"),
        Binding("o", "monitor", "Monitor"),
    ]

    def __init__(self, env: str = "staging") -> None:
        super().__init__()
        self.env = env
        self.awaiting_confirmation = False
        self._batch: OutputBatch | None = None
        self._progress_text = ""
        self._stopped_at = ""
        #: The "lock broken, press r" note, shown as a success while it is the failure.
        self._lock_broken: tuple[str, str] | None = None
        #: Output lines delivered to the log (for tests and the benchmark).
        self.output_lines = 0

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
        yield DeployTable(id="deploy-table", title="Commands")

    def on_resize(self, event: events.Resize) -> None:
        """Give the table at most about half of the height left for the step (at least
        three rows), so the log stays readable on a short terminal."""
        for table in self.query(DeployTable):
            table.styles.max_height = max(6, min(14, (event.size.height - 12) // 2))

    @property
    def table(self) -> DeployTable:
        """The per host, per command table."""
        return self.query_one("#deploy-table", DeployTable)

    @property
    def output_log(self) -> CommandLog:
        """The output pane."""
        return self.query_one("#command-log", CommandLog)

    def start_steps(self) -> None:
        # A retry announces its commands again: the table shows this attempt only. Not on
        # the resumed run's first call, which only holds the stopped deploy for r: its
        # table shows the commands as they stood (show_resumed_stop).
        if not self._held_for_resume:
            for table in self.query(DeployTable):
                table.reset()
        self._progress_text = ""
        self._stopped_at = ""
        super().start_steps()

    # -- output batching ---------------------------------------------------------------

    def post_message(self, message: Message) -> bool:
        """Post a message; consecutive output lines share one :class:`OutputBatch`.

        One message per line costs the screen tens of microseconds each (queue, dispatch,
        state refresh), too much for a deploy printing tens of thousands of lines a second;
        a batch costs that once per turn of the event loop.
        """
        if isinstance(message, EngineEvent):
            event = message.event
            if isinstance(event, OutputLine):
                line = format_output(self.iact.mask(event.text), event.stream, event.host)
                batch = self._batch
                if batch is not None and not batch.sealed:
                    batch.lines.append(line)
                    return True
                batch = self._batch = OutputBatch()
                batch.lines.append(line)
                return super().post_message(batch)
            self._batch = None  # lines after this event go in a new batch, after it
        return super().post_message(message)

    @on(OutputBatch)
    def _output_batch(self, message: OutputBatch) -> None:
        message.stop()
        message.sealed = True
        if self.SHOW_LOG:
            self.output_log.extend(message.lines)
        self.output_lines += len(message.lines)

    def on_output(self, event: OutputLine) -> None:
        """A single line (output normally arrives in batches, see :meth:`post_message`)."""
        super().on_output(event)
        self.output_lines += 1

    # -- events ------------------------------------------------------------------------

    def on_command(self, event: CommandUpdate) -> None:
        """A command on a host changed state: update its row; remember where it first stopped."""
        self.table.update_command(event)
        if event.status in ("failed", "timed-out", "cancelled") and not self._stopped_at:
            where = f"{event.name} on {event.host}"
            self._stopped_at = self._progress_text if self._progress_text.endswith(where) else where

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
                self.settle_progress("Not started: not confirmed")
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
        broken = self._lock_broken
        if broken is not None and self.failure == broken and not self.running:
            # Breaking the lock succeeded: said as a success; the deploy waits for ``r``.
            what, fix = broken
            return f"✔ {escape(what)}\n  → {escape(fix)}", "-ok"
        return super().status_text()

    # -- bindings ------------------------------------------------------------------------

    def on_mount(self) -> None:
        # Textual's Footer shows nothing until told the bindings changed: tell it once the
        # deploy has started (after every on_mount), so its first recompose already shows
        # ``running`` and no second one follows in the stream's first frames.
        self.call_next(self._publish_bindings)

    # -- search and follow ---------------------------------------------------------------

    def action_search(self) -> None:
        """Open the output search bar."""
        self.output_log.open_search()

    def action_next_match(self) -> None:
        """Go to the next (newer) match of the search."""
        self.output_log.next_match()

    def action_previous_match(self) -> None:
        """Go to the previous (older) match of the search."""
        self.output_log.previous_match()

    def action_follow(self) -> None:
        """Jump to the newest output line and follow the tail again."""
        self.output_log.scroll_to_end()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action in ("next_match", "previous_match"):
            return any(log.search_term for log in self.query(CommandLog))
        if action == "toggle_maintenance":
            # Also while the deploy runs: the engine reads the choice when a command fails.
            return self.env in self.run.config.environments or None
        if action == "break_lock":
            # Hidden unless another deploy's lock stopped this one.
            return bool(self.run.held_locks(self.env)) and not self.running
        if action == "monitor":
            # Offered once the deploy has succeeded (not when it was skipped).
            return self._deployed()
        return super().check_action(action, parameters)

    def cancel_note(self) -> str:
        return "its post commands still run"

    # -- maintenance choice and lock ---------------------------------------------------

    def action_toggle_maintenance(self) -> None:
        """Choose whether a failed command leaves maintenance mode on (recorded in the journal)."""
        if self.env not in self.run.config.environments:
            return
        keep = not self.run.keeps_maintenance(self.env)
        try:
            self.run.set_keep_maintenance(self.env, keep)
        except RunLockLost as exc:
            say_not_recorded(self, exc)
            return
        # While the deploy runs the choice holds for a command failing from now on.
        when = " from now on" if self.running else ""
        if keep:
            self.notify(
                f"If a command fails{when}, {self.env} stays in maintenance mode (the post commands do not run).",
                title="Maintenance kept on failure: on",
                severity="warning",
            )
        else:
            self.notify(
                f"If a command fails{when}, the post commands still run (maintenance off).",
                title="Maintenance kept on failure: off",
            )
        self.refresh_bindings()

    @property
    def active_bindings(self) -> dict[str, ActiveBinding]:
        """Textual's, with ``m`` saying whether the choice is on: "Keep maintenance on
        failure: on" (a binding's description is fixed where it is declared)."""
        bindings = super().active_bindings
        for key, active in bindings.items():
            if active.binding.action == "toggle_maintenance" and self.env in self.run.config.environments:
                state = "on" if self.run.keeps_maintenance(self.env) else "off"
                binding = replace(active.binding, description=f"{active.binding.description}: {state}")
                bindings[key] = active._replace(binding=binding)
        return bindings

    def action_break_lock(self) -> None:
        """Break another deploy's lock after the operator types the host's name."""
        held = self.run.held_locks(self.env)
        if self.running or not held:
            return
        host, info = next(iter(held.items()))
        holder = f"{info.get('owner', '?')} since {info.get('since') or '?'}"

        async def check(typed: str) -> str | None:
            try:
                message = await self.run.break_deploy_lock(self.env, host, typed)
            except IactError as exc:
                return f"{exc.what}; {exc.fix}" if exc.fix else exc.what
            self.notify(message, title="Deploy lock broken")
            return None

        def answered(done: bool | None) -> None:
            if done:
                self.failure = (f"the deploy lock on {host} was broken", "press r to retry the deploy")
                self._lock_broken = self.failure  # shown as a success line
                self.refresh_state()

        self.app.push_screen(BreakLockModal(host, holder, check), answered)

    def on_progress(self, event: Progress) -> None:
        super().on_progress(event)
        label = f"{event.done}/{event.total}"
        if event.label:
            label += f" {event.label}"
        self._progress_text = label
        self.query_one("#progress-label", Label).update(label)

    def _deployed(self) -> bool:
        return self.step_status.get(self.step_ids[0]) == "ok" and not self.running

    def action_monitor(self) -> None:
        """Watch the environment just deployed: its logs, health and hosts (the summary,
        if saved, goes to this run's journal)."""
        if not self._deployed():
            return
        try:
            session = MonitorSession(self.run.config, self.env, journal=self.run.journal)
        except IactError as exc:
            self.notify(str(exc), title="Cannot monitor", severity="error")
            return
        self.app.push_screen(MonitorScreen(session))

    def on_step_finished(self, event: StepFinished) -> None:
        super().on_step_finished(event)
        self.show_stopped(event.status)

    def on_step_cancelled(self, step_id: str) -> None:
        super().on_step_cancelled(step_id)
        self.show_stopped(self.step_status.get(step_id, "cancelled"))

    def show_resumed_stop(self) -> None:
        super().show_resumed_stop()
        from iact_tui.engine.resume import command_updates

        if self.iact.resumed:
            for update in command_updates(self.iact.resumed_commands, self.step_ids[0]):
                self.table.update_command(update)  # the commands as they stood
        status = self.step_status.get(self.step_ids[0], "")
        if status in ("interrupted", "failed", "cancelled"):
            # Nothing runs until r: the bar must not animate as if the deploy were waiting.
            self.settle_progress(f"{status.capitalize()} (resumed run): press r to deploy")

    def show_stopped(self, status: str) -> None:
        """Show how the deploy ended on the progress line: ``Deployed``, ``Failed at 5/11
        run migrations on web1``, ``Cancelled at …``.

        Args:
            status: The step's status: ``ok``, ``skipped``, ``failed`` or ``cancelled``.
        """
        text = {"ok": "Deployed", "skipped": "Skipped", "failed": "Failed", "cancelled": "Cancelled"}.get(
            status, status.capitalize()
        )
        if status in ("failed", "cancelled") and (self._stopped_at or self._progress_text):
            # Where it stopped, for the operator: the command that failed, not the unlock after it.
            text += f" at {self._stopped_at or self._progress_text}"
        self.settle_progress(text, done=status == "ok")

    def settle_progress(self, text: str, *, done: bool = False) -> None:
        """Stop the progress bar where it is (an indeterminate bar animates as if something
        ran) and put ``text`` beside it.

        Args:
            text: The progress line, e.g. ``"Cancelled at 3/9 run migrations on web1"``.
            done: Fill the bar (the deploy succeeded).
        """
        bar = self.query_one("#progress-bar", ProgressBar)
        total = bar.total or 1
        bar.update(total=total, progress=total if done else bar.progress)
        self.query_one("#progress-label", Label).update(text)
