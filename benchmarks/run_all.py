"""Benchmarks: every speed and memory target of iact-tui, measured against a baseline in the same run.

One command prints one table (benchmark, figure, baseline, ratio, target, met?)::

    .venv/bin/python benchmarks/run_all.py [--quick] [--only startup stalls ...]

1. **startup**: process start to the first screen ready for input (``iact-tui`` in the
   demo sandbox's clone, its servers running) against the floor, a minimal Textual app
   showing one ``Static``. Both are fresh ``python`` processes started the same way, with
   ``App.run`` wrapped to run headless (120x40) with an ``auto_pilot`` that stamps READY
   when (1) the first screen (the app's screen once mounted) has been painted (the first
   ``App._display`` of it: Textual paints a screen once its widgets are composed, mounted
   and laid out) and (2) a key sent at that instant (``tab``, focus next: harmless on
   both) has been handled by the focused widget, the screen and the app's bindings (a
   callback queued behind the key on each of them has run). The time is from just
   before the process is spawned to READY; the key's latency and the instant the screen
   was painted are printed too. Work the app starts after its first frame (the wizard
   reads its config and builds the run in a thread) counts only as far as it delays
   the key. Median of ``--reps`` runs, taken in turns. Target: ≤ 1.3x the floor.
2. **stalls**: the longest lateness of a 5 ms probe (an asyncio task in the app's event
   loop) during a whole Pilot-driven release on a fresh demo sandbox, Welcome to the
   Announcement (git, the tests subprocess, HTTP smoke checks, deploys); max and p99.
   Baseline: the same probe in a bare loop doing nothing. Target: < 50 ms.
3. **preflight**: wall time of the pre-release checklist's step (its checks run
   concurrently) against its slowest check run alone (each check alone through the same
   step; ``coverage`` waits for ``tests`` by design, so it runs with it). Median of
   ``--reps``. Target: ≤ 1.2x.
4. **changelog**: drafting the changelog from 20,000 Conventional Commits since the last
   tag (``GitService.commits_since`` with the changelog path, then
   ``changelog.draft_section_body``, as ``ReleaseRun.draft_changelog`` does) against
   ``git log --format=%s TAG..HEAD`` as a subprocess. The repository is built with
   ``git fast-import``. Median of ``--reps``. Target: ≤ 2x.
5. **log pane**: lines per second into the deploy screen's ``CommandLog`` and the worst
   keypress latency while they stream (``deploy_stream.py``'s fake deploy, a key every
   50 ms), against a plain ``Log`` fed one ``write_line`` per line; RSS after 1,000,000
   lines against after 100,000. Targets: ≥ 100,000 lines/s, keys ≤ 100 ms, RSS ≤ 1.2x.
6. **ssh** (when sshd can run): ``benchmarks/ssh_commands.py``'s headline figures.

Exit status: 0 when every measurement was taken (a missed target is printed as
``MISSED``, not an error); 1 when one could not be taken (its row says why).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
for extra in (HERE, ROOT / "tests" / "screens", ROOT / "tests"):
    if str(extra) not in sys.path:
        sys.path.insert(0, str(extra))

IDENTITY = {
    "GIT_AUTHOR_NAME": "Bench Operator",
    "GIT_AUTHOR_EMAIL": "operator@example.invalid",
    "GIT_COMMITTER_NAME": "Bench Operator",
    "GIT_COMMITTER_EMAIL": "operator@example.invalid",
}


@dataclass
class Row:
    """One line of the table.

    ``met`` is ``None`` for a figure without a target; ``error`` is set when the
    measurement could not be taken (then the other fields may be empty).
    """

    benchmark: str
    figure: str
    baseline: str = ""
    ratio: str = ""
    target: str = ""
    met: bool | None = None
    error: str = ""


@dataclass(frozen=True)
class Sizes:
    """How much each benchmark does; :data:`FULL` by default, :data:`QUICK` with ``--quick``."""

    reps: int
    commits: int
    lines: int
    rss_early: int
    baseline_lines: int


FULL = Sizes(reps=7, commits=20_000, lines=1_000_000, rss_early=100_000, baseline_lines=5_000)
QUICK = Sizes(reps=3, commits=20_000, lines=300_000, rss_early=100_000, baseline_lines=2_000)


def ms(seconds: float) -> str:
    """``seconds`` as milliseconds for the table, e.g. ``"412 ms"``."""
    return f"{seconds * 1000:,.0f} ms"


def times(ratio: float) -> str:
    """A ratio for the table, e.g. ``"1.07x"``."""
    return f"{ratio:.2f}x"


@contextlib.contextmanager
def isolated_env(state: Path) -> Iterator[None]:
    """Journals under ``state`` (``XDG_STATE_HOME``), a git identity, no ``NO_COLOR``; restored after."""
    saved = dict(os.environ)
    os.environ.update(IDENTITY)
    os.environ["XDG_STATE_HOME"] = str(state)
    os.environ.pop("NO_COLOR", None)
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


# -- 1. startup ----------------------------------------------------------------------

READY_HOOK = """\
import asyncio
import sys
import time
from textual import events
from textual.app import App

