"""IactApp: the wizard's Textual app: stage order, bindings, commands, styles.

:func:`make_app` is the factory of the Pilot and snapshot tests: it builds the
:class:`~iact_tui.engine.run.ReleaseRun` first. :func:`make_lazy_app` is the CLI's: the
Welcome screen is up and takes keys at once, while a thread worker reads the config,
imports the engine and builds the run (taking the run lock); Welcome fills in then
(see :meth:`IactApp.load_run`). The app holds the run; screens drive it.
"""

from __future__ import annotations

import asyncio
import gc
import importlib
import os
import re
import signal
import threading
from collections.abc import Callable, Iterable
from pathlib import Path, PurePath
from typing import TYPE_CHECKING, Any, ClassVar, TypeAlias

from textual import events, work
from textual.app import App, SystemCommand
from textual.binding import Binding, BindingType
from textual.css.types import CSSLocation
from textual.screen import Screen
from textual.widget import Widget
from textual.worker import Worker, WorkerState

from iact_tui.errors import IactError

# Only what the Welcome screen needs is imported here (startup time): the other screens,
# the monitor and the run class are imported where they are first used.
from iact_tui.screens.base import PASSABLE, StepScreen, WizardScreen
from iact_tui.screens.stages import make_stage_screen, next_stage, resume_stage

if TYPE_CHECKING:
    from iact_tui.config import Config
    from iact_tui.engine.hotfix import HotfixRun
    from iact_tui.engine.monitor import MonitorSession
    from iact_tui.engine.resume import UnfinishedRun
    from iact_tui.engine.rollback import RollbackRun
    from iact_tui.engine.run import ReleaseRun

#: A flow started from the Welcome screen beside the release (see :meth:`IactApp.other_flow_lines`).
OtherRun: TypeAlias = "HotfixRun | RollbackRun | MonitorSession"

_DATE = re.compile(r"\b\d{4}-\d{2}-\d{2}\b")
_TIME = re.compile(r"\b\d{2}:\d{2}(:\d{2})?\b")

#: Style sheets, in cascade order: globals, widgets, then one per screen.
STYLE_FILES: tuple[str, ...] = (
    "base.tcss",
    "widgets.tcss",
    "welcome.tcss",
    "steps.tcss",
    "plan.tcss",
    "version.tcss",
    "checklist.tcss",
    "changelog.tcss",
    "release.tcss",
    "deploy.tcss",
    "smoke.tcss",
    "prep.tcss",
    "verify.tcss",
    "announcement.tcss",
    "monitor.tcss",
    "rollback.tcss",
    "hotfix.tcss",
)


#: Modules the app may need after Welcome, imported in a background thread
#: :data:`PRELOAD_DELAY` seconds after it is shown (see :func:`start_preload`).
PRELOAD_MODULES: tuple[str, ...] = (
    "iact_tui.screens.version",
    "iact_tui.screens.checklist",
    "iact_tui.screens.changelog",
    "iact_tui.screens.release",
    "iact_tui.screens.deploy",
    "iact_tui.screens.smoke",
    "iact_tui.screens.prep",
    "iact_tui.screens.verify",
    "iact_tui.screens.announcement",
    "iact_tui.screens.flow",
    "iact_tui.screens.monitor",
    "iact_tui.screens.hotfix",
    "iact_tui.screens.rollback",
    "iact_tui.screens.plan",
    "iact_tui.widgets.confirm",
    "iact_tui.engine.monitor",
    "iact_tui.engine.resume",
    # httpx imports its transport on the first request: the smoke checks' first request
    # imported these on the event loop (a stall of 20-30 ms).
    "httpcore",
    "httpcore._backends.anyio",
    "h11",
    "anyio._backends._asyncio",
    "anyio.streams.tls",
)

#: The widgets (of :mod:`iact_tui.widgets`) whose default CSS is parsed while Welcome
#: waits (:meth:`IactApp._prewarm_css`).
PREWARM_WIDGETS: tuple[str, ...] = (
    "CheckTable",
    "DeployTable",
    "CommandLog",
    "VerifyTicks",
    "WrappedCheckTable",
    "MarkdownPreview",
    "TimingPanel",
    "LogMatchesPanel",
    "TickBox",
)

#: Seconds after mount before the preload starts (the first screen renders undisturbed).
PRELOAD_DELAY = 0.3


def _preload() -> None:
    for name in PRELOAD_MODULES:
        try:
            importlib.import_module(name)
        except Exception:  # only a head start: the import on first use raises it again
            return
    gc.freeze()  # the new modules leave the collector's generations too (see on_mount)


def start_preload() -> None:
    """Import :data:`PRELOAD_MODULES` in a daemon thread, so that pushing a screen later
    does not import its module on the event loop. An import that fails is left to the
    import on first use, which raises it where it is handled."""
    threading.Thread(target=_preload, name="iact-preload", daemon=True).start()


#: The style sheets Welcome needs (it, the frame, the footer; the quit dialog's are in its
#: DEFAULT_CSS): the CLI's app parses only these before its first frame, the others once
#: the run is loaded (:meth:`IactApp._adopt`; parsing all of them cost 15-30 ms before
#: Welcome). The stage screens' shared rules (steps.tcss) and the plan dialog's
#: (plan.tcss, opened once the run is loaded) are left out too.
FIRST_STYLE_FILES: tuple[str, ...] = STYLE_FILES[:3]


