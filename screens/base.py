"""The screens' common frame and the step screen: worker, event routing, retry, continue.

A :class:`WizardScreen` shows the header, the stage title with the version being
released, the :class:`~iact_tui.widgets.StepList` sidebar and the footer. A
:class:`StepScreen` also runs its engine steps in one async worker, wraps each engine
event once into an :class:`EngineEvent` message, and routes it to its widgets.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import re
import time
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, cast

from textual import events, on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.geometry import Region
from textual.message import Message
from textual.screen import Screen
from textual.widget import Widget
from textual.widgets import Button, Footer, Header, Input, Label, Static
from textual.worker import Worker, WorkerState

from iact_tui.errors import IactError
from iact_tui.screens.stages import STAGE_STEPS, STAGES, stage_number, stage_states
from iact_tui.widgets.literal import escape
from iact_tui.widgets.step_list import StepList  # alone: Welcome is drawn before the other widgets load

if TYPE_CHECKING:
    from iact_tui.app import IactApp
    from iact_tui.engine.events import (
        CheckUpdate,
        CommandUpdate,
        Event,
        OutputLine,
        Progress,
        StepFinished,
        StepStarted,
    )
    from iact_tui.engine.run import ReleaseRun
    from iact_tui.widgets.command_log import CommandLog

#: Step statuses after which the wizard may go on.
PASSABLE = frozenset({"ok", "skipped"})


_NUMBER = re.compile(r"(?<![\w.])\d+(?:\.\d+)?")


def _said(part: str, detail: str) -> bool:
    """Whether ``detail`` already gives the figure ``part``: every number of ``part`` is
    in ``detail``, rounded alike (``104 ms`` is said by ``in 104 ms`` and ``in 104.2 ms``,
    ``exit 0`` by ``exited 0 in 0.3 s``)."""
    values = [float(v) for v in _NUMBER.findall(part)]
    said = [float(n) for n in _NUMBER.findall(detail)]
    return bool(values) and all(any(round(v) == round(n) for n in said) for v in values)


def with_figures(detail: str, figures: Iterable[str]) -> str:
    """``detail`` followed by the figures it does not already say, each figure once:
    ``"200 OK in 104 ms, version 1.4.0"`` stays as it is, ``"HTTP 200"`` with ``95 ms``
    becomes ``"HTTP 200 (95 ms)"``.

    Args:
        detail: The engine's detail.
        figures: Short texts such as ``"HTTP 200"``, ``"104 ms"``, ``"exit 0"``.
    """
    missing = [part for part in figures if part and not _said(part, detail)]
    if not missing:
        return detail
    return f"{detail} ({' · '.join(missing)})" if detail else " · ".join(missing)


def show(widget: Static, content: str) -> None:
    """Give ``widget`` new text only if it differs from what it shows.

    ``Static.update`` always schedules a layout of the whole screen (its size may have
    changed); the screens refresh their panes on every engine event, mostly with the
    same text.
    """
    if widget.content != content:
        widget.update(content)


class EngineEvent(Message):
    """An engine event delivered to the screen that ran the step (the UI edge)."""

    def __init__(self, event: Event) -> None:
        super().__init__()
        self.event = event


def _no_paint() -> None:
    """Stands in for ``Screen._compositor_refresh`` while :meth:`LeanScreen._prepaint` lays out."""


class LeanScreen(Screen[None]):
    """A screen that spares the event loop the parts of Textual's whole-screen work that
    repeat what was just done (each was a stall of the UI loop in ``benchmarks/run_all.py
    --only stalls``).

    The footer is rebuilt only when what it shows changed. Textual's ``Footer`` recomposes
    (removes and mounts every key, each key restyled on mount) on every
    ``refresh_bindings`` and does not merge requests. The screens ask on every engine event
    and Textual on every focus change, so a release rebuilt the footer about 600 times,
    10-40 ms each. Here the requests made before the next refresh share one check, and the
    footer is told only when :meth:`footer_state` differs from what it was last told.

    The app's breakpoint classes (``-narrow``/``-wide``) are set before the screen's
    widgets mount (:meth:`preset_breakpoints`, called first in ``compose``): set by
    Textual on the screen's first ``Resize``, they restyled every widget of the new screen
    once more (20-80 ms on a stage screen).

    The first ``ScreenResume`` does not restyle the screen: its widgets were styled when
    they mounted, moments before, and nothing that styles them (the suspended class, a
    theme change while suspended) can have changed. The ``Resize`` its layout then sends
    the screen does not lay it out and paint it again at the same size (7-20 ms). Later
    resumes and resizes go to Textual as usual.

    On that first resume the screen's objects leave the garbage collector's generations
    (``gc.freeze``, as the app does with its own in ``on_mount``): a stage screen lives as
    long as the run, and each full collection walked every screen built so far again (9
    full collections in a release, 15-90 ms each on the event loop).

    The first frame is prepared in slices (:meth:`_prepaint`): Textual lays a new screen
    out and renders every widget's lines in one go on its first resume, 20-55 ms of the
    loop on a stage screen, and paints it again at the next refresh. Here the layout is one
    turn of the loop and the widgets' lines are rendered into their caches
    :attr:`PREPAINT_SLICE` seconds at a time, the loop free in between; the frame is then
    composed from the caches once (the longest stall of a whole release went from 40-78 ms
    to under 45 ms).
    """

    #: Longest stretch, in seconds, of rendering widgets' first lines before the event loop
    #: gets a turn (:meth:`_prepaint`).
    PREPAINT_SLICE: ClassVar[float] = 0.008

    def __init__(self, name: str | None = None, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(name=name, id=id, classes=classes)
        self._footer_shown: tuple[object, ...] | None = None
        self._footer_check_pending = False
        self._resumed_before = False
        self._resized_before = False

    async def _on_resize(self, event: events.Resize) -> None:
        # Runs before Screen._on_resize. The first resume laid the screen out at the app's
        # size and sent the screen this Resize: Screen._on_resize would lay it out and
        # paint it whole again at the same size (7-20 ms). A later Resize (the terminal
        # resized) goes to Textual as usual.
        if not self._resized_before and self._resumed_before:
            self._resized_before = True
            if event.size == self._compositor.size:
                event.stop()
                event.prevent_default()

    async def _on_screen_resume(self, event: events.ScreenResume) -> None:  # type: ignore[override]
        # Runs before Screen._on_screen_resume (Textual calls each class's handler in MRO
        # order, awaiting each; Textual's is sync, hence the ignore): that one then finds the screen laid out at the app's size
        # and only asks for the repaint, which composes the frame from the warm caches.
        if not self._resumed_before:
            self._resumed_before = True
            event.refresh_styles = False
            gc.freeze()
            await self._prepaint()

    async def _prepaint(self) -> None:
        """Lay the new screen out (Show and Resize go to its widgets as usual) without
        painting it, then render the visible widgets' lines into their caches, the parts
        Textual's compositor asks for, yielding to the event loop every
        :attr:`PREPAINT_SLICE` seconds. Stops early if the screen is no longer the current
        one; whatever is not cached then is rendered by the next paint, as before.

        The app's first screen (none of these below it) is painted at once, as Textual
        does: nothing is on the terminal yet to keep answering, and the slices only
        delayed it (startup benchmark 1.25x -> 1.38x the minimal app)."""
        size = self.app.size
        if not self.is_attached or not self.is_current or self._size == size:
            return
        if not any(isinstance(screen, LeanScreen) for screen in self.app.screen_stack[:-1]):
            return
        # Textual's layout paints at its end when the screen is current; the paint comes
        # after the slices instead (an instance attribute shadows the method meanwhile).
        vars(self)["_compositor_refresh"] = _no_paint
        try:
            self._refresh_layout(size)
        finally:
            del vars(self)["_compositor_refresh"]
        # Two turns: the widgets handle the Resize and Show the layout sent them (a table
        # or an editor drops its cached lines on a resize) before their lines are cached.
        await asyncio.sleep(0)
        await asyncio.sleep(0)
        started = time.perf_counter()
        for widget, (region, clip) in list(self._compositor.visible_widgets.items()):
            if not self.is_current:
                return
            # The same crop as Compositor._get_renders, so that the paint finds the lines.
            if clip.contains_region(region):
                crop = Region(0, 0, region.width, region.height)
            else:
                x, y, width, height = region.intersection(clip)
                if not (width and height):
                    continue
                crop = Region(x - region.x, y - region.y, width, height)
            widget.render_lines(crop)
            if time.perf_counter() - started > self.PREPAINT_SLICE:
                await asyncio.sleep(0)
                started = time.perf_counter()

    def preset_breakpoints(self) -> None:
        """Give the screen the breakpoint classes its first ``Resize`` would give it
        (Textual's rule: per axis, the class of the largest breakpoint not above the app's
        size), so that ``Resize`` finds nothing to change."""
        app = self.app
        width, height = app.size
        horizontal = (
            app.HORIZONTAL_BREAKPOINTS if self.HORIZONTAL_BREAKPOINTS is None else self.HORIZONTAL_BREAKPOINTS
        ) or []
        vertical = (app.VERTICAL_BREAKPOINTS if self.VERTICAL_BREAKPOINTS is None else self.VERTICAL_BREAKPOINTS) or []
        for breakpoints, dimension in ((horizontal, width), (vertical, height)):
            for at, class_name in sorted(breakpoints, reverse=True):
                if dimension >= at:
                    self.add_class(class_name)
                    break

    def refresh_bindings(self) -> None:
        """Check once, after the next refresh, whether the footer must be rebuilt."""
        if self._footer_check_pending:
            return
        self._footer_check_pending = True
        self.call_after_refresh(self._publish_bindings)

    def _publish_bindings(self) -> None:
        """Tell the footer the bindings changed, if what it shows did."""
        self._footer_check_pending = False
        shown = self.footer_state()
        if shown == self._footer_shown:
            return
        self._footer_shown = shown
        super().refresh_bindings()

    def footer_state(self) -> tuple[object, ...]:
        """What the footer shows: each shown binding's key, action, description, whether it
        is enabled and its tooltip (``Footer.compose`` reads exactly these from
        ``active_bindings``), plus whether the footer would take the request now (it
        ignores requests while the app is blurred, so a later check must tell it again)."""
        shown = tuple(
            (key, binding.action, binding.description, enabled, tooltip)
            for key, (_, binding, enabled, tooltip) in self.active_bindings.items()
            if binding.show
        )
        return (shown, self.app.app_focus, self.is_current)


class WizardScreen(LeanScreen):
    """A stage of the wizard: header, stage title, sidebar, body, footer.

    Subclasses set :attr:`STAGE` and :attr:`TITLE_TEXT` and implement :meth:`compose_body`.
    """

    STAGE: ClassVar[str] = ""
    TITLE_TEXT: ClassVar[str] = ""
    #: Whether Escape goes back to the previous stage.
    ALLOW_BACK: ClassVar[bool] = True

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "back", "Back")]

    @property
    def iact(self) -> IactApp:
        """The app, typed."""
        return cast("IactApp", self.app)

    @property
    def run(self) -> ReleaseRun:
        """The release run this screen drives."""
        return self.iact.release_run

    @property
    def stage(self) -> str:
        """This screen's stage key."""
        return self.STAGE

    def compose(self) -> ComposeResult:
        self.preset_breakpoints()
        yield Header(show_clock=False, icon="⎇")
        with Horizontal(id="frame"):
            yield StepList(STAGES, id="step-list")
            with Vertical(id="stage-body"):
                with Horizontal(id="stage-header"):
                    yield Label(self._title_text(), id="stage-title")
                    yield Label(self._version_text(), id="release-badge")
                yield from self.compose_body()
        yield Footer()

    def compose_body(self) -> Iterable[Widget]:
        """The stage's own widgets (below the stage title)."""
        return ()

    def on_mount(self) -> None:
        if not self.iact.blink:
            fields = list(self.query("Input, TextArea"))
            if fields:
                from textual.widgets import TextArea  # its module only once a screen has one

                for widget in fields:
                    if isinstance(widget, Input | TextArea):
                        widget.cursor_blink = False
        self.refresh_frame()

    def on_screen_resume(self) -> None:
        self.refresh_frame()

    def refresh_frame(self) -> None:
        """Update the sidebar states and the version badge."""
        statuses = {k: r.status for k, r in self.run.records.items()}
        statuses.update(self.local_statuses())
        self.query_one(StepList).set_states(stage_states(self.stage, statuses))
        badge = self.query_one("#release-badge", Label)
        show(badge, self._version_text())
        badge.set_class(not self.run.state.version, "-unset")

    def local_statuses(self) -> dict[str, str]:
        """Step statuses this screen knows better than the run (e.g. a crashed worker)."""
        return {}

    def _title_text(self) -> str:
        return f"Step {stage_number(self.stage)} of {len(STAGES)} · {self.TITLE_TEXT}"

    def _version_text(self) -> str:
        state = self.run.state
        if not state.version:
            return " release · version not chosen "
        prefix = self.run.config.project.tag_prefix
        previous = f" ← {state.previous_tag}" if state.previous_tag else " (first release)"
        return f" release {prefix}{state.version}{previous} "

    def display_path(self, path: Path | str) -> str:
        """A path as shown on screen (masked in snapshot mode)."""
        return self.iact.display_path(Path(path))

    # -- navigation --------------------------------------------------------------------

    def can_go_back(self) -> bool:
        """Whether Escape may go back now."""
        return self.ALLOW_BACK and len(self.app.screen_stack) > 2

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "back":
            return self.can_go_back()
        return True

    def action_back(self) -> None:
        """Go back to the previous stage."""
        if self.can_go_back():
            self.leaving()
            self.app.pop_screen()

    def leaving(self) -> None:
        """Called before the screen is left backwards (keep what the operator typed)."""

    def go_next(self) -> None:
        """Go on to the next stage."""
        self.iact.advance(self.stage)

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        """The one handler of worker outcomes: an unexpected error marks the step failed.

        Expected failures never get here: they arrive as a failed ``StepFinished``.
        """
        if event.state == WorkerState.ERROR:
            self.worker_failed(event.worker.error)
        self.worker_settled(event.worker)

    def worker_settled(self, worker: Worker[Any]) -> None:
        """A worker of this screen changed state (subclasses refresh what depends on it)."""

    def worker_failed(self, error: BaseException | None) -> None:
        """A worker of this screen raised unexpectedly: say so, without a traceback."""
        self.notify(f"{type(error).__name__}: {error}", title="Unexpected error", severity="error", timeout=10)