_run = App.run
_display = App._display
# Screen -> the instant of its first paint (App._display with a compositor update; called
# headless too, where it writes nothing).
FIRST_PAINT = {}
PAINTED = None


def _stamped_display(self, screen, renderable):
    _display(self, screen, renderable)
    if renderable is not None and screen not in FIRST_PAINT:
        FIRST_PAINT[screen] = time.perf_counter()
        if PAINTED is not None and screen is PAINTED[0]:
            PAINTED[1].set()


App._display = _stamped_display


def _ready_run(self, *args, **kwargs):
    sys.__stdout__.write(f"RUN {time.perf_counter()}\\n")

    async def ready(pilot):
        global PAINTED
        app = pilot.app
        loop = asyncio.get_running_loop()
        # 1. The first screen (the app's screen once it is mounted: Welcome for the wizard,
        # the default screen for the floor) has been painted: Textual paints a screen once
        # its widgets are composed and mounted and the screen is laid out.
        screen = app.screen
        PAINTED = (screen, asyncio.Event())
        if screen not in FIRST_PAINT:
            await PAINTED[1].wait()
        sys.__stdout__.write(f"PAINTED {FIRST_PAINT[screen]}\\n")
        # 2. A key sent at that instant is handled: "tab" (focus the next widget; harmless
        # on both apps) goes to the focused widget (or the screen), bubbles up to the
        # screen and the app, which runs its binding. Each hop's queue is FIFO: a callback
        # queued on a node after the key reached it runs once that node has handled it.
        sent = time.perf_counter()
        app.post_message(events.Key("tab", None))
        path = [app]
        node = app.focused or app.screen
        while node is not None and node is not app:
            path.append(node)
            node = node.parent
        path.append(app)
        handled = loop.create_future()

        def hop(index):
            if index == len(path):
                handled.set_result(None)
            else:
                path[index].call_later(hop, index + 1)

        hop(0)
        await handled
        done = time.perf_counter()
        sys.__stdout__.write(f"KEY {done - sent}\\n")
        sys.__stdout__.write(f"READY {done}\\n")
        sys.__stdout__.flush()
        app.exit()

    kwargs.update(headless=True, size=(120, 40), auto_pilot=ready)
    return _run(self, *args, **kwargs)


App.run = _ready_run
"""

TOOL_MAIN = (
    READY_HOOK
    + """
sys.argv = ["iact-tui"]
from iact_tui.cli import main

raise SystemExit(main())
"""
)

FLOOR_MAIN = (
    READY_HOOK
    + """
from textual.widgets import Static


class Floor(App):
    def compose(self):
        yield Static("one screen")


Floor().run()
"""
)


@dataclass(frozen=True)
class Startup:
    """One start, in seconds: process start to ready, ``App.run`` to ready, process start
    to the first screen painted, and the probe key's latency (sent to handled)."""

    ready: float
    run_to_ready: float
    painted: float
    key: float