def _css_paths(names: tuple[str, ...] = STYLE_FILES) -> list[str | PurePath]:
    # The package's folder (importlib.resources.files would import zipfile and its readers
    # before the first frame, ~3 ms; the styles are files on disk in every install).
    from iact_tui import styles

    folder = Path(styles.__file__).parent
    return [folder / name for name in names]


class Backdrop(Screen[None]):
    """The wizard's bottom screen (Textual's default screen), always under Welcome.

    Nothing is shown on it: Welcome is pushed over it in :meth:`IactApp.on_mount`, before
    the first frame, and is never popped. So it composes nothing: Textual's default screen
    holds a toast rack and a tooltip, which were composed, mounted, styled and laid out
    again on its resume and its first resize before Welcome's first frame (2-3 ms of
    startup). The toasts and tooltips are shown on the screens above it, which have their own.
    """

    def _extend_compose(self, widgets: list[Widget]) -> None:
        """No toast rack and no tooltip (Textual inserts them in ``widgets``)."""

    def _get_default_css(self) -> list[tuple[CSSLocation, str, int, str]]:
        """No default CSS of its own (nothing of it is shown): Screen's and Widget's come
        with Welcome, which is registered next. Read here first, each was parsed twice
        (the deeper Welcome gives them another tie-breaker, and Textual parses a source
        again when that changes), ~1 ms before the first frame."""
        return []