class StepScreen(WizardScreen):
    """A stage that runs engine steps: live status, retry with ``r``, continue.

    The steps (:attr:`step_ids`) run in order in one worker; steps already ``ok`` or
    ``skipped`` are not run again, so ``r`` retries from the failed one.
    """

    ALLOW_BACK = False
    #: Whether the step pane shows a CommandLog of the steps' output.
    SHOW_LOG: ClassVar[bool] = True

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "back", "Back"),
        Binding("r", "retry", "Retry"),
        Binding("enter", "continue", "Continue"),
        Binding("c", "cancel_step", "Cancel step"),
        # Textual's own ctrl+c only says "press ctrl+q to quit": while a step runs it
        # cancels it, as c does (the check below hides it otherwise, so Textual's applies).
        Binding("ctrl+c", "cancel_step", "Cancel step", show=False),
    ]

    #: Seconds within which a second ``c`` (or ctrl+c) cancels the running step; a lone
    #: press only says what a second one would do (a stray key must not stop a deploy).
    CANCEL_CONFIRM_SECONDS: ClassVar[float] = 5.0

    def __init__(self) -> None:
        super().__init__()
        self.step_status: dict[str, str] = {}
        self.step_titles: dict[str, str] = {}
        self.failure: tuple[str, str] | None = None
        self.last_message = ""
        self._worker: Worker[None] | None = None
        #: Cleared while the quit dialog is open: the running step finishes, no next one starts.
        self.hold = asyncio.Event()
        self.hold.set()
        #: Set on a resumed run while the step that stopped it is shown: the first start waits for r.
        self._held_for_resume = False
        self._resumed_shown = False
        self._step_mounted = False
        #: Whether :meth:`begin` has been called (after the screen's first frame).
        self.begun = False
        #: When (``time.monotonic()``) the first cancel press was, while a second one cancels.
        self._cancel_armed_at: float | None = None
        #: The operator cancelled the running worker; it is stopping (a deploy runs its post commands).
        self._cancelling = False

    @property
    def step_ids(self) -> tuple[str, ...]:
        """The engine steps this screen runs, in order."""
        return STAGE_STEPS[self.stage]

    # -- layout ------------------------------------------------------------------------

    def compose_body(self) -> Iterable[Widget]:
        # Scrolls when the terminal is short; the footer below stays docked in view.
        with VerticalScroll(id="step-main", can_focus=False):
            yield from self.compose_step()
            if self.SHOW_LOG:
                from iact_tui.widgets.command_log import CommandLog

                yield CommandLog(id="command-log", title="Output")
        # Docked at the bottom: the result and Continue stay in view on a short terminal.
        with Vertical(id="step-footer"):
            yield Static("", id="step-status", classes="step-status")
            with Horizontal(id="actions"):
                yield Static("", id="actions-hint")
                yield Button("Continue ⏎", id="continue", variant="success", disabled=True)

    def command_log(self) -> CommandLog:
        """The step pane's output log (on screens with :attr:`SHOW_LOG`)."""
        from iact_tui.widgets.command_log import CommandLog

        return self.query_one(CommandLog)

    def compose_step(self) -> Iterable[Widget]:
        """Widgets shown above the log (check tables, progress...)."""
        return ()

    def on_mount(self) -> None:
        # Textual calls every class's own on_mount in the MRO, and the stage screens also
        # call super().on_mount(): this runs once (begin() twice started the steps past a
        # resumed run's hold).
        if self._step_mounted:
            return
        self._step_mounted = True
        for sid in self.step_ids:
            record = self.run.records.get(sid)
            if record is not None and record.status in PASSABLE:
                self.step_status[sid] = record.status
                self.last_message = record.message
        super().on_mount()
        self.show_resumed_stop()
        # After the first frame: a step's first events (a deploy's table of every command)
        # changed the layout while that frame was being prepared, and Textual drew it all
        # again in one 35-50 ms step (the stalls benchmark's longest, in the deploys).
        self.call_after_refresh(self._begin_after_first_frame)

    def _begin_after_first_frame(self) -> None:
        self.begun = True
        self.begin()

    def show_resumed_stop(self) -> None:
        """On a resumed run, show the stage's step that stopped it (``interrupted`` when
        iact-tui died while it ran, or failed or cancelled) with its journaled output;
        the steps then start only when the operator presses ``r``."""
        if not self.iact.resumed or self._resumed_shown:
            return  # once: Textual may deliver Mount to a base class's handler and through super()
        self._resumed_shown = True
        for sid in self.step_ids:
            record = self.run.records.get(sid)
            if record is None or record.status not in {"interrupted", "failed", "cancelled"}:
                continue
            self.step_status[sid] = record.status
            self.failure = (record.message, record.fix)
            self._held_for_resume = True
            if self.SHOW_LOG:
                log = self.command_log()
                for line in self.iact.resumed_output.get(sid, []):
                    log.append_output(self.iact.mask(line["text"]), line["stream"], line["host"])
                log.append_output(f"■ {self.iact.mask(record.message)}", "info")
            self.step_updated(sid)
            return

    def replay_checks(self, step_id: str) -> None:
        """On a resumed run, fill the check table with the journaled checks of
        ``step_id``'s last attempt (a step that passed before the crash is not run again,
        so no event would fill it)."""
        if not self.iact.resumed:
            return
        from iact_tui.engine.resume import check_updates

        for update in check_updates(self.iact.resumed_checks, step_id):
            self.on_check(update)

    def begin(self) -> None:
        """Start the stage's work (subclasses may ask something first)."""
        self.start_steps()

    # -- running -----------------------------------------------------------------------

    @property
    def running(self) -> bool:
        """Whether the worker is running."""
        return self._worker is not None and self._worker.state in (WorkerState.PENDING, WorkerState.RUNNING)

    def start_steps(self) -> None:
        """Run the steps that are not ``ok``/``skipped`` yet, in one worker."""
        if self._held_for_resume:
            self._held_for_resume = False  # shown as it stopped; r starts it
            self.call_after_refresh(self.refresh_state)  # mounting: the panes are not ready yet
            return
        self.failure = None
        from iact_tui.widgets.command_log import CommandLog

        for log in self.query(CommandLog):
            log.scroll_to_end()  # a retry shows its own output, not the old failure
        self._worker = self._run_steps()
        self.refresh_state()

    def before_step(self, step_id: str) -> bool:
        """Called before ``step_id`` runs (it is not ``ok`` or ``skipped``); ``False`` stops
        the screen's steps there, to wait for the operator (the release PR preview)."""
        return True

    @work(exclusive=True, exit_on_error=False, group="step")
    async def _run_steps(self) -> None:
        from iact_tui.engine.events import StepFinished

        for sid in self.step_ids:
            if self.run.records[sid].status in PASSABLE:
                continue
            if not self.before_step(sid):
                return
            await self.hold.wait()
            async for event in self.run.run_step(sid):
                self.post_message(EngineEvent(event))
                if isinstance(event, StepFinished) and event.status not in PASSABLE:
                    return

    def worker_failed(self, error: BaseException | None) -> None:
        """The worker raised unexpectedly: mark the running step failed and retryable.

        Called by the one ``Worker.StateChanged`` handler (:class:`WizardScreen`).
        """
        name = type(error).__name__ if error is not None else "Error"
        what = f"unexpected {name}: {error}" if error is not None else "the step stopped unexpectedly"
        target = next((s for s in self.step_ids if self.step_status.get(s) == "running"), None)
        if target is None:
            target = next((s for s in self.step_ids if self.step_status.get(s) not in PASSABLE), None)
        if target is not None:
            self.step_status[target] = "failed"
            self.step_updated(target)
        self.failure = (what, "press r to retry; the run's journal has the details")
        self.refresh_state()

    def worker_settled(self, worker: Worker[Any]) -> None:
        if worker is self._worker:
            if worker.state == WorkerState.CANCELLED:
                self.worker_cancelled()
            self.refresh_state()

    def worker_cancelled(self) -> None:
        """The worker was cancelled (``c`` twice, or quitting): the engine has journaled the
        running step as cancelled but sent no ``StepFinished`` (the cancel ends its stream),
        so the step is shown here as its record says, and ``r`` runs it again."""
        self._cancelling = False
        self._cancel_armed_at = None
        target = next((s for s in self.step_ids if self.step_status.get(s) == "running"), None)
        if target is None:
            # Cancelled between two steps: the next one never started.
            target = next((s for s in self.step_ids if self.step_status.get(s) not in PASSABLE), None)
            if target is None:
                return
            title = self.step_titles.get(target, target)
            self.failure = (f"{title}: not started, cancelled by the operator", "press r to run it")
            return
        record = self.run.records.get(target)
        status = record.status if record is not None and record.status not in ("running", "pending") else "cancelled"
        self.step_status[target] = status
        title = self.step_titles.get(target, target)
        message = record.message if record is not None and record.message else f"{title}: cancelled by the operator"
        self.last_message = message
        self.failure = (message, "press r to run it again")
        self.step_updated(target)
        self.on_step_cancelled(target)

    @on(EngineEvent)
    def _route(self, message: EngineEvent) -> None:
        # The engine's events are imported once a step runs (not before Welcome's first frame).
        from iact_tui.engine.events import CheckUpdate, CommandUpdate, OutputLine, Progress, StepFinished, StepStarted

        message.stop()
        event = message.event
        if isinstance(event, StepStarted):
            self.step_status[event.step_id] = "running"
            self.step_titles[event.step_id] = event.title
            self.step_updated(event.step_id)
            self.on_step_started(event)
        elif isinstance(event, OutputLine):
            self.on_output(event)
        elif isinstance(event, Progress):
            self.on_progress(event)
        elif isinstance(event, CheckUpdate):
            self.on_check(event)
        elif isinstance(event, CommandUpdate):
            self.on_command(event)
        elif isinstance(event, StepFinished):
            self.step_status[event.step_id] = event.status
            self.last_message = event.message
            if event.status not in PASSABLE:
                self.failure = (event.message, event.fix)
            self.step_updated(event.step_id)
            self.on_step_finished(event)
        self.refresh_state()

    # -- hooks (override per screen) ---------------------------------------------------

    def on_step_started(self, event: StepStarted) -> None:
        """A step began."""
        if self.SHOW_LOG:
            self.command_log().append_output(f"{event.title}…", "info")

    def on_output(self, event: OutputLine) -> None:
        """A line of output arrived."""
        if self.SHOW_LOG:
            self.command_log().append_output(self.iact.mask(event.text), event.stream, event.host)

    def on_progress(self, event: Progress) -> None:
        """Progress of the step."""
        from textual.widgets import ProgressBar  # read by the screens that show one

        for bar in self.query(ProgressBar):
            bar.update(total=max(event.total, 1), progress=event.done)

    def on_check(self, event: CheckUpdate) -> None:
        """A check changed state; a failure's whole reason (and fix) also goes to the log,
        since the table's detail column cuts long text."""
        from iact_tui.widgets.check_table import CheckTable
        from iact_tui.widgets.wrapped_check_table import WrappedCheckTable

        for table in self.query("CheckTable, WrappedCheckTable"):
            if isinstance(table, CheckTable | WrappedCheckTable):
                detail = self.iact.mask(self.check_detail(event))
                table.update_check(event.check_id, self.iact.mask(event.label), event.status, detail)
                break
        if event.status == "failed" and self.SHOW_LOG:
            log = self.command_log()
            for i, line in enumerate(self.iact.mask(event.detail).splitlines() or [""]):
                log.append_output(f"✘ {event.label}: {line}" if i == 0 else f"  {line}", "info")

    def on_command(self, event: CommandUpdate) -> None:
        """A deploy command on a host changed state (the deploy screen shows a table)."""

    def check_detail(self, event: CheckUpdate) -> str:
        """The detail column for a check (subclasses add figures)."""
        return event.detail

    def on_step_finished(self, event: StepFinished) -> None:
        """A step ended."""
        if self.SHOW_LOG:
            mark = {"ok": "✔", "skipped": "–"}.get(event.status, "✘")
            self.command_log().append_output(self.iact.mask(f"{mark} {event.message}"), "info")

    def step_updated(self, step_id: str) -> None:
        """A step's status changed (the release screen shows each step in a table)."""

    def on_step_cancelled(self, step_id: str) -> None:
        """``step_id`` was cancelled while it ran (no ``StepFinished`` event comes then)."""
        if self.SHOW_LOG:
            record = self.run.records.get(step_id)
            message = record.message if record is not None and record.message else "cancelled by the operator"
            self.command_log().append_output(self.iact.mask(f"■ {message}"), "info")

    # -- state, bindings ---------------------------------------------------------------

    def local_statuses(self) -> dict[str, str]:
        return dict(self.step_status)

    def is_ready(self) -> bool:
        """Whether the operator may continue: every step of the stage is ok or skipped.

        Not tied to the worker's own state: once the last step has finished, the worker
        has nothing left to do, and an operator pressing enter at once must not be ignored.
        """
        return all(self.step_status.get(s) in PASSABLE for s in self.step_ids)

    def can_retry(self) -> bool:
        """Whether ``r`` retries now (never once the run lock is lost: nothing more is done here)."""
        return self.failure is not None and not self.running and not self.run.lock_lost

    def status_text(self) -> tuple[str, str]:
        """The status pane's markup and its state class."""
        if self.failure is not None and not self.running and self.stopped_by_cancel():
            # Cancelled by the operator: said plainly, not as a failure in red.
            what, fix = self.failure
            text = f"[b]■ {escape(what)}[/b]"
            if fix and not self.run.lock_lost:
                text += f"\n  → {escape(fix)}"
            return text, "-skipped"
        if self.failure is not None:
            what, fix = self.failure
            text = f"[b]✘ {escape(what)}[/b]"
            if fix:
                text += f"\n  → {escape(fix)}"
            if not self.running and not self.run.lock_lost:
                text += "\n  Press [b]r[/b] to retry; everything you entered is kept."
            return text, "-failed"
        if self.running:
            current = next((s for s in self.step_ids if self.step_status.get(s) == "running"), None)
            title = self.step_titles.get(current or "", current or "")
            return f"◌ Running {escape(title)}…" if title else "◌ Starting…", "-running"
        if self.is_ready():
            if all(self.step_status.get(s) == "skipped" for s in self.step_ids):
                return f"– Skipped: {escape(self.last_message)}", "-skipped"
            return f"✔ {escape(self.last_message or 'Done')}", "-ok"
        return "", ""

    def stopped_by_cancel(self) -> bool:
        """Whether the stage stopped because the operator cancelled it (no step failed)."""
        statuses = [self.step_status.get(s) for s in self.step_ids]
        return "cancelled" in statuses and not any(s in ("failed", "interrupted") for s in statuses)

    def refresh_state(self) -> None:
        """Update the status pane, the Continue button, the bindings and the sidebar."""
        if not self.is_mounted:
            return
        text, state = self.status_text()
        pane = self.query_one("#step-status", Static)
        show(pane, self.iact.mask(text))
        pane.set_classes(f"step-status {state}".strip())
        ready = self.is_ready()
        button = self.query_one("#continue", Button)
        button.disabled = not ready
        hint = self.query_one("#actions-hint", Static)
        show(hint, "" if ready or self.running else self.blocked_hint())
        self.refresh_bindings()
        self.refresh_frame()

    def blocked_hint(self) -> str:
        """Why Continue is not available (shown beside it)."""
        return "Press r to retry the failed step." if self.failure and not self.run.lock_lost else ""

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "retry":
            return self.can_retry()
        if action == "continue":
            # Hidden, not dimmed, while Enter would do nothing: a dimmed ``⏎ Continue`` reads
            # as available without colour (the hint beside the button says what is missing).
            return self.is_ready()
        if action == "cancel_step":
            # Only while a step runs; otherwise ctrl+c goes on to Textual's own binding.
            return self.running
        return super().check_action(action, parameters)

    def cancel_note(self) -> str:
        """What still runs after a cancel, for the notice (a deploy's post commands)."""
        return ""

    def action_cancel_step(self) -> None:
        """Cancel the running step, as quitting does, but stay: the first press only says
        what a second one within :attr:`CANCEL_CONFIRM_SECONDS` does. Once cancelled, a
        further press while the step is still stopping (a deploy's post commands) cancels
        again, which stops it at once."""
        if not self.running:
            return
        current = next((s for s in self.step_ids if self.step_status.get(s) == "running"), "")
        title = self.step_titles.get(current, current) or "the running step"
        if self._cancelling:
            self.cancel_running()
            self.notify(
                f"Stopping {title} at once: what it still had to do is skipped (the output says what).",
                title="Cancelled again",
                severity="error",
                timeout=8,
            )
            return
        now = time.monotonic()
        armed = self._cancel_armed_at
        if armed is None or now - armed > self.CANCEL_CONFIRM_SECONDS:
            self._cancel_armed_at = now
            note = self.cancel_note()
            self.notify(
                f"Press c again to stop {title}" + (f" ({note})" if note else "") + ".",
                title="Cancel?",
                severity="warning",
                timeout=self.CANCEL_CONFIRM_SECONDS,
            )
            return
        self._cancel_armed_at = None
        self._cancelling = True
        self.cancel_running()
        note = self.cancel_note()
        self.notify(
            f"Stopping {title}"
            + (f"; {note}" if note else "")
            + ". Press c again to stop at once"
            + ("; that skips them." if note else "."),
            title="Cancelling",
            severity="warning",
            timeout=10,
        )
        self.refresh_state()

    def cancel_running(self) -> None:
        """Cancel the worker running the steps (the quit dialog's way too, through
        :meth:`cancel_and_wait`): the engine stops the step, journals it as cancelled,
        and a deploy runs its post commands and releases its lock first. A second call
        while it is stopping stops it at once."""
        if self._worker is not None:
            self._worker.cancel()

    def action_retry(self) -> None:
        """Run the failed step (and the ones after it) again, with the config re-read
        (the operator may have fixed a command in ``iact-release.toml``)."""
        if not self.can_retry():
            return
        if not self.reload_config():
            return
        self.start_steps()

    def reload_config(self) -> bool:
        """Re-read the config before a retry; a now-invalid file is shown as the failure."""
        try:
            self.run.reload_config()
        except IactError as exc:
            self.failure = (exc.what, exc.fix)
            self.refresh_state()
            return False
        return True

    async def cancel_and_wait(self) -> None:
        """Cancel the running step and wait until it has stopped (its cleanup included)."""
        worker = self._worker
        if worker is None:
            return
        self.cancel_running()
        with contextlib.suppress(Exception):
            await worker.wait()

    def action_continue(self) -> None:
        """Go on when every step is ok or skipped."""
        if self.is_ready():
            self.go_next()

    @on(Button.Pressed, "#continue")
    def _continue_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.action_continue()

    def describe(self) -> dict[str, Any]:
        """The screen's state, for tests and the command palette."""
        return {"steps": dict(self.step_status), "failure": self.failure, "ready": self.is_ready()}