def time_to_ready(code: str, cwd: Path, env: dict[str, str], timeout: float = 60.0) -> Startup:
    """Time from spawning ``python -c code`` in ``cwd`` to its first screen being ready
    for input (see :data:`READY_HOOK`).

    The instants come from the child's ``time.perf_counter()`` (``CLOCK_MONOTONIC``, the
    same clock as the parent's on Linux), written on its ``RUN``, ``PAINTED`` and
    ``READY`` lines; ``KEY`` is the key's latency.

    Raises:
        RuntimeError: The process ended, or ``timeout`` passed, without printing ``READY``.
    """
    started = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, "-c", code],
        cwd=cwd,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    stamps: dict[str, float] = {}
    try:
        for line in proc.stdout:
            word, _, value = line.strip().partition(" ")
            if word in {"RUN", "PAINTED", "KEY", "READY"}:
                stamps[word] = float(value)
            if word == "READY":
                break
        else:
            raise RuntimeError(
                f"no READY line (exit {proc.wait()}): {proc.stderr.read()[-400:] if proc.stderr else ''}"
            )
        proc.communicate(timeout=timeout)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    ready = stamps["READY"]
    return Startup(
        ready=ready - started,
        run_to_ready=ready - stamps.get("RUN", ready),
        painted=stamps.get("PAINTED", ready) - started,
        key=stamps.get("KEY", 0.0),
    )


def compile_sources() -> None:
    """Bring the project's ``.pyc`` files up to date, as an install does.

    With ``PYTHONDONTWRITEBYTECODE`` set (or a read-only cache) every start compiled each
    source edited since its cache was written: 10-20 ms each for ``app.py`` and
    ``screens/base.py`` at startup, a stall of the event loop when a screen's module was
    imported during the release; Textual's own files (the floor's) are compiled at
    install.
    """
    import compileall

    for folder in ("iact_tui", "screens", "styles"):
        compileall.compile_dir(ROOT / folder, quiet=1)


def startup(sizes: Sizes, work: Path) -> list[Row]:
    """Median time to the first screen ready for input: the wizard in the demo sandbox vs the Textual floor."""
    from iact_tui import demo

    compile_sources()

    box = demo.build_sandbox(work / "sandbox")
    try:
        env = {**os.environ, "XDG_STATE_HOME": str(work / "state")}
        tool: list[Startup] = []
        floor: list[Startup] = []
        time_to_ready(FLOOR_MAIN, work, env)  # warm the page cache and .pyc files for both
        time_to_ready(TOOL_MAIN, box.repo, env)
        for _ in range(sizes.reps):
            floor.append(time_to_ready(FLOOR_MAIN, work, env))
            tool.append(time_to_ready(TOOL_MAIN, box.repo, env))
    finally:
        demo.stop_sandbox(box.root)

    def median(runs: list[Startup], field: str) -> float:
        return statistics.median(getattr(run, field) for run in runs)

    ours, base = median(tool, "ready"), median(floor, "ready")
    spread = f"{ms(min(r.ready for r in tool))}-{ms(max(r.ready for r in tool))}"
    floor_spread = f"{ms(min(r.ready for r in floor))}-{ms(max(r.ready for r in floor))}"
    return [
        Row(
            "startup: process start to first screen ready for input",
            f"{ms(ours)} (median of {sizes.reps}, {spread}; App.run to ready {ms(median(tool, 'run_to_ready'))}; "
            f"painted at {ms(median(tool, 'painted'))}; key handled in {ms(median(tool, 'key'))})",
            f"{ms(base)} minimal Textual app ({floor_spread}; App.run to ready {ms(median(floor, 'run_to_ready'))}; "
            f"painted at {ms(median(floor, 'painted'))}; key {ms(median(floor, 'key'))})",
            times(ours / base),
            "≤ 1.30x",
            ours / base <= 1.3,
        )
    ]


# -- 2. event-loop stalls --------------------------------------------------------------