class IactApp(App[None]):
    """The release wizard.

    Args:
        run: The release run the screens drive (kept as :attr:`release_run`;
            ``App.run`` is Textual's own method); ``None`` with ``load``.
        load: Reads the config (in a thread, after Welcome is shown); the app then builds
            the run itself (:meth:`load_run`). Raises ``ConfigError``/``OSError`` for a bad
            config: the app exits with it in :attr:`load_error`.
        state_dir: Where the loaded run is kept (``None``: the user state dir); only with ``load``.
        source: The config file's name, for Welcome's "Reading …" line while loading.
        snapshot_mode: Deterministic rendering for snapshot tests: no cursor blink, and
            paths outside the repository masked (tmp dirs and run ids change every run).

    Raises:
        ValueError: Neither ``run`` nor ``load`` was given.
    """

    TITLE = "iact-tui"
    CSS_PATH = _css_paths()
    # Below 100 columns the step list gives its width to the work ("Step N of 10" stays).
    HORIZONTAL_BREAKPOINTS = [(0, "-narrow"), (100, "-wide")]

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("q", "quit", "Quit"),
        Binding("ctrl+q", "quit", "Quit", show=False, priority=True),
    ]

    def __init__(
        self,
        run: ReleaseRun | None = None,
        *,
        load: Callable[[], Config] | None = None,
        state_dir: Path | None = None,
        source: str = "iact-release.toml",
        snapshot_mode: bool = False,
    ) -> None:
        if run is None and load is None:
            raise ValueError("IactApp needs a run or a load")
        super().__init__(css_path=None if run is not None else _css_paths(FIRST_STYLE_FILES))
        self._release_run = run
        self._load = load
        self._state_dir = state_dir
        #: The config file's name, for Welcome's "Reading …" line while loading.
        self.config_name = source
        #: The config (``None`` until the load has read it; kept for a retry after a held lock).
        self.config: Config | None = run.config if run is not None else None
        #: Why the load failed (``ConfigError``, ``RunLockHeld``, ``OSError``...); the app
        #: exits with it set and the CLI reports it once the terminal is back.
        self.load_error: BaseException | None = None
        #: The run the load thread built (adopted on the event loop by :meth:`_adopt`).
        self._built: ReleaseRun | None = None
        #: The load thread's stage: ``waiting`` (not started), ``loading``, ``done``;
        #: :meth:`wait_for_load` turns ``waiting`` into ``done`` so a late thread does nothing.
        self._load_stage = "waiting" if run is None else "done"
        self._load_lock = threading.Lock()
        self._load_done = threading.Event()
        #: Set when the operator quit before the load finished: the thread builds no run.
        self._quit_early = False
        self.snapshot_mode = snapshot_mode
        self.blink = not snapshot_mode
        self._finished = False
        #: ``"SIGHUP"``/``"SIGTERM"`` when a signal stopped the app (see :meth:`stop_on_signal`).
        self.stopped_by = ""
        #: The hotfix, rollback and monitor runs started from Welcome, in order (the exit
        #: summary says what each did).
        self.other_runs: list[OtherRun] = []
        self.sub_title = self.display_path(run.config.root) if run is not None else ""
        #: True once the operator resumed an unfinished run (:meth:`resume_release`).
        self.resumed = False
        #: Step id → the output lines its interrupted attempt journaled (``stream``, ``text``, ``host``).
        self.resumed_output: dict[str, list[dict[str, str]]] = {}
        #: A resume was started (see :meth:`resume_release`).
        self._resuming = False
        #: Step id → check id → its last journaled ``check`` record (see ``Replayed.checks``).
        self.resumed_checks: dict[str, dict[str, dict[str, Any]]] = {}
        #: On a resumed run: step id → ``host#index`` → its deploy command's last record,
        #: for the deploy screens' commands tables.
        self.resumed_commands: dict[str, dict[str, dict[str, Any]]] = {}

    async def _on_resize(self, event: events.Resize) -> None:
        # Runs before App._on_resize (Textual calls each class's handler in MRO order).
        # The terminal's size again, once every screen has been sent it (no resize
        # pending): App._on_resize would keep the event and send it to the screen when
        # the app is next idle, which laid out and painted the whole screen again at the
        # same size (6-10 ms just after Welcome's first frame: the driver reports the size
        # twice at start). A size that changed goes to Textual as usual.
        if self._size == event.size and self._resize_timer is None and self._resize_event is None:
            event.stop()
            event.prevent_default()

    @property
    def release_run(self) -> ReleaseRun:
        """The release run the screens drive.

        Raises:
            RuntimeError: The load has not built it yet (see :attr:`loaded`).
        """
        if self._release_run is None:
            raise RuntimeError("the release run is still loading (IactApp.loaded is False)")
        return self._release_run

    @release_run.setter
    def release_run(self, run: ReleaseRun) -> None:
        self._release_run = run

    @property
    def loaded(self) -> bool:
        """Whether the release run is there (always with :func:`make_app`; after the load
        with :func:`make_lazy_app`)."""
        return self._release_run is not None

    def get_default_screen(self) -> Screen[None]:
        """The screen under Welcome: a :class:`Backdrop`, never shown.

        Asked for as the app starts: from then until Welcome's first frame
        (:meth:`first_frame_drawn`) the garbage collector does not run. The app builds
        thousands of objects for that frame (widgets, styles, strips), which set off some
        30 young collections and a middle one (2-4 ms of startup), and frees few of them.
        """
        gc.disable()
        return Backdrop(id="_default")

    def first_frame_drawn(self) -> None:
        """Called by Welcome once its first frame is on the screen: the collector runs
        again (see :meth:`get_default_screen`); the CLI's app starts its load
        (:meth:`load_run`)."""
        # What the first frame built lives as long as Welcome: it leaves the collector's
        # generations rather than be walked by the first collection (~1 ms, just after
        # the frame, when the first key is handled).
        gc.freeze()
        gc.enable()
        if not self.loaded:
            self.load_run()

    def on_unmount(self) -> None:
        gc.enable()  # the app ended before Welcome's first frame

    def on_mount(self) -> None:
        from iact_tui import signals

        # The terminal closed, the SSH session dropped, or `kill`: stop as a confirmed
        # quit does, so a deploy does not die with the site in maintenance mode.
        signals.install(self.stop_on_signal)
        self.push_screen(make_stage_screen("welcome"))
        if self.loaded:
            # The other screens load in a thread once Welcome is up: imported on the event
            # loop when first pushed they paused the UI for 50-150 ms (a Markdown parser,
            # the monitor). With a load, they follow it (see _adopt).
            self.set_timer(PRELOAD_DELAY, start_preload)
            self.call_after_refresh(self._prewarm_css)
        # Else Welcome starts the load once it has painted (WelcomeScreen.on_mount): its
        # first frame is drawn before the load competes with it for the GIL.

        # The app's long-lived objects (widgets, styles, the config) leave the collector's
        # generations: full collections over them paused the UI for 50-200 ms while a
        # deploy streamed output (benchmarks/deploy_stream.py --gc-freeze measured it).
        gc.freeze()

    # -- loading (make_lazy_app) ---------------------------------------------------------

    @work(thread=True, exclusive=True, group="load", exit_on_error=False)
    def load_run(self) -> None:
        """Read the config, import the engine and build the :class:`ReleaseRun` (which
        takes the repository's run lock), in a thread: file work and ~0.5 s of imports
        that kept the first screen waiting. Welcome fills in when it is done
        (:meth:`_adopt`); a failure ends the app with :attr:`load_error` set.

        Raises:
            ConfigError: The config is missing or invalid (from ``load``).
            RunLockHeld: Another run holds the repository's run lock.
            OSError: A file could not be read or written.
        """
        with self._load_lock:
            if self._load_stage != "waiting":
                return  # the app has already ended (wait_for_load ran)
            self._load_stage = "loading"
        try:
            if self.config is None:
                assert self._load is not None
                self.config = self._load()
            if self._quit_early:
                return  # the operator quit while the config was read: no run to start
            from iact_tui.engine.run import ReleaseRun

            self._built = ReleaseRun(self.config, state_dir=self._state_dir)
        finally:
            self._load_stage = "done"
            self._load_done.set()

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        """The load's end: adopt the run, or exit with the error for the CLI to report.
        Another of the app's workers (resume, new release, quit) that fails unexpectedly
        is said on the screen, never silently dropped: what failed and what to do."""
        if event.worker.node is not self:
            return
        if event.worker.group != "load":
            if event.state == WorkerState.ERROR:
                error = event.worker.error
                self.notify(
                    f"{event.worker.name.strip('_').replace('_', ' ')} failed: {type(error).__name__}: {error}. "
                    "Every input is in the run's journal; quit (q) and start iact-tui again to resume.",
                    title="Unexpected error",
                    severity="error",
                    timeout=30,
                    markup=False,  # an exception's text may hold [brackets]
                )
            return
        if event.state == WorkerState.SUCCESS:
            self._adopt()
        elif event.state == WorkerState.ERROR:
            self.load_error = event.worker.error
            self.exit()

    def _adopt(self) -> None:
        run = self._built
        if run is None or self._quit_early:
            return  # quit while loading: wait_for_load finishes the run
        self._release_run = run
        self.sub_title = self.display_path(run.config.root)
        # The other screens' style sheets, left out before the first frame (FIRST_STYLE_FILES).
        for path in _css_paths(STYLE_FILES[len(FIRST_STYLE_FILES) :]):
            self.stylesheet.read(path)
        self.stylesheet.parse()
        from iact_tui.screens.welcome import WelcomeScreen

        for screen in self.screen_stack:
            if isinstance(screen, WelcomeScreen):
                screen.show_run()
        start_preload()  # also freezes what the load and the preload made (gc.freeze)
        self.call_after_refresh(self._prewarm_css)

    def _prewarm_css(self) -> None:
        """Add the default CSS of the widgets the stage screens mount, and parse it, while
        Welcome waits for the operator: Textual adds a widget class's ``DEFAULT_CSS`` when
        its first instance mounts, then parses it and rebuilds the rule map, on the screen
        switch that mounts it (a third of the checklist's first frame: the switch held the
        UI loop 40-60 ms). The rules are the same whenever they are added (each source
        keeps its own tie-breaker and scope)."""
        from textual.widgets import Button, DataTable, Input, Label, Log, Select, TextArea

        from iact_tui import widgets as w

        classes: list[type[Widget]] = [Button, DataTable, Input, Label, Log, Select, TextArea]
        for name in PREWARM_WIDGETS:
            found = getattr(w, name, None)
            if isinstance(found, type) and issubclass(found, Widget):
                classes.append(found)
        sheet = self.stylesheet
        for cls in classes:
            for read_from, css, tie_breaker, scope in cls.__new__(cls)._get_default_css():
                sheet.add_source(css, read_from=read_from, is_default_css=True, tie_breaker=tie_breaker, scope=scope)
        sheet.parse()
        _ = sheet.rules_map

    def wait_for_load(self) -> ReleaseRun | None:
        """After ``App.run`` returned: wait for the load thread, and finish a run it built
        that the app never drove (the operator quit while loading: its lock is released
        and its empty folder removed).

        Returns:
            The release run the wizard drove; ``None`` when none was built (quit while
            loading, or the load failed: see :attr:`load_error`).
        """
        with self._load_lock:
            loading = self._load_stage == "loading"
            self._load_stage = "done"
        if loading:
            self._load_done.wait()
        built = self._built
        if built is not None and self._release_run is None:
            built.finish()
            from iact_tui.engine.resume import discard_if_empty

            discard_if_empty(built.run_dir)
        return self._release_run

    # -- navigation --------------------------------------------------------------------

    def advance(self, stage: str) -> None:
        """Show the stage after ``stage`` (the stack keeps earlier stages for Back)."""
        following = next_stage(stage)
        if following is None:
            self.finish_and_exit()
            return
        self.push_screen(make_stage_screen(following))

    async def find_unfinished(self) -> UnfinishedRun | None:
        """The newest unfinished release run of this repository (not this one), read in a thread."""
        from iact_tui.engine import resume

        run = self.release_run
        state_dir = run.run_dir.parent.parent
        return await asyncio.to_thread(
            resume.find_unfinished, run.config, state_dir, skip=run.journal_path, flows=resume.FLOWS
        )

    def resume_release(self, unfinished: UnfinishedRun) -> None:
        """Drive ``unfinished`` instead of the fresh run: rebuilt from its journal (which it
        goes on writing), then open the stage of the first step not ok, every input in
        place. The fresh run's folder is removed when it holds nothing but its start.

        Once only: a second Enter on the offer while the first resume works is ignored
        (the worker group is exclusive, so it cancelled the first midway, after it had
        journaled ``run_resumed``, and resumed again)."""
        if self._resuming:
            return
        self._resuming = True
        if unfinished.flow == "release":
            self._resume_worker(unfinished)
        else:
            self._resume_flow_worker(unfinished)

    @work(exclusive=True, group="resume", exit_on_error=False)
    async def _resume_flow_worker(self, unfinished: UnfinishedRun) -> None:
        """Resume a hotfix or a rollback (:func:`~iact_tui.engine.resume.resume_flow`) on
        its screen, beside this app's release run; ``esc`` comes back to Welcome."""
        from iact_tui.engine import resume
        from iact_tui.engine.hotfix import HotfixRun
        from iact_tui.engine.rollback import RollbackRun
        from iact_tui.screens.hotfix import HotfixScreen
        from iact_tui.screens.rollback import RollbackScreen

        try:
            run, replayed = await resume.resume_flow(self.release_run.config, unfinished)
        except (IactError, OSError) as exc:
            self.notify(str(exc), title="Cannot resume", severity="error", markup=False)
            return
        finally:
            self._resuming = False
        self._offer_no_more(unfinished)
        if isinstance(run, HotfixRun):
            self.other_runs.append(run)
            self.push_screen(HotfixScreen(run, blink=self.blink, exit_on_leave=False, resumed=replayed))
        elif isinstance(run, RollbackRun):
            self.other_runs.append(run)
            self.push_screen(RollbackScreen(run, blink=self.blink, exit_on_leave=False, resumed=replayed))

    @work(exclusive=True, group="resume", exit_on_error=False)
    async def _resume_worker(self, unfinished: UnfinishedRun) -> None:
        from iact_tui.engine import resume

        try:
            run, replayed = await resume.resume_release(self.release_run.config, unfinished)
        except (IactError, OSError) as exc:
            self.notify(str(exc), title="Cannot resume", severity="error", markup=False)
            return
        finally:
            self._resuming = False  # the offer may be chosen again (after a failure) ...
        self._resuming = True  # ... but not once it worked
        fresh, self.release_run = self.release_run, run
        self.resumed, self.resumed_output = True, replayed.output
        self.resumed_checks = replayed.checks
        self.resumed_commands = replayed.commands
        fresh.journal.close()
        await asyncio.to_thread(resume.discard_if_empty, fresh.run_dir, run.journal)  # its lock records go to run
        # A step that passed but whose gate is not met (verification without its ticks)
        # counts as not done: its stage opens, not one that would refuse.
        self.push_screen(make_stage_screen(resume_stage(resume.gate_statuses(run))))

    @work(exclusive=True, group="resume", exit_on_error=False)
    async def start_new_release(self, unfinished: UnfinishedRun | None, then: str = "release") -> None:
        """Start a new release (or, ``then``, a new ``hotfix`` or ``rollback``) over
        ``unfinished`` (offered on Welcome), which is then journaled ``run_abandoned``:
        never offered or resumed again.

        When ``unfinished`` changed anything (a release: a step past preflight ran; a
        hotfix or a rollback is offered only then), the operator is asked first, with
        what it did, and types its version
        (:class:`~iact_tui.screens.leave_unfinished.LeaveUnfinishedModal`); Cancel
        leaves everything as it was. Once abandoned, Welcome no longer offers it."""
        if unfinished is not None:
            from iact_tui.engine import resume

            try:
                did = await asyncio.to_thread(left_unfinished, self.release_run, unfinished)
            except OSError as exc:
                self.notify(f"{unfinished.journal}: {exc.strerror or exc}", title="Cannot read it", severity="error")
                return
            if did is not None:
                from iact_tui.screens.leave_unfinished import LeaveUnfinishedModal

                modal = LeaveUnfinishedModal(
                    unfinished.tag, unfinished.version, did, blink=self.blink, subject=unfinished.subject, then=then
                )
                if not await self.push_screen_wait(modal):
                    return
            await asyncio.to_thread(resume.abandon, unfinished, f"the operator started a new {then}")
            self._offer_no_more(unfinished)
        if then == "hotfix":
            self.start_hotfix()
        elif then == "rollback":
            self.start_rollback()
        else:
            self.advance("welcome")

    def _offer_no_more(self, unfinished: UnfinishedRun) -> None:
        """Take the abandoned ``unfinished`` off Welcome's options (Back leads there)."""
        from textual.widgets import OptionList

        from iact_tui.screens.welcome import WelcomeScreen

        for screen in self.screen_stack:
            if isinstance(screen, WelcomeScreen) and screen.unfinished is unfinished:
                screen.unfinished = None
                choice = screen.query_one("#flow-choice", OptionList)
                if any(choice.get_option_at_index(i).id == "resume" for i in range(choice.option_count)):
                    choice.remove_option("resume")
                    main = screen.run.config.project.main_branch
                    choice.replace_option_prompt("release", screen._choice_prompt("release", main))
                    choice.highlighted = 0

    def start_rollback(self, env: str = "production") -> None:
        """Open the rollback screen on ``env`` (its own run and journal, beside this run's);
        ``esc`` comes back here. A missing environment is a notification."""
        from iact_tui.engine.rollback import RollbackRun
        from iact_tui.screens.rollback import RollbackScreen

        try:
            run = RollbackRun(self.release_run.config, state_dir=self.release_run.run_dir.parent.parent, env=env)
        except IactError as exc:
            self.notify(str(exc), title="Cannot roll back", severity="error")
            return
        self.other_runs.append(run)
        self.push_screen(RollbackScreen(run, blink=self.blink, exit_on_leave=False))

    def start_hotfix(self) -> None:
        """Open the hotfix screen on production (its own run and journal, beside this run's);
        ``esc`` comes back here. A missing production environment is a notification."""
        from iact_tui.engine.hotfix import HotfixRun
        from iact_tui.screens.hotfix import HotfixScreen

        try:
            run = HotfixRun(self.release_run.config, state_dir=self.release_run.run_dir.parent.parent)
        except IactError as exc:
            self.notify(str(exc), title="Cannot make a hotfix", severity="error")
            return
        self.other_runs.append(run)
        self.push_screen(HotfixScreen(run, blink=self.blink, exit_on_leave=False))

    def start_monitor(self, env: str = "production") -> None:
        """Open the monitor on ``env`` (its summary, if saved, goes to this run's journal);
        ``esc`` comes back here."""
        from iact_tui.engine.monitor import MonitorSession
        from iact_tui.screens.monitor import MonitorScreen

        try:
            session = MonitorSession(self.release_run.config, env, journal=self.release_run.journal)
        except IactError as exc:
            self.notify(str(exc), title="Cannot monitor", severity="error")
            return
        self.other_runs.append(session)
        self.push_screen(MonitorScreen(session))

    def display_path(self, path: Path) -> str:
        """A path for the screen: ``~`` for home; in snapshot mode, masked to be stable."""
        if self.snapshot_mode and self.config is not None:
            root = self.config.root
            try:
                rel = path.resolve().relative_to(root)
            except ValueError:
                return f"…/{path.name}"
            return "<repo>" if str(rel) == "." else f"<repo>/{rel}"
        home = Path.home()
        try:
            return f"~/{path.resolve().relative_to(home)}"
        except ValueError:
            return str(path)

    def mask(self, text: str) -> str:
        """Text for the screen; in snapshot mode, tmp paths and clock readings are masked.

        Engine messages carry absolute paths (the repo, the run's folder) and times;
        snapshots must not depend on where or when the test ran.
        """
        if not self.snapshot_mode:
            return text
        run = self.release_run
        for path, name in ((run.run_dir, "<run>"), (run.config.root, "<repo>")):
            text = text.replace(str(path.resolve()), name).replace(str(path), name)
        text = _DATE.sub("YYYY-MM-DD", text)
        return _TIME.sub("HH:MM", text)

    # -- quitting ----------------------------------------------------------------------

    def running_screen(self) -> StepScreen | None:
        """The step screen whose step is running, if any."""
        for screen in self.screen_stack:
            if isinstance(screen, StepScreen) and screen.running:
                return screen
        return None

    async def action_quit(self) -> None:
        """Quit; asks first when a step is running (quitting cancels it) or when the
        release has changed things and is not finished (see :func:`unfinished_release`)."""
        from iact_tui.widgets.confirm import QuitModal  # not before the first frame (preloaded after it)

        if isinstance(self.screen, QuitModal):
            return  # already asking: a second q must not stack another dialog
        if not self.loaded:
            self._quit_early = True  # nothing started yet: quit at once (wait_for_load tidies up)
            self.exit()
            return
        from iact_tui.screens.flow import FlowScreen

        if isinstance(self.screen, FlowScreen) and not self.screen.exit_on_leave:
            # A hotfix or rollback opened from Welcome: leave it as esc does (it asks when
            # it is half done, and the hotfix checks the operator's branch out again).
            self.screen.action_leave()
            self.notify("q again on the Welcome screen quits iact-tui.", title="Quit", timeout=4)
            return
        busy = self.running_screen()
        if busy is None:
            unfinished = unfinished_release(self.release_run)
            if unfinished is None:
                await self.quit_now()
                return
            done, not_done = unfinished

            def confirmed(leave: bool | None) -> None:
                if leave:
                    self.run_worker(self.quit_now(), group="quit", exit_on_error=False)

            self.push_screen(QuitModal(done=done, not_done=not_done), confirmed)
            return
        step = next((s for s in busy.step_ids if busy.step_status.get(s) == "running"), busy.step_ids[0])
        busy.hold.clear()  # the running step finishes; no next step starts while the dialog is open

        def answered(leave: bool | None) -> None:
            if leave:
                self.stop_then_exit(busy)
            else:
                busy.hold.set()

        self.push_screen(
            QuitModal(busy.step_titles.get(step, step), still_running=lambda: busy.step_status.get(step) == "running"),
            answered,
        )

    def stop_on_signal(self, name: str) -> None:
        """SIGHUP or SIGTERM (see :mod:`iact_tui.signals`): quit without asking, as a
        confirmed quit does: the running step is cancelled (a deploy runs its post
        commands and releases its lock), then the run's end is journaled and the app
        exits. Nobody is there to answer a dialog.

        Args:
            name: The signal's name, ``"SIGHUP"`` or ``"SIGTERM"`` (kept in :attr:`stopped_by`).
        """
        self.stopped_by = name
        if name == "SIGHUP":
            self._mute_terminal()
        if not self.loaded:
            self._quit_early = True
            self.exit()
            return
        busy = self.running_screen()
        if busy is not None:
            busy.hold.clear()  # no next step starts
            self.stop_then_exit(busy)
        else:
            self.run_worker(self.quit_now(), group="quit", exit_on_error=False)

    def _mute_terminal(self) -> None:
        """The terminal hung up: draw nothing more. Textual's output thread dies on the
        first write that fails (EIO) and its bounded queue then fills up, after which the
        next frame blocked the event loop for good (found by a trial: iact-tui hung after
        its post commands, holding the run lock, deaf to SIGTERM)."""
        driver = self._driver
        if driver is not None:
            setattr(driver, "write", lambda data: None)  # noqa: B010 - an instance's bound method replaced

    async def quit_now(self) -> None:
        """Stop the monitors, journal the end of the run and exit."""
        await stop_monitors(self)
        self.finish_and_exit()

    @work(exclusive=True, group="quit", exit_on_error=False)
    async def stop_then_exit(self, screen: StepScreen) -> None:
        """Cancel the running step, wait until it has stopped (a deploy runs its post
        commands first), then journal the end of the run and exit."""
        self.notify("Stopping the running step…", title="Quitting", timeout=30)
        await screen.cancel_and_wait()
        await stop_monitors(self)
        self.finish_and_exit()

    def finish_and_exit(self) -> None:
        """Journal the end of the run (and of a hotfix or rollback whose screen is still
        open: leaving it journals its end otherwise) and exit."""
        if not self._finished:
            self._finished = True
            self.release_run.finish()
            from iact_tui.engine.resume import discard_if_empty

            # A wizard opened and quit (no version, no step): no empty run in history.
            discard_if_empty(self.release_run.run_dir)
            from iact_tui.screens.flow import FlowScreen

            for screen in self.screen_stack:
                if isinstance(screen, FlowScreen):
                    screen.run.finish()
        if self.stopped_by == "SIGHUP" and not self.is_headless:
            # Restoring a terminal that is gone can block in Textual's output thread
            # (see _mute_terminal): the run's end is on disk, so leave at once.
            self.release_run.journal.close()
            from iact_tui.signals import run_hangup_cleanups

            run_hangup_cleanups()  # e.g. the demo's servers (cli._cmd_demo_wizard)
            os._exit(128 + signal.SIGHUP)
        self.exit()

    def other_flow_lines(self) -> list[str]:
        """What each flow started from Welcome did, for the exit summary: its first line
        (``Hotfix v1.4.1: deployed to production and backported (journal …)``, ``Rollback
        of production to v1.4.0: recorded (journal …)``, ``Monitor of production: 5 min
        monitored, …``), then its details indented."""
        from iact_tui.engine.monitor import MonitorSession

        lines: list[str] = []
        for run in self.other_runs:
            if isinstance(run, MonitorSession):
                first = run.summary_lines()[0].removeprefix(f"{run.env}: ")
                lines.append(f"Monitor of {run.env}: {first}")
                continue
            head, *details = run.summary_lines()
            lines.append(f"{head} (journal {run.journal_path})")
            lines += [f"  {line}" for line in details]
        return lines

    # -- command palette ---------------------------------------------------------------

    def get_system_commands(self, screen: Screen[object]) -> Iterable[SystemCommand]:
        yield from super().get_system_commands(screen)
        if isinstance(screen, StepScreen):
            if screen.can_retry():
                yield SystemCommand("Retry step", "Run the failed step again (r)", screen.action_retry)
            if screen.is_ready():
                yield SystemCommand("Continue", "Go on to the next stage (enter)", screen.action_continue)
        if isinstance(screen, WizardScreen) and screen.can_go_back():
            yield SystemCommand("Back", "Go back to the previous stage (escape)", screen.action_back)
        from iact_tui.screens.changelog import ChangelogScreen  # the palette opened: no startup cost

        if isinstance(screen, ChangelogScreen):
            yield SystemCommand(
                "Toggle preview", "Show or hide the Markdown preview (f2)", screen.action_toggle_preview
            )
        if self.loaded:
            yield SystemCommand("Show journal path", "Where this run's journal is written", self._show_journal)

    def _show_journal(self) -> None:
        self.notify(self.display_path(self.release_run.journal_path), title="Run journal")


