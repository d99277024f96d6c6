"""Benchmark: a log written as fast as a process can, followed by the monitor (Pilot, headless).

A writer process appends ``--lines`` numbered lines (every 100th an ERROR) to a log file
as fast as it can while three consumers follow it with ``tail -F``, one after another,
in one run:

1. **baseline**: the transport alone, ``Host.stream("tail -F -n 0 -- FILE")`` with every
   line counted and dropped: what the host and the pipe (or SSH channel) deliver;
2. **follower**: :class:`~iact_tui.services.monitor.LogFollower` (headers parsed, error
   patterns matched, lines batched);
3. **screen**: the monitor screen in ``iact-tui monitor``'s app, lines formatted, held for
   the filter and written to the bounded pane (20,000 lines);

then a **paced** run of the screen, ``--rate`` lines a second (10,000: ten times the
monitor test's rate) for ``--paced-seconds``. In both screen runs a key is pressed every
``--press-every`` seconds and the time until its binding runs is measured; only the paced
run's keys are judged (a flood over SSH arrives in megabyte reads that asyncssh decodes
in one go).

Printed: lines per second of each (from the first line received to the last), the
follower's and the screen's share of the baseline, key latencies, garbage-collector
pauses, and the screen's RSS at each quarter of the lines with the ratio of the last to
the one half-way (memory flat once the pane and the buffers have been full). Every line is checked to be accounted for
(received, or counted as dropped).

Targets: the screen at least 20,000 lines/s; every key of the paced run answered within
150 ms; RSS at the end of the flood within 5% of RSS half-way through it.

Run (``--ssh`` starts its own sshd on 127.0.0.1, as root with openssh-server)::

    .venv/bin/python benchmarks/monitor_stream.py [--lines 200000] [--ssh]

Exit status 0 when every target is met, 1 otherwise.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import ClassVar

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from textual.binding import Binding, BindingType

from iact_tui.app import MonitorApp
from iact_tui.config import load_config
from iact_tui.engine.monitor import MonitorSession
from iact_tui.screens import MonitorScreen
from iact_tui.services.monitor import LogFollower, log_sources
from iact_tui.services.remote import CommandResult, Host, LocalHost

PAGE = 4096
WRITER = """
import sys, time
path, count, rate = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
start = time.monotonic()
with open(path, "a", buffering=1 << 16) as fh:
    for i in range(count):
        level = "ERROR" if i % 100 == 0 else "INFO"
        fh.write(f"{i:07d} {level} GET /api/projects/{i % 997} 200 in {i % 50} ms (a request of a usual length)\\n")
        if rate and i % 100 == 99:
            fh.flush()
            delay = start + (i + 1) / rate - time.monotonic()
            if delay > 0:
                time.sleep(delay)
"""


def rss_mib() -> float:
    """This process's resident set size in MiB."""
    with open("/proc/self/statm", encoding="ascii") as fh:
        return int(fh.read().split()[1]) * PAGE / 2**20


class Target:
    """Where the log is and how to reach it (the local host, or the benchmark's sshd)."""

    def __init__(self, folder: Path, make_host: Callable[[], Host], writer: list[str]) -> None:
        self.folder = folder
        self.make_host = make_host
        self.writer = writer  # how to start a Python on the log's host

    def fresh_log(self, name: str) -> Path:
        path = self.folder / name
        path.write_text("")
        shutil.chown(path, self.folder.owner())
        return path

    def write(self, path: Path, lines: int, rate: float = 0) -> subprocess.Popen[bytes]:
        """Append ``lines`` lines to ``path``: as fast as possible, or ``rate`` lines a second."""
        return subprocess.Popen([*self.writer, "-c", WRITER, str(path), str(lines), str(rate)])


async def baseline(target: Target, lines: int) -> float:
    """Lines per second of ``tail -F`` through ``Host.stream`` alone (the writer starts once tail runs)."""
    log = target.fresh_log("baseline.log")
    host = target.make_host()
    count = 0
    first = 0.0
    done = asyncio.Event()

    async def consume() -> None:
        nonlocal count, first
        async for item in host.stream(f"echo started; exec tail -F -n 0 -- {log}", timeout=3600):
            if isinstance(item, CommandResult):
                return
            if item.text == "started" and not count and not first:
                first = -1.0
                done.set()
                continue
            count += 1
            if count == 1:
                first = time.perf_counter()
            if count == lines:
                return

    task = asyncio.create_task(consume())
    await done.wait()
    await asyncio.sleep(0.2)  # tail opens the file after the echo
    writer = target.write(log, lines)
    await task
    writer.wait()
    await host.close()
    return (lines - 1) / (time.perf_counter() - first)