class StallProbe:
    """A task that sleeps 5 ms at a time and records how late each wake-up is (seconds)."""

    PERIOD = 0.005

    def __init__(self) -> None:
        self.late: list[float] = []
        self.phase = "start"
        self.worst: tuple[float, str] = (0.0, "")
        self.over: dict[str, int] = {}  # phase → probes late by 50 ms or more
        self.phase_worst: dict[str, float] = {}  # phase → its longest lateness
        #: Seconds of CPU the loop's thread used during the worst stall: the rest of it was
        #: the thread waiting (other processes on the machine, another thread holding the GIL).
        self.worst_cpu = 0.0
        self._task: asyncio.Task[None] | None = None

    async def _loop(self) -> None:
        while True:
            before = time.perf_counter()
            cpu = time.thread_time()
            await asyncio.sleep(self.PERIOD)
            late = time.perf_counter() - before - self.PERIOD
            self.late.append(late)
            if late > self.worst[0]:
                self.worst = (late, self.phase)
                self.worst_cpu = time.thread_time() - cpu
            if late > self.phase_worst.get(self.phase, 0.0):
                self.phase_worst[self.phase] = late
            if late >= 0.050:
                self.over[self.phase] = self.over.get(self.phase, 0) + 1

    def start(self) -> None:
        self._task = asyncio.create_task(self._loop())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    def p99(self) -> float:
        ordered = sorted(self.late)
        return ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] if ordered else 0.0


async def idle_probe(seconds: float) -> StallProbe:
    """The probe alone in an idle loop for ``seconds``: the floor of its lateness."""
    probe = StallProbe()
    probe.start()
    await asyncio.sleep(seconds)
    await probe.stop()
    return probe


async def walk_release(config_path: Path, state: Path, probe: StallProbe) -> str:
    """Drive the wizard through a whole release with Pilot (as ``tests/screens/test_walk.py``),
    the probe running from the first screen to the last.

    Returns:
        The version released.

    Raises:
        RuntimeError: A screen was not the one expected, or a step did not finish ``ok``.
    """
    from ui_helpers import settle, tick_verification, walk_to_release

    from iact_tui.app import make_app
    from iact_tui.config import load_config
    from iact_tui.screens import AnnouncementScreen, DeployScreen, PrepScreen, SmokeScreen, VerifyScreen
    from iact_tui.widgets import ConfirmModal

    def expect(screen: object, kind: type, step: str | None = None) -> None:
        if not isinstance(screen, kind):
            raise RuntimeError(f"expected {kind.__name__}, got {type(screen).__name__}")
        status = getattr(screen, "step_status", {})
        if step is not None and status.get(step) != "ok":
            raise RuntimeError(f"{step} did not finish ok: {status}")

    app = make_app(load_config(config_path), state_dir=state)
    async with app.run_test(size=(120, 40)) as pilot:
        probe.start()
        try:
            probe.phase = "welcome → checklist → changelog → release (git)"
            await walk_to_release(app, pilot)
            version = app.release_run.state.version
            probe.phase = "deploy staging"
            await pilot.press("enter")
            await settle(app, pilot)
            expect(app.screen, DeployScreen, "deploy-staging")
            probe.phase = "smoke staging (HTTP)"
            await pilot.press("enter")
            await settle(app, pilot)
            expect(app.screen, SmokeScreen, "smoke-staging")
            probe.phase = "production prep"
            await pilot.press("enter")
            await settle(app, pilot)
            expect(app.screen, PrepScreen)
            await pilot.press("a")
            await settle(app, pilot)
            await pilot.press("enter")
            await pilot.pause()
            await pilot.pause()
            expect(app.screen, ConfirmModal)
            probe.phase = "deploy production"
            await pilot.press(*version, "enter")
            await settle(app, pilot)
            expect(app.screen, DeployScreen, "deploy-production")
            probe.phase = "verify (HTTP)"
            await pilot.press("enter")
            await settle(app, pilot)
            expect(app.screen, VerifyScreen, "verify")
            await tick_verification(app, pilot, {})
            probe.phase = "announcement"
            await pilot.press("enter")
            await settle(app, pilot)
            expect(app.screen, AnnouncementScreen)
        finally:
            await probe.stop()
        await pilot.press("q")
        await pilot.pause()
    return version