def make_app(
    config: Config,
    *,
    state_dir: Path | None = None,
    run: ReleaseRun | None = None,
    snapshot_mode: bool = False,
) -> IactApp:
    """Build the app for the CLI and the tests.

    Args:
        config: The validated config.
        state_dir: Where runs are kept (``None``: the user state dir); ignored with ``run``.
        run: An existing run to drive; a new :class:`ReleaseRun` by default.
        snapshot_mode: Deterministic rendering for snapshot tests.
    """
    if run is None:
        from iact_tui.engine.run import ReleaseRun

        run = ReleaseRun(config, state_dir=state_dir)
    return IactApp(run, snapshot_mode=snapshot_mode)


def make_lazy_app(
    load: Callable[[], Config],
    *,
    state_dir: Path | None = None,
    source: str = "iact-release.toml",
    snapshot_mode: bool = False,
) -> IactApp:
    """Build the app for the CLI: Welcome first, the config and the run after.

    Welcome is drawn and takes keys at once; ``load`` runs in a thread worker after its
    first frame, then the :class:`ReleaseRun` is built there (see :meth:`IactApp.load_run`).
    After ``App.run``, call :meth:`IactApp.wait_for_load`, then look at
    :attr:`IactApp.load_error`.

    Args:
        load: Reads and validates the config; raises ``ConfigError`` or ``OSError``.
        state_dir: Where runs are kept (``None``: the user state dir).
        source: The config file's name, shown while it is read.
        snapshot_mode: Deterministic rendering for snapshot tests.
    """
    app = IactApp(load=load, state_dir=state_dir, source=source, snapshot_mode=snapshot_mode)
    # What is imported so far (Textual, the first screen's modules) lives as long as the
    # process: it leaves the collector's generations now, so the collections before the
    # first frame walk only what the app builds (one of 1-3 ms was; the app freezes its
    # own objects in on_mount).
    gc.freeze()
    return app