async def follower_rate(target: Target, lines: int) -> tuple[float, int]:
    """Lines per second through LogFollower's batches; and the lines dropped (counted)."""
    log = target.fresh_log("follower.log")
    host = target.make_host()
    follower = LogFollower([host], log_sources([str(log)], []))
    got = 0
    first = 0.0
    async with follower:
        writer: subprocess.Popen[bytes] | None = None
        async for batch in follower.batches(0.05):
            if writer is None and any(line.notice and "following" in line.text for line in batch.lines):
                writer = target.write(log, lines)
            new = sum(1 for line in batch.lines if not line.notice)
            if new and not got:
                first = time.perf_counter()
            got += new
            if got + follower.stats[host.name].dropped >= lines:
                break
        elapsed = time.perf_counter() - first
        if writer is not None:
            writer.wait()
    await host.close()
    return lines / elapsed, follower.stats[host.name].dropped


class BenchApp(MonitorApp):
    """The monitor app with one more binding, whose action records when it ran."""

    BINDINGS: ClassVar[list[BindingType]] = [*MonitorApp.BINDINGS, Binding("f9", "mark", show=False)]

    def __init__(self, session: MonitorSession) -> None:
        super().__init__(session, snapshot_mode=True)
        self.marked = asyncio.Event()
        self.marked_at = 0.0

    def action_mark(self) -> None:
        self.marked_at = time.perf_counter()
        self.marked.set()