def stalls(sizes: Sizes, work: Path) -> list[Row]:
    """The UI loop's longest stall during a whole demo release, against the probe in an idle loop."""
    from iact_tui import demo

    compile_sources()
    idle = asyncio.run(idle_probe(2.0))
    box = demo.build_sandbox(work / "sandbox")
    probe = StallProbe()
    try:
        started = time.perf_counter()
        version = asyncio.run(walk_release(box.config_path, work / "state", probe))
        seconds = time.perf_counter() - started
    finally:
        demo.stop_sandbox(box.root)
    worst, phase = probe.worst
    over = ", ".join(f"{count} in {name}" for name, count in sorted(probe.over.items(), key=lambda item: -item[1]))
    phases = ", ".join(f"{name} {ms(late)}" for name, late in probe.phase_worst.items())
    return [
        Row(
            f"stalls: UI loop, whole release of {version} ({seconds:.0f} s), max",
            f"{ms(worst)} (in {phase}; {ms(probe.worst_cpu)} of it on the loop's CPU); "
            f"stalls ≥ 50 ms: {over or 'none'}; longest by phase: {phases}",
            f"{idle.worst[0] * 1000:.1f} ms idle loop",
            "",
            "< 50 ms",
            worst < 0.050,
        ),
        Row(
            "stalls: UI loop, p99",
            f"{probe.p99() * 1000:.1f} ms ({len(probe.late):,} probes)",
            f"{idle.p99() * 1000:.1f} ms idle loop",
            "",
            "< 50 ms",
            probe.p99() < 0.050,
        ),
    ]


# -- 3. pre-release checks ---------------------------------------------------------------


async def time_preflight(config_path: Path, state: Path, only: tuple[str, ...] | None) -> tuple[float, str]:
    """Seconds the ``preflight`` step takes on a fresh run (version MINOR), with every
    check or only the ids in ``only``; and its final status.

    ``only`` narrows :func:`~iact_tui.engine.steps.preflight.checks_for` for this call.
    """
    from iact_tui.config import load_config
    from iact_tui.engine.events import StepFinished
    from iact_tui.engine.run import ReleaseRun
    from iact_tui.engine.steps import preflight

    run = ReleaseRun(load_config(config_path), state_dir=state)
    await run.load_versions()
    run.choose_bump("minor")
    original = preflight.checks_for
    if only is not None:
        wanted = only
        preflight.checks_for = lambda config: tuple(c for c in original(config) if c[0] in wanted)
    status = "?"
    try:
        started = time.perf_counter()
        async for event in run.run_step(preflight.STEP_ID):
            if isinstance(event, StepFinished):
                status = event.status
        elapsed = time.perf_counter() - started
    finally:
        preflight.checks_for = original
        run.release_run_lock()  # the next run of the same clone takes it
    return elapsed, status


def preflight_checks(sizes: Sizes, work: Path) -> list[Row]:
    """The checklist's concurrent wall time against its slowest check alone (medians)."""
    from iact_tui import demo
    from iact_tui.config import load_config
    from iact_tui.engine.steps import preflight

    box = demo.build_sandbox(work / "sandbox", start_servers=False)
    try:
        ids = [cid for cid, _ in preflight.checks_for(load_config(box.config_path))]
        alone: list[tuple[str, ...]] = [(cid,) for cid in ids if cid not in {"tests", "coverage"}]
        alone.append(("tests", "coverage") if "coverage" in ids else ("tests",))
        asyncio.run(time_preflight(box.config_path, work / "state", None))  # warm-up: .pyc, caches
        whole: list[float] = []
        each: dict[tuple[str, ...], list[float]] = {group: [] for group in alone}
        for _ in range(sizes.reps):
            seconds, status = asyncio.run(time_preflight(box.config_path, work / "state", None))
            if status != "ok":
                raise RuntimeError(f"the checklist finished {status!r} on the fresh sandbox")
            whole.append(seconds)
            for group in alone:
                each[group].append(asyncio.run(time_preflight(box.config_path, work / "state", group))[0])
    finally:
        demo.stop_sandbox(box.root)
    medians = {group: statistics.median(values) for group, values in each.items()}
    slowest = max(medians, key=lambda group: medians[group])
    ours = statistics.median(whole)
    return [
        Row(
            f"preflight: {len(ids)} checks concurrently",
            f"{ms(ours)} (median of {len(whole)})",
            f"{ms(medians[slowest])} {'+'.join(slowest)} alone",
            times(ours / medians[slowest]),
            "≤ 1.20x",
            ours / medians[slowest] <= 1.2,
        )
    ]


