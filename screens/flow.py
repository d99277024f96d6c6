"""The base of the screens that drive one flow of their own (hotfix, rollback).

:class:`FlowScreen` owns what those screens share: the step loop (:meth:`FlowScreen.run_steps`),
the routing of engine events to the output pane, the checks table and the commands
table, the status line and the footer's bindings, failure handling, the verification
items done by hand (a :class:`~iact_tui.widgets.VerifyTicks` shown once ``verify``
passed: the operator ticks them, the flow's last step waits for both) and leaving. A subclass composes its widgets with the ids ``#<PREFIX>-checks``,
``#<PREFIX>-table`` and ``#<PREFIX>-status`` and says what each of its keys needs.
"""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator, Callable, Iterable, Mapping
from pathlib import Path
from typing import ClassVar, Generic, Protocol, TypeVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.notifications import SeverityLevel
from textual.widget import Widget
from textual.widgets import Footer, Header, Input, Static, TextArea

from iact_tui.engine.events import CheckUpdate, CommandUpdate, Event, OutputLine, StepFinished, StepStarted
from iact_tui.engine.resume import INTERRUPTED, Replayed, check_updates, command_updates
from iact_tui.engine.run_lock import RunLockLost
from iact_tui.engine.state import RunState
from iact_tui.engine.step import Step, StepRecord
from iact_tui.errors import IactError
from iact_tui.screens.base import LeanScreen, show
from iact_tui.screens.lock_lost import say_not_recorded
from iact_tui.widgets import CheckTable, CommandLog, ConfirmModal, DeployTable, QuitModal, VerifyTicks
from iact_tui.widgets.literal import escape


class FlowScreenRun(Protocol):
    """What a flow screen needs of its run (``HotfixRun``, ``RollbackRun``)."""

    records: dict[str, StepRecord]
    state: RunState

    @property
    def journal_path(self) -> Path:
        """The run's journal."""
        ...

    async def load(self) -> None:
        """Read what runs where (changes nothing)."""
        ...

    def step(self, step_id: str) -> Step:
        """The step ``step_id``."""
        ...

    def run_step(self, step_id: str) -> AsyncIterator[Event]:
        """Run one step, yielding its events."""
        ...

    def confirm(self, step_id: str, typed: str) -> bool:
        """Record the typed version for ``step_id``; whether it matches."""
        ...

    def verify_manual_checks(self) -> tuple[tuple[str, str], ...]:
        """The verification items done by hand, as ``(id, label)``."""
        ...

    def tick_verify(self, check_id: str, ticked: bool, note: str = "") -> None:
        """Tick (or untick) an item done by hand, with its note (journaled)."""
        ...

    def finish(self) -> None:
        """Journal the end of the run."""
        ...


RunT = TypeVar("RunT", bound=FlowScreenRun)

#: The verification's step id (the same in every flow).
VERIFY = "verify"

#: The keys every flow screen has, after its own: retry a failed step, leave.
FLOW_BINDINGS: tuple[BindingType, ...] = (
    Binding("r", "retry", "Retry"),
    Binding("escape", "leave", "Close"),
)