def _and(parts: list[str]) -> str:
    return parts[0] if len(parts) == 1 else f"{', '.join(parts[:-1])} and {parts[-1]}"


def left_unfinished(run: ReleaseRun, unfinished: UnfinishedRun) -> str | None:
    """What an unfinished release changed, for the question before leaving it for good.
    Blocking (reads its journal).

    Args:
        run: This app's run (for the steps' titles and the tag prefix).
        unfinished: The unfinished release offered on Welcome.

    Returns:
        ``None`` when no step past preflight ran (nothing changed: no question); else
        one sentence, e.g. ``"It is tagged and on staging (Create release branch: ok,
        Tag v1.5.2: ok, Deploy to staging: ok, Deploy to production: failed)."``

    Raises:
        OSError: Its journal cannot be read.
    """
    from iact_tui.engine import resume

    replayed = resume.replay(resume.read_records(unfinished.journal), run.config.project.tag_prefix)
    ran = {sid: r.status for sid, r in replayed.records.items() if sid != "preflight" and r.status != "pending"}
    if unfinished.flow != "release":
        steps = ", ".join(f"{sid}: {status}" for sid, status in ran.items())
        where = f"{unfinished.env} may run {unfinished.tag}" if unfinished.flow == "rollback" else "It has started"
        return f"{where[:1].upper()}{where[1:]} ({steps})."
    if not ran:
        return None
    titles = {s.id: s.title for s in run.steps}
    deployed = [
        sid.removeprefix("deploy-") for sid, status in ran.items() if sid.startswith("deploy-") and status == "ok"
    ]
    phrases = ["tagged"] if ran.get("tag") == "ok" else []
    phrases += [f"on {_and(deployed)}"] if deployed else []
    lead = f"It is {_and(phrases)}" if phrases else "It has started"
    steps = ", ".join(f"{titles.get(sid, sid)}: {status}" for sid, status in ran.items())
    return f"{lead} ({steps})."