# -- 4. changelog draft from many commits -------------------------------------------------

KINDS = (
    ("feat", "add {} to the project page"),
    ("fix", "stop {} from failing on empty input"),
    ("docs", "explain {}"),
    ("refactor", "split {} into smaller parts"),
    ("perf", "cache {}"),
    ("chore", "bump the pinned version of {}"),
    ("test", "cover {}"),
)
THINGS = ("the search box", "slug lookups", "the export", "login throttling", "the settings form", "webhooks")


def build_history(root: Path, commits: int) -> str:
    """A repository in ``root`` with ``CHANGELOG.md``, tag ``v1.0.0``, then ``commits``
    Conventional Commits (each changing one of 50 files; every 7th with a body), built
    with ``git fast-import``.

    Returns:
        The tag name.
    """
    root.mkdir(parents=True)
    env = {**os.environ, **IDENTITY}
    subprocess.run(["git", "init", "-q", "-b", "main", str(root)], check=True, env=env)
    stamp = 1_700_000_000
    parts: list[bytes] = []

    def data(text: str) -> None:
        raw = text.encode()
        parts.append(b"data %d\n%s\n" % (len(raw), raw))

    def commit(mark: int, message: str, path: str, content: str) -> None:
        parts.append(b"commit refs/heads/main\nmark :%d\n" % mark)
        parts.append(b"committer Bench Operator <operator@example.invalid> %d +0000\n" % (stamp + mark))
        data(message)
        if mark > 1:
            parts.append(b"from :%d\n" % (mark - 1))
        parts.append(f"M 100644 inline {path}\n".encode())
        data(content)

    commit(1, "chore: first release", "CHANGELOG.md", "# Changelog\n\n## [Unreleased]\n\n## [1.0.0] - 2024-01-02\n")
    parts.append(b"tag v1.0.0\nfrom :1\ntagger Bench Operator <operator@example.invalid> %d +0000\n" % stamp)
    data("Release v1.0.0")
    for n in range(1, commits + 1):
        kind, template = KINDS[n % len(KINDS)]
        scope = f"(app{n % 5})" if n % 3 == 0 else ""
        message = f"{kind}{scope}: {template.format(THINGS[n % len(THINGS)])} #{n}"
        if n % 7 == 0:
            message += f"\n\nWhy: the old way was slow in case {n}.\nRefs: #{n}"
        commit(n + 1, message, f"src/module{n % 50}.py", f"VALUE = {n}\n")
    subprocess.run(["git", "fast-import", "--quiet"], cwd=root, input=b"".join(parts), check=True, env=env)
    subprocess.run(["git", "checkout", "-q", "-f", "main"], cwd=root, check=True, env=env)
    return "v1.0.0"


async def draft_via_tool(root: Path, tag: str) -> tuple[float, int, str]:
    """Seconds to draft the section body the way a release does, the number of commits, the body."""
    from iact_tui.services import changelog
    from iact_tui.services.git import GitService

    git = GitService(root)
    try:
        started = time.perf_counter()
        commits = await git.commits_since(tag, "CHANGELOG.md")
        text = await asyncio.to_thread((root / "CHANGELOG.md").read_text, encoding="utf-8")
        body = changelog.draft_section_body(text, commits)
        return time.perf_counter() - started, len(commits), body
    finally:
        git.close()