class FlowScreen(LeanScreen, Generic[RunT]):
    """A screen driving one run step by step (see the module docstring).

    Args:
        run: The run (not loaded yet: the screen loads it).
        blink: Whether input cursors blink (off for snapshots).
        exit_on_leave: Leaving exits the app (``iact-tui hotfix``/``rollback``) or goes
            back (from the Welcome screen).
    """

    #: The ids' prefix: ``hotfix`` → ``#hotfix-checks``, ``#hotfix-table``, ``#hotfix-status``.
    PREFIX: ClassVar[str] = ""
    #: Step statuses that let the flow go on (a step in one of them is not run again).
    PASSING: ClassVar[frozenset[str]] = frozenset({"ok"})
    #: The flow's last step: ``c`` runs it once both items done by hand are ticked.
    FINAL_STEP: ClassVar[str] = ""
    #: The header's icon.
    ICON: ClassVar[str] = "⭘"
    #: The commands table's border title.
    TABLE_TITLE: ClassVar[str] = "Commands"
    #: Seconds a warning toast stays (see :meth:`notify`).
    WARNING_SECONDS: ClassVar[float] = 4.0
    #: Steps that run right after the step before them, with no key between (the
    #: verification after the deploy): a resumed run stopped between the two says so.
    RUN_RIGHT_AFTER: ClassVar[frozenset[str]] = frozenset({"verify"})

    def __init__(
        self, run: RunT, *, blink: bool = True, exit_on_leave: bool = True, resumed: Replayed | None = None
    ) -> None:
        super().__init__()
        self.run = run
        self.blink = blink
        self.exit_on_leave = exit_on_leave
        #: The journal's replay of a resumed run (:func:`~iact_tui.engine.resume.resume_flow`):
        #: its checks and the interrupted steps' output are shown again once loaded.
        self.resumed = resumed
        #: A step is running.
        self.busy = False
        #: The run was loaded (what runs where is known).
        self.loaded = False
        #: ``(what is wrong, what to do)`` of the last failure, shown in the status line.
        self.failure: tuple[str, str] | None = None
        #: The failure the status line showed last (a new one clears the notifications).
        self._failure_shown: tuple[str, str] | None = None

    def compose(self) -> ComposeResult:
        self.preset_breakpoints()
        yield Header(show_clock=False, icon=self.ICON)
        with VerticalScroll(id=f"{self.PREFIX}-main"):
            yield from self.compose_flow()
            yield DeployTable(id=f"{self.PREFIX}-table", title=self.TABLE_TITLE)
            ticks = VerifyTicks(
                self.run.verify_manual_checks(),
                self.run.state.verify_ticks,
                id=f"{self.PREFIX}-ticks",
                classes="panel",
            )
            ticks.display = False  # shown once the verification passed
            yield ticks
            yield CommandLog(id="command-log", title="Output")
        yield Static("", id=f"{self.PREFIX}-status")
        yield Footer()

    def compose_flow(self) -> Iterable[Widget]:
        """The flow's own widgets, above the commands table and the output pane."""
        return ()

    # -- steps and events ----------------------------------------------------------------

    async def load_run(self) -> bool:
        """Load the run; ``False`` after a failure (shown; ``busy`` stays set on success,
        the caller goes on working)."""
        self.busy = True
        try:
            await self.run.load()
        except IactError as exc:
            self.busy = False
            self.fail(exc)
            return False
        return True

    def restore(self) -> None:
        """Show a resumed run as it stood (after :meth:`load_run`): each step's journaled
        checks and commands, the output the interrupted steps had written, the items done by hand when
        the verification had passed, and the first step that did not pass as the failure
        (``r`` runs it again; every step checks what is done first)."""
        resumed = self.resumed
        if resumed is None:
            return
        log = self.query_one(CommandLog)
        for sid in resumed.checks:
            for update in check_updates(resumed.checks, sid):
                self.route(update)
        for sid in resumed.commands:
            for command in command_updates(resumed.commands, sid):
                self.route(command)
        for sid, record in self.run.records.items():
            lines = resumed.output.get(sid, []) if record.status == INTERRUPTED else []
            if lines:
                log.append_output(f"{self.run.step(sid).title} (interrupted; its output so far):", "info")
            for line in lines:
                log.append_output(line["text"], line["stream"], line["host"])
        if self.run.records[VERIFY].status == "ok":
            self.show_ticks()
        stopped = next((r for r in self.run.records.values() if r.status in {"failed", "cancelled", INTERRUPTED}), None)
        if stopped is not None:
            self.failure = (stopped.message, stopped.fix)
        else:
            order = list(self.run.records)
            gap = next(
                (
                    sid
                    for before, sid in itertools.pairwise(order)
                    if sid in self.RUN_RIGHT_AFTER
                    and self.run.records[sid].status == "pending"
                    and self.run.records[before].status in self.PASSING
                ),
                None,
            )
            if gap is not None:
                title = self.run.step(gap).title
                self.failure = (f"{title} has not run: iact-tui stopped just before it", f"press r to run {title}")
        self.refresh_status()

    def fail(self, exc: IactError) -> None:
        """Show an operator error in the status line (``r`` retries where that applies)."""
        self.failure = (exc.what, exc.fix)
        self.refresh_status()

    def done(self, step_ids: tuple[str, ...]) -> bool:
        """Whether every one of ``step_ids`` passed (or was skipped, where that passes)."""
        return all(self.run.records[sid].status in self.PASSING for sid in step_ids)

    async def run_steps(self, step_ids: list[str]) -> None:
        """Run ``step_ids`` in order, skipping those already passed; stop at a failure."""
        self.busy, self.failure = True, None
        self.refresh_status()
        try:
            for sid in step_ids:
                if self.run.records[sid].status in self.PASSING:
                    continue
                failed = False
                async for event in self.run.run_step(sid):
                    self.route(event)
                    failed = failed or (isinstance(event, StepFinished) and event.status not in self.PASSING)
                if failed:
                    break
        finally:
            self.busy = False
            self.refresh_status()

    def route(self, event: Event) -> None:
        """Show one engine event: output and step lines in the pane, checks and commands in
        their tables; a failed step becomes the status line's failure."""
        log = self.query_one(CommandLog)
        if isinstance(event, StepStarted):
            log.append_output(f"{event.title}…", "info")
            self.step_started(event)
        elif isinstance(event, OutputLine):
            log.append_output(event.text, event.stream, event.host)
        elif isinstance(event, CheckUpdate):
            self.query_one(f"#{self.PREFIX}-checks", CheckTable).update_check(
                self.check_key(event), event.label, event.status, event.detail
            )
        elif isinstance(event, CommandUpdate):
            self.query_one(f"#{self.PREFIX}-table", DeployTable).update_command(event)
        elif isinstance(event, StepFinished):
            mark = "✔" if event.status in self.PASSING else "✘"
            log.append_output(f"{mark} {event.message}", "info")
            if event.status not in self.PASSING:
                self.failure = (event.message, event.fix)
            elif event.step_id == VERIFY:
                self.show_ticks()
            self.step_finished(event)

    def check_key(self, event: CheckUpdate) -> str:
        """The checks table's row key of a check."""
        return event.check_id

    def step_started(self, event: StepStarted) -> None:
        """A step started (after its line in the output pane)."""

    def step_finished(self, event: StepFinished) -> None:
        """A step finished (after its line in the output pane and any failure)."""

    def ask_version(
        self,
        step_id: str,
        target: str,
        then: Callable[[], object],
        *,
        title: str = "",
        purpose: str = "",
        noun: str = "the version being released",
    ) -> None:
        """Ask for the typed version before ``step_id`` (a :class:`ConfirmModal` naming
        ``target``); call ``then`` once it matched, nothing when cancelled.

        Args:
            step_id: The step the typed version confirms.
            target: What is confirmed (``production (hotfix v1.4.1)``).
            then: Called once the typed version matched.
            title: The dialog's title; ``""``: ``Deploy to <target>``.
            purpose: What typing does, after "to" in the prompt; ``""``: ``deploy to <target>``.
            noun: What the version is, in the message for a wrong one.
        """

        def answered(confirmed: bool | None) -> None:
            if confirmed:
                then()

        self.app.push_screen(
            ConfirmModal(
                self.run.state.version,
                lambda typed: self.run.confirm(step_id, typed),
                target=target,
                blink=self.blink,
                title=title,
                purpose=purpose,
                noun=noun,
            ),
            answered,
        )

    # -- the verification items done by hand ----------------------------------------------

    @property
    def ticks(self) -> VerifyTicks:
        """The items done by hand."""
        return self.query_one(VerifyTicks)

    def show_ticks(self) -> None:
        """Show the items done by hand (the verification passed) and focus the first one
        not ticked yet."""
        self.ticks.display = True
        self.call_after_refresh(self.ticks.focus_next_tick)

    def ticks_complete(self) -> bool:
        """Every item done by hand is ticked."""
        ticked = self.run.state.verify_ticks
        return all(check_id in ticked for check_id, _ in self.run.verify_manual_checks())

    def awaiting_ticks(self) -> bool:
        """The verification passed and an item done by hand is not ticked yet."""
        return self.run.records[VERIFY].status == "ok" and not self.ticks_complete()

    def can_finish(self) -> bool:
        """The verification passed, both items done by hand are ticked, and the last
        step has not passed yet."""
        return (
            not self.busy
            and self.run.records[VERIFY].status == "ok"
            and self.ticks_complete()
            and self.run.records[self.FINAL_STEP].status != "ok"
        )

    def finish_flow(self) -> None:
        """Keep the notes as typed, then run the last step (``c``)."""
        self.ticks.save_notes()
        self.run_worker(self.run_steps([self.FINAL_STEP]), group=self.PREFIX, exclusive=True, exit_on_error=False)

    def on_verify_ticks_changed(self, event: VerifyTicks.Changed) -> None:
        """Record a tick, an untick or a ticked item's new note (journaled)."""
        event.stop()
        try:
            self.run.tick_verify(event.check_id, event.ticked, event.note)
        except RunLockLost as exc:
            say_not_recorded(self, exc)
        self.refresh_status()

    # -- leaving -------------------------------------------------------------------------

    def leave_field(self) -> bool:
        """Esc in a text field (a note, an editor) leaves the field, not the screen.

        Returns:
            Whether focus left a field (the screen stays).
        """
        if isinstance(self.focused, Input | TextArea):
            if isinstance(self.focused, Input) and self.focused.has_class("verify-note"):
                self.ticks.save_notes()
            self.set_focus(None)
            return True
        return False

    def action_leave(self) -> None:
        """Leave the screen (``esc``; ``q`` when opened from Welcome): each flow first asks
        what it must (a half-done hotfix or rollback) and undoes what it may; this base
        just closes."""
        self.close()

    def ask_to_leave(self, done: str, not_done: list[str], subject: str, then: Callable[[], object]) -> None:
        """Ask before leaving a half-done flow (``QuitModal``: Stay is the default); call
        ``then`` when the operator leaves.

        Args:
            done: What the flow has done, e.g. ``"Hotfix v1.4.1 is tagged and pushed."``.
            not_done: The titles of the steps not done.
            subject: The dialog's first line, e.g. ``"The hotfix is not finished."``.
            then: Leaves (checks the branch out again, closes...).
        """

        def answered(leave: bool | None) -> None:
            if leave:
                then()

        self.app.push_screen(
            QuitModal(
                done=done,
                not_done=not_done,
                subject=subject,
                leave_label="Quit" if self.exit_on_leave else "Leave",
            ),
            answered,
        )

    def close(self) -> None:
        """Journal the end of the run, then exit the app or go back."""
        self.run.finish()
        if self.exit_on_leave:
            self.app.exit()
        else:
            self.app.pop_screen()

    # -- status and keys -----------------------------------------------------------------

    def status_text(self) -> tuple[str, str]:
        """The status line's markup and state class: the failure, else working, else
        :meth:`flow_status`."""
        if self.failure is not None:
            what, fix = self.failure
            text = f"[b]✘ {escape(what)}[/b]" + (f"\n  → {escape(fix)}" if fix else "")
            return text, "-failed"
        if self.busy:
            return "◌ Working…", "-running"
        return self.flow_status()

    def flow_status(self) -> tuple[str, str]:
        """The status line when nothing failed and nothing runs: what the operator does next."""
        return "", ""

    def refresh_status(self) -> None:
        """Show the status line and the footer's keys as they are now.

        A failure shown for the first time clears the notifications: a toast left from
        before (e.g. "wait for it to end") must not cover it.
        """
        if not self.is_mounted:
            return
        if self.failure is not None and self.failure != self._failure_shown:
            self.app.clear_notifications()
        self._failure_shown = self.failure
        text, state = self.status_text()
        pane = self.query_one(f"#{self.PREFIX}-status", Static)
        show(pane, text)
        pane.set_classes(state)
        self.refresh_bindings()

    def notify(
        self,
        message: str,
        *,
        title: str = "",
        severity: SeverityLevel = "information",
        timeout: float | None = None,
        markup: bool = True,
    ) -> None:
        """Show a toast; a warning without a timeout of its own lasts :attr:`WARNING_SECONDS`.

        A warning here answers a key the operator pressed ("wait for it to end"): it is
        read at once and must not stay over the status line.
        """
        if timeout is None and severity == "warning":
            timeout = self.WARNING_SECONDS
        super().notify(message, title=title, severity=severity, timeout=timeout, markup=markup)

    def action_gates(self) -> Mapping[str, Callable[[], bool]]:
        """Action → whether its key applies now (keys not named always do)."""
        return {}

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "retry":
            return self.failure is not None and not self.busy
        gate = self.action_gates().get(action)
        return True if gate is None else gate()