def unfinished_release(run: ReleaseRun) -> tuple[str, list[str]] | None:
    """What a half-done release has done and what it has not, for the quit dialog.

    A release has started once any step after the checklist has run
    (:meth:`ReleaseRun.release_started`), and is finished once ``announce`` is ``ok`` or
    ``skipped``; quitting before it started or after it finished needs no question.

    Returns:
        ``None`` when there is nothing to ask; else the sentence saying what is done
        (``"v1.5.3 is tagged and deployed to staging and production."``) and the titles of
        the steps not done, a failed one marked (``["Verify production (failed)", "Announcement"]``).
    """
    records = run.records
    announce = records.get("announce")
    if not run.release_started() or (announce is not None and announce.status in PASSABLE):
        return None
    tag = f"{run.config.project.tag_prefix}{run.state.version}"
    ok = {sid for sid, record in records.items() if record.status == "ok"}
    deployed = [sid.removeprefix("deploy-") for sid in records if sid.startswith("deploy-") and sid in ok]
    phrases = ["tagged"] if "tag" in ok else []
    phrases += [f"deployed to {_and(deployed)}"] if deployed else []
    verified = "verify" in ok and run.verification_complete()
    phrases += ["verified"] if verified else []
    if phrases:
        done = f"{tag} is {_and(phrases)}."
    elif "branch" in ok:
        done = f"The release branch of {tag} is made; {tag} is not tagged yet."
    else:
        done = f"The release of {tag} has started; {tag} is not tagged yet."
    titles = {s.id: s.title for s in run.steps}
    not_done = [
        f"{titles.get(sid, sid)} ({record.status})"
        if record.status in ("failed", "cancelled")
        else titles.get(sid, sid)
        for sid, record in records.items()
        if sid != "preflight"
        and (record.status not in PASSABLE or (sid == "verify" and record.status == "ok" and not verified))
    ]
    return done, not_done