def git_log_subjects(root: Path, tag: str) -> tuple[float, int]:
    """Seconds for ``git log --format=%s TAG..HEAD`` as a subprocess, and the subjects read."""
    started = time.perf_counter()
    out = subprocess.run(
        ["git", "log", "--format=%s", f"{tag}..HEAD"], cwd=root, check=True, capture_output=True
    ).stdout
    return time.perf_counter() - started, out.count(b"\n")


def changelog_draft(sizes: Sizes, work: Path) -> list[Row]:
    """Drafting the changelog from ``sizes.commits`` commits against ``git log`` of their subjects."""
    root = work / "history"
    tag = build_history(root, sizes.commits)
    asyncio.run(draft_via_tool(root, tag))  # warm-up: page cache, GitPython's processes
    git_log_subjects(root, tag)
    ours: list[float] = []
    base: list[float] = []
    count = 0
    body = ""
    for _ in range(sizes.reps):
        seconds, count, body = asyncio.run(draft_via_tool(root, tag))
        ours.append(seconds)
        seconds, subjects = git_log_subjects(root, tag)
        base.append(seconds)
    if count != sizes.commits or subjects != sizes.commits:
        raise RuntimeError(f"read {count} commits through the tool and {subjects} with git log, not {sizes.commits}")
    if body.count("\n- ") < sizes.commits // 4:
        raise RuntimeError(f"the draft has only {body.count(chr(10) + '- ')} entries")
    mine, theirs = statistics.median(ours), statistics.median(base)
    return [
        Row(
            f"changelog: draft from {sizes.commits:,} commits since the tag",
            f"{ms(mine)} (median of {sizes.reps})",
            f"{ms(theirs)} git log --format=%s",
            times(mine / theirs),
            "≤ 2.00x",
            mine / theirs <= 2.0,
        )
    ]


# -- 5. the deploy screen's log pane -----------------------------------------------------


def log_pane(sizes: Sizes, work: Path) -> list[Row]:
    """Lines/s and key latency of the deploy screen's log, RSS late against early."""
    import deploy_stream

    rate, latencies, stream = asyncio.run(deploy_stream.deploy_screen(sizes.lines, 1_000, 0.05))
    plain = asyncio.run(deploy_stream.baseline(sizes.baseline_lines))
    rss = {count: current for count, _, current, _ in stream.checkpoints}
    if sizes.rss_early not in rss or sizes.lines not in rss:
        raise RuntimeError(f"no RSS reading at {sizes.rss_early:,} or {sizes.lines:,} lines: {sorted(rss)}")
    early, late = rss[sizes.rss_early], rss[sizes.lines]
    worst = max(latencies, default=0.0)
    return [
        Row(
            f"log pane: deploy screen, {sizes.lines:,} lines",
            f"{rate:,.0f} lines/s",
            f"{plain:,.0f} lines/s Log.write_line each",
            times(rate / plain),
            "≥ 100,000 lines/s",
            rate >= 100_000,
        ),
        Row(
            "log pane: worst keypress while streaming",
            f"{worst:.0f} ms ({len(latencies)} keys, median {statistics.median(latencies):.0f} ms)",
            "",
            "",
            "≤ 100 ms",
            worst <= 100,
        ),
        Row(
            f"log pane: RSS after {sizes.lines:,} lines",
            f"{late:.0f} MiB",
            f"{early:.0f} MiB after {sizes.rss_early:,}",
            times(late / early),
            "≤ 1.20x",
            late / early <= 1.2,
        ),
    ]


# -- 6. the existing SSH benchmark ----------------------------------------------------------


