"""Benchmark: stream 200,000 lines of remote output through the deploy screen (Pilot, headless).

A fake ``run_step`` announces a two-host recipe, then yields ``OutputLine`` events as fast
as it can, handing the event loop back every ``--chunk`` lines (as a real stream does
between reads). Meanwhile a key is pressed every ``--press-every`` seconds and the time
until its binding runs is measured. Printed: lines per second (from the first line to
the last one written to the log pane), the worst and median keypress latency, and RSS at
every 50,000 lines (current and peak) to show memory stays flat once the pane is full.

A baseline in the same run: the first ``--baseline`` lines written into a plain ``Log``
with one ``write_line`` per line, the naive way.

The fake ``run_step`` skips the journal (a real run appends every event to it on disk).

Targets: at least 50,000 lines/s; every keypress answered within 100 ms; RSS flat after
the pane is full (growth from 100k to 200k lines under 10 MiB).

Run::

    .venv/bin/python benchmarks/deploy_stream.py [--lines 200000]

Exit status 0 when every target is met, 1 otherwise.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import resource
import statistics
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import ClassVar

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests" / "screens"))

from textual.app import App, ComposeResult
from textual.binding import Binding, BindingType
from textual.widgets import Log
from ui_helpers import build_tiny_repo

from iact_tui.app import IactApp
from iact_tui.config import load_config
from iact_tui.engine.events import CommandUpdate, Event, OutputLine, Progress, StepFinished, StepStarted
from iact_tui.engine.run import ReleaseRun
from iact_tui.screens import DeployScreen

STEP = "deploy-staging"
HOSTS = ("web1", "web2")
RECIPE = ("acquire deploy lock", "fetch code", "install dependencies", "run migrations", "release deploy lock")
CHECKPOINT = 50_000
PAGE = 4096


def rss_mib() -> float:
    """Current resident set size in MiB."""
    with open("/proc/self/statm", encoding="ascii") as fh:
        return int(fh.read().split()[1]) * PAGE / 2**20


def peak_rss_mib() -> float:
    """Peak resident set size of this process in MiB (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


class GcPauses:
    """Garbage-collector pauses longer than 5 ms, as (generation, milliseconds)."""

    def __init__(self) -> None:
        self.pauses: list[tuple[int, float]] = []
        self._started = 0.0

    def __call__(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._started = time.perf_counter()
        elif (ms := (time.perf_counter() - self._started) * 1000) > 5:
            self.pauses.append((info["generation"], ms))


class BenchApp(IactApp):
    """The wizard with one more binding, whose action records when it ran."""

    BINDINGS: ClassVar[list[BindingType]] = [*IactApp.BINDINGS, Binding("f9", "mark", show=False)]

    def __init__(self, run: ReleaseRun) -> None:
        super().__init__(run)
        self.marked = asyncio.Event()
        self.marked_at = 0.0

    def action_mark(self) -> None:
        """The key's handler ran."""
        self.marked_at = time.perf_counter()
        self.marked.set()


class Stream:
    """The fake deploy: what it yielded, and when."""

    def __init__(self, lines: int, chunk: int) -> None:
        self.lines = lines
        self.chunk = chunk
        self.started = 0.0
        self.checkpoints: list[tuple[int, float, float, float]] = []  # lines, seconds, rss, peak
        self.yielded = 0
        self.pressed: list[float] = []  # perf_counter() of each keypress

    async def run_step(self, step_id: str) -> AsyncIterator[Event]:
        yield StepStarted(step_id, "Deploy to staging")
        for host in HOSTS:
            for index, name in enumerate(RECIPE):
                yield CommandUpdate(step_id, host, index, name, "steps", "pending")
        yield CommandUpdate(step_id, "web1", 3, "run migrations", "steps", "running")
        yield Progress(step_id, 3, len(RECIPE) * len(HOSTS), "run migrations on web1")
        self.started = time.perf_counter()
        text = "Applying core.0042_add_index_on_project_slug... OK (migration output of a realistic length)"
        for n in range(1, self.lines + 1):
            yield OutputLine(step_id, f"{n:>7} {text}", "stdout", HOSTS[n % 2])
            self.yielded = n
            if n % self.chunk == 0:
                await asyncio.sleep(0)  # a real stream waits for its next read here
        yield CommandUpdate(step_id, "web1", 3, "run migrations", "steps", "ok", seconds=1.0)
        yield StepFinished(step_id, "ok", "deployed to staging")


async def press_keys(
    app: BenchApp, every: float, stop: asyncio.Event, latencies: list[float], pressed: list[float]
) -> None:
    """Press f9 every ``every`` seconds until ``stop``; record each key's latency in ms and when it was pressed."""
    while not stop.is_set():
        await asyncio.sleep(every)
        app.marked.clear()
        sent = time.perf_counter()
        pressed.append(sent)
        app.simulate_key("f9")
        await app.marked.wait()
        latencies.append((app.marked_at - sent) * 1000)


async def deploy_screen(lines: int, chunk: int, every: float) -> tuple[float, list[float], Stream]:
    """Stream ``lines`` through the deploy screen; lines/s, key latencies (ms), the stream."""
    with tempfile.TemporaryDirectory() as tmp:
        config = load_config(build_tiny_repo(Path(tmp) / "tiny"))
        run = ReleaseRun(config, state_dir=Path(tmp) / "state")
        stream = Stream(lines, chunk)
        run.run_step = stream.run_step  # type: ignore[method-assign]
        app = BenchApp(run)
        latencies: list[float] = []
        async with app.run_test(size=(120, 40)) as pilot:
            await pilot.pause()
            screen = DeployScreen(env="staging")
            app.push_screen(screen)
            stop = asyncio.Event()
            presser: asyncio.Task[None] | None = None
            next_checkpoint = CHECKPOINT
            while True:
                await asyncio.sleep(0.005)
                if not screen.output_lines:
                    continue
                log = screen.output_log
                if presser is None:  # the stream is on screen: press keys during it
                    presser = asyncio.create_task(press_keys(app, every, stop, latencies, stream.pressed))
                while screen.output_lines >= next_checkpoint and next_checkpoint <= lines:
                    elapsed = time.perf_counter() - stream.started
                    stream.checkpoints.append((next_checkpoint, elapsed, rss_mib(), peak_rss_mib()))
                    next_checkpoint += CHECKPOINT
                if screen.output_lines >= lines and log.pending_count == 0 and log.received >= lines:
                    break
            elapsed = time.perf_counter() - stream.started
            stop.set()
            if presser is not None:
                await presser
            await app.workers.wait_for_complete()
            assert screen.output_log.line_count == screen.output_log.max_lines
            last = screen.output_log.log_widget.lines[-2]  # then "✔ deployed"
            assert last.startswith(f"[{HOSTS[lines % 2]}] {lines:>7} "), last
        return lines / elapsed, latencies, stream


class PlainLogApp(App[None]):
    """A bare ``Log`` for the baseline."""

    def compose(self) -> ComposeResult:
        yield Log(max_lines=10_000)


async def baseline(lines: int) -> float:
    """Lines per second writing ``lines`` into a plain Log, one ``write_line`` call each."""
    app = PlainLogApp()
    async with app.run_test(size=(120, 40)) as pilot:
        log = app.query_one(Log)
        started = time.perf_counter()
        for n in range(lines):
            log.write_line(f"{n:>7} Applying core.0042_add_index_on_project_slug... OK")
            if n % 100 == 0:
                await asyncio.sleep(0)
        await app.workers.wait_for_complete()
        await pilot.pause()
        return lines / (time.perf_counter() - started)


def _freezing(on_mount: Callable[[DeployScreen], None]) -> Callable[[DeployScreen], None]:
    def frozen(screen: DeployScreen) -> None:
        gc.freeze()  # the app's long-lived objects leave the collector's full passes
        on_mount(screen)

    return frozen


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=200_000)
    parser.add_argument("--chunk", type=int, default=1_000, help="lines between turns of the event loop")
    parser.add_argument("--press-every", type=float, default=0.05, help="seconds between keypresses")
    parser.add_argument("--baseline", type=int, default=5_000, help="lines written one by one into a plain Log")
    parser.add_argument(
        "--gc-freeze",
        action="store_true",
        help="gc.freeze() again once the app is up (the app freezes at mount, and the deploy screen at its mount)",
    )
    args = parser.parse_args()

    pauses = GcPauses()
    gc.callbacks.append(pauses)
    if args.gc_freeze:
        DeployScreen.on_mount = _freezing(DeployScreen.on_mount)  # type: ignore[method-assign]
    rate, latencies, stream = asyncio.run(deploy_screen(args.lines, args.chunk, args.press_every))
    gc.callbacks.remove(pauses)
    print(f"deploy screen: {args.lines:,} lines in {args.lines / rate:.2f} s = {rate:,.0f} lines/s")
    print(
        f"  keypresses: {len(latencies)}, worst {max(latencies):.1f} ms, median {statistics.median(latencies):.1f} ms"
    )
    worst = latencies.index(max(latencies))
    print(
        f"  worst key pressed {stream.pressed[worst] - stream.started:.2f} s after the first line; "
        f"each key (ms): {', '.join(f'{ms:.0f}' for ms in latencies)}"
    )
    full = [ms for generation, ms in pauses.pauses if generation == 2]
    print(
        f"  GC pauses > 5 ms: {len(pauses.pauses)}; full collections {len(full)}, "
        f"longest {max(full, default=0):.0f} ms{' (gc.freeze() after start-up)' if args.gc_freeze else ''}"
    )
    for count, seconds, rss, peak in stream.checkpoints:
        print(f"  at {count:>7,} lines: {seconds:6.2f} s, RSS {rss:6.1f} MiB, peak RSS {peak:6.1f} MiB")

    plain = asyncio.run(baseline(args.baseline))
    print(f"baseline: plain Log, one write_line per line: {plain:,.0f} lines/s ({args.baseline:,} lines)")
    print(f"  deploy screen / baseline: {rate / plain:,.1f}x")

    by_count = {count: rss for count, _, rss, _ in stream.checkpoints}
    growth = by_count.get(200_000, 0.0) - by_count.get(100_000, 0.0) if args.lines >= 200_000 else 0.0
    ok = rate >= 50_000 and max(latencies) <= 100 and growth < 10
    print(
        f"targets: >= 50,000 lines/s {'met' if rate >= 50_000 else 'MISSED'}; "
        f"keys <= 100 ms {'met' if max(latencies) <= 100 else 'MISSED'}; "
        f"RSS growth 100k→200k {growth:+.1f} MiB {'flat' if growth < 10 else 'NOT FLAT'}"
    )
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