async def screen_rate(
    target: Target, lines: int, every: float, config_dir: Path, rate: float = 0
) -> tuple[float, list[float], list[tuple[int, float]], int]:
    """Lines per second into the monitor screen; key latencies (ms); RSS at each quarter; pane lines.

    Args:
        rate: Lines a second the writer appends (0: as fast as it can).
    """
    log = target.fresh_log(f"screen-{rate:g}.log")
    config_path = config_dir / "iact-release.toml"
    config_path.write_text(
        '[environments.production]\napp_dir = "."\nhealth_url = "http://127.0.0.1:9/health"\n'
        f'[environments.production.logs]\npaths = ["{log}"]\n'
        "[monitor]\nhealth_interval_seconds = 5\nhost_interval_seconds = 5\nmax_lines = 20000\n"
    )
    config = load_config(config_path)
    host = target.make_host()
    session = MonitorSession(config, "production", hosts=[host], state_dir=config_dir / "state")
    app = BenchApp(session)
    latencies: list[float] = []
    checkpoints: list[tuple[int, float]] = []
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, MonitorScreen)
        while session.tail_stats[host.name].state != "following":
            await pilot.pause(0.02)
        writer = target.write(log, lines, rate)
        while not screen.received_lines:
            await pilot.pause(0.005)
        first = time.perf_counter()
        quarter = lines // 4
        next_checkpoint = quarter
        last_press = first
        while screen.received_lines + screen.dropped_lines < lines:
            await asyncio.sleep(0.005)
            while screen.received_lines >= next_checkpoint and next_checkpoint <= lines:
                checkpoints.append((next_checkpoint, rss_mib()))
                next_checkpoint += quarter
            if time.perf_counter() - last_press >= every:
                app.marked.clear()
                sent = last_press = time.perf_counter()
                app.simulate_key("f9")
                await app.marked.wait()
                latencies.append((app.marked_at - sent) * 1000)
        elapsed = time.perf_counter() - first
        if next_checkpoint <= lines:
            checkpoints.append((lines, rss_mib()))
        writer.wait()
        screen.tail_log.flush()
        pane = screen.tail_log.line_count
        assert screen.received_lines + screen.dropped_lines == lines
        assert session.tail_stats[host.name].errors == lines // 100
        await pilot.press("q")
        await pilot.pause()
    return lines / elapsed, latencies, checkpoints, pane


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


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=200_000)
    parser.add_argument("--press-every", type=float, default=0.1, help="seconds between keypresses")
    parser.add_argument(
        "--rate", type=float, default=10_000, help="lines a second of the paced run (keys are judged there)"
    )
    parser.add_argument("--paced-seconds", type=float, default=10.0, help="how long the paced run writes")
    parser.add_argument("--ssh", action="store_true", help="follow over a real sshd on 127.0.0.1 (needs root)")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        config_dir = Path(tmp)
        server = None
        if args.ssh:
            from support.sshd import TEST_USER, start_sshd, unavailable

            from iact_tui.services.ssh import SshHost

            reason = unavailable()
            if reason:
                print(f"cannot start sshd: {reason}")
                return 1
            server = start_sshd()
            folder = server.server_dir / "bench"
            folder.mkdir()
            shutil.chown(folder, TEST_USER)
            sshd = server

            def make_host() -> Host:
                return SshHost(
                    sshd.host,
                    name="web1",
                    port=sshd.port,
                    user=sshd.user,
                    identity_file=sshd.client_key,
                    known_hosts=sshd.known_hosts,
                )

            # The SSH test user cannot enter the project's venv: the system Python writes.
            target = Target(folder, make_host, ["runuser", "-u", TEST_USER, "--", "/usr/bin/python3"])
        else:
            folder = config_dir / "logs"
            folder.mkdir()
            target = Target(folder, lambda: LocalHost("web1"), [sys.executable])
        try:
            base = asyncio.run(baseline(target, args.lines))
            follow, dropped = asyncio.run(follower_rate(target, args.lines))
            pauses = GcPauses()
            gc.callbacks.append(pauses)
            rate, flood_keys, checkpoints, pane = asyncio.run(
                screen_rate(target, args.lines, args.press_every, config_dir)
            )
            gc.callbacks.remove(pauses)
            paced_lines = int(args.rate * args.paced_seconds)
            _, latencies, paced_rss, _ = asyncio.run(
                screen_rate(target, paced_lines, args.press_every, config_dir, args.rate)
            )
        finally:
            if server is not None:
                server.cleanup()

    where = "over ssh to 127.0.0.1" if args.ssh else "on the local host"
    print(f"{args.lines:,} lines written as fast as possible, followed with tail -F {where}")
    print(f"baseline: Host.stream of tail -F alone:  {base:>10,.0f} lines/s")
    print(f"follower: LogFollower batches:           {follow:>10,.0f} lines/s ({follow / base:.0%} of the baseline)")
    if dropped:
        print(f"  {dropped:,} lines dropped by the follower (counted; its consumer was behind)")
    print(f"screen:   the monitor screen, pane full: {rate:>10,.0f} lines/s ({rate / base:.0%} of the baseline)")
    print(f"  keypresses: {len(flood_keys)}, worst {max(flood_keys, default=0):.1f} ms (flooded: not judged)")
    full = [ms for generation, ms in pauses.pauses if generation == 2]
    print(
        f"  GC pauses > 5 ms: {len(pauses.pauses)}; full collections {len(full)}, longest {max(full, default=0):.0f} ms"
    )
    for count, rss in checkpoints:
        print(f"  at {count:>9,} lines: RSS {rss:6.1f} MiB")
    halfway = next((rss for count, rss in checkpoints if count >= args.lines // 2), checkpoints[-1][1])
    ratio = checkpoints[-1][1] / halfway
    print(f"  RSS at the end / RSS half-way: {ratio:.3f} (pane {pane:,} lines)")
    worst = max(latencies, default=0.0)
    median = statistics.median(latencies) if latencies else 0.0
    print(f"paced: {paced_lines:,} lines at {args.rate:,.0f} lines/s into the screen")
    print(f"  keypresses: {len(latencies)}, worst {worst:.1f} ms, median {median:.1f} ms")
    print(f"  RSS {paced_rss[0][1]:.1f} MiB at a quarter, {paced_rss[-1][1]:.1f} MiB at the end")
    ok = rate >= 20_000 and worst <= 150 and ratio <= 1.05
    print(
        f"targets: screen >= 20,000 lines/s {'met' if rate >= 20_000 else 'MISSED'}; "
        f"keys <= 150 ms at {args.rate:,.0f} lines/s {'met' if worst <= 150 else 'MISSED'}; "
        f"RSS ratio <= 1.05 {'met' if ratio <= 1.05 else 'NOT FLAT'}"
    )
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