def ssh(sizes: Sizes, work: Path) -> list[Row]:
    """``benchmarks/ssh_commands.py``'s two ratios (it starts its own sshd on 127.0.0.1)."""
    done = subprocess.run(
        [sys.executable, str(HERE / "ssh_commands.py")], capture_output=True, text=True, timeout=300, cwd=ROOT
    )
    if done.returncode == 2:
        raise RuntimeError(done.stderr.strip() or "sshd is not available")
    fresh = re.search(r"fresh ssh / SshHost\s*=\s*([\d.]+)x", done.stdout)
    master = re.search(r"SshHost / ControlMaster\s*=\s*([\d.]+)x", done.stdout)
    ours = re.search(r"SshHost \(one connection\)\s+([\d.]+) s", done.stdout)
    if not (fresh and master and ours):
        raise RuntimeError(f"unexpected output of ssh_commands.py: {done.stdout[-300:]} {done.stderr[-300:]}")
    vs_fresh, vs_master = float(fresh.group(1)), float(master.group(1))
    return [
        Row(
            "ssh: 50 commands, SshHost vs fresh ssh each",
            f"{float(ours.group(1)) * 1000:,.0f} ms",
            "fresh ssh per command",
            f"{vs_fresh:.1f}x faster",
            "≥ 5x faster",
            vs_fresh >= 5,
        ),
        Row(
            "ssh: SshHost vs OpenSSH ControlMaster",
            f"{float(ours.group(1)) * 1000:,.0f} ms",
            "ControlMaster",
            times(vs_master),
            "≤ 1.50x",
            vs_master <= 1.5,
        ),
    ]


BENCHMARKS: dict[str, Callable[[Sizes, Path], list[Row]]] = {
    "startup": startup,
    "stalls": stalls,
    "preflight": preflight_checks,
    "changelog": changelog_draft,
    "logpane": log_pane,
    "ssh": ssh,
}


def measure(name: str, sizes: Sizes) -> list[Row]:
    """Run one benchmark in its own temp folder and state dir; a failure becomes an error row."""
    with tempfile.TemporaryDirectory(prefix=f"iact-bench-{name}-") as folder:
        work = Path(folder)
        try:
            with isolated_env(work / "state"):
                return BENCHMARKS[name](sizes, work)
        except Exception as exc:
            return [Row(name, "", error=f"{type(exc).__name__}: {exc}")]


def render(rows: list[Row]) -> str:
    """The rows as a Markdown table (benchmark, figure, baseline, ratio, target, met?)."""
    lines = ["| benchmark | figure | baseline | ratio | target | met? |", "| --- | --- | --- | --- | --- | --- |"]
    for row in rows:
        if row.error:
            lines.append(f"| {row.benchmark} | NOT MEASURED: {row.error} | | | | ERROR |")
            continue
        met = "" if row.met is None else ("met" if row.met else "MISSED")
        lines.append(f"| {row.benchmark} | {row.figure} | {row.baseline} | {row.ratio} | {row.target} | {met} |")
    return "\n".join(lines)


def machine() -> str:
    """One line about where the run happened: date, CPU count, load average at the end
    (other work on the machine inflates every figure), Python, platform."""
    load = ", ".join(f"{value:.1f}" for value in os.getloadavg())
    return (
        f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {os.cpu_count()} cores (load average {load}), "
        f"Python {platform.python_version()}, {platform.system()} {platform.release()}"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer repetitions and lines (about a minute less)")
    parser.add_argument("--only", nargs="+", choices=list(BENCHMARKS), help="run only these benchmarks")
    args = parser.parse_args(argv)
    sizes = QUICK if args.quick else FULL
    if not shutil.which("git"):
        print("cannot run: git is not installed", file=sys.stderr)
        return 1
    rows: list[Row] = []
    started = time.perf_counter()
    for name in args.only or list(BENCHMARKS):
        began = time.perf_counter()
        print(f"{name} ...", file=sys.stderr, flush=True)
        got = measure(name, sizes)
        print(f"{name}: {time.perf_counter() - began:.0f} s", file=sys.stderr, flush=True)
        rows += got
    print(
        f"iact-tui benchmarks{' (--quick)' if args.quick else ''}: {machine()}; {time.perf_counter() - started:.0f} s"
    )
    print()
    print(render(rows))
    return 1 if any(row.error for row in rows) else 0


if __name__ == "__main__":
    raise SystemExit(main())