async def stop_monitors(app: App[None]) -> None:
    """Stop every monitor on the screen stack and wait until its tails have ended (on
    every host) and its connections are closed: quitting leaves nothing running."""
    from iact_tui.screens.monitor import MonitorScreen

    for screen in list(app.screen_stack):
        if isinstance(screen, MonitorScreen):
            await screen.stop_monitoring()


class MonitorApp(App[None]):
    """``iact-tui monitor``: the app shows the monitor alone; leaving it exits.

    Args:
        session: The environment to watch.
        snapshot_mode: Deterministic rendering for tests (no cursor blink).
    """

    TITLE = "iact-tui monitor"
    CSS_PATH = _css_paths()

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("ctrl+q", "quit", "Quit", show=False, priority=True),
    ]

    def __init__(self, session: MonitorSession, *, snapshot_mode: bool = False) -> None:
        super().__init__()
        self.session = session
        self.snapshot_mode = snapshot_mode
        self.blink = not snapshot_mode
        self.sub_title = f"{session.env} · {session.config.path}"

    def on_mount(self) -> None:
        from iact_tui.screens.monitor import MonitorScreen

        self.push_screen(MonitorScreen(self.session, exit_on_leave=True))

    def display_path(self, path: Path) -> str:
        """A path for the screen, ``~`` for home."""
        try:
            return f"~/{path.resolve().relative_to(Path.home())}"
        except ValueError:
            return str(path)

    async def action_quit(self) -> None:
        """Stop the monitor (every tail, on every host), then exit."""
        await stop_monitors(self)
        self.exit()


def make_monitor_app(
    config: Config,
    env: str,
    *,
    state_dir: Path | None = None,
    session: MonitorSession | None = None,
    snapshot_mode: bool = False,
) -> MonitorApp:
    """Build the ``iact-tui monitor`` app for the CLI and the tests.

    Args:
        config: The validated config.
        env: The environment to watch.
        state_dir: Where a saved summary's run folder goes (``None``: the user state dir).
        session: A session to use instead of a new one (tests inject hosts).
        snapshot_mode: Deterministic rendering for tests.

    Raises:
        ConfigError: ``env`` is not configured.
    """
    if session is None:
        from iact_tui.engine.monitor import MonitorSession

        session = MonitorSession(config, env, state_dir=state_dir)
    return MonitorApp(session, snapshot_mode=snapshot_mode)
