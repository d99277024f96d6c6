"""The monitor over a real OpenSSH sshd on 127.0.0.1, fed by a writer process on that host.

- The follower receives every line a remote writer appends, counts its errors, and after
  a cancel no ``tail`` of it is left on the host.
- It reconnects after sshd restarts (connections dropped), saying so, and goes on.
- The monitor screen, fed 1,000 lines a second for 60 seconds: every line is shown or
  counted, memory stays flat (RSS at 10 s and at 60 s), and after leaving the screen no
  process of the tail remains on the host. This is the suite's one long test (~65 s).
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import secrets
import shutil
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from support.sshd import TEST_USER, Sshd

from iact_tui.app import make_monitor_app
from iact_tui.config import load_config
from iact_tui.engine.monitor import MonitorSession
from iact_tui.screens import MonitorScreen
from iact_tui.services.monitor import LogFollower, TailLine, log_sources
from iact_tui.services.ssh import SshHost

pytestmark = pytest.mark.e2e

PAGE = 4096

# Appends COUNT numbered lines to PATH at RATE lines a second (as fast as it can for RATE
# 0), flushing every 10 lines; every 100th line is an ERROR. Prints the count at the end.
WRITER = """
import sys, time
path, count, rate = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
start = time.monotonic()
with open(path, "a", buffering=1 << 16) as fh:
    for i in range(count):
        level = "ERROR" if i % 100 == 0 else "INFO"
        fh.write(f"{i:07d} {level} GET /api/projects/{i % 997} 200 in {i % 50} ms\\n")
        if i % 10 == 9:
            fh.flush()
            if rate:
                delay = start + (i + 1) / rate - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
print(count)
"""


def rss_mib() -> float:
    """This process's resident set size in MiB."""
    with open("/proc/self/statm", encoding="ascii") as fh:
        return int(fh.read().split()[1]) * PAGE / 2**20


def remote_tails(path: Path) -> list[str]:
    """``tail`` processes of the SSH test user that follow ``path`` on the host (from the
    end, or resumed at an offset after a reconnect)."""
    done = subprocess.run(
        ["pgrep", "-u", TEST_USER, "-f", f"tail -F -v (-n 0|-c \\+[0-9]+) -- {path}"], capture_output=True, text=True
    )
    return done.stdout.split()


def kill_remote_tail(path: Path) -> None:
    """Kill the tail following ``path`` on the host (the one this test's follower started)."""
    pids = remote_tails(path)
    assert len(pids) == 1, pids
    os.kill(int(pids[0]), signal.SIGKILL)


async def no_tail_left(path: Path, within: float = 0.0) -> bool:
    """Whether no tail of ``path`` is left on the host (waiting up to ``within`` seconds)."""
    deadline = time.monotonic() + within
    while remote_tails(path):
        if time.monotonic() >= deadline:
            return False
        await asyncio.sleep(0.05)
    return True


@pytest.fixture
def log_dir(running_sshd: Sshd) -> Iterator[Path]:
    """A folder of the SSH test user on the host with an empty ``app.log``."""
    folder = running_sshd.server_dir / f"monitor-{secrets.token_hex(4)}"
    folder.mkdir()
    (folder / "app.log").touch()
    shutil.chown(folder, TEST_USER)
    shutil.chown(folder / "app.log", TEST_USER)
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def start_writer(log: Path, count: int, rate: float) -> subprocess.Popen[str]:
    """The writer, run on the host as the SSH test user."""
    return subprocess.Popen(
        ["runuser", "-u", TEST_USER, "--", "/usr/bin/python3", "-c", WRITER, str(log), str(count), str(rate)],
        stdout=subprocess.PIPE,
        text=True,
    )


def ssh_host(server: Sshd) -> SshHost:
    return SshHost(
        server.host,
        name="web1",
        port=server.port,
        user=server.user,
        identity_file=server.client_key,
        known_hosts=server.known_hosts,
        connect_timeout=5.0,
    )


def numbers(lines: list[TailLine]) -> list[int]:
    return [int(line.text[:7]) for line in lines if not line.notice]


async def take(follower: LogFollower, until: Callable[[list[TailLine]], bool], timeout: float) -> list[TailLine]:
    got: list[TailLine] = []
    async with asyncio.timeout(timeout):
        async for batch in follower.batches(0.05):
            got.extend(batch.lines)
            if until(got):
                return got
    raise AssertionError("unreachable")


async def test_every_line_a_remote_writer_appends_arrives_and_no_tail_is_left(
    running_sshd: Sshd, log_dir: Path
) -> None:
    log = log_dir / "app.log"
    follower = LogFollower([ssh_host(running_sshd)], log_sources([str(log_dir / "*.log")], []))
    async with follower:
        await take(follower, lambda got: any("following app.log" in line.text for line in got), 15)
        assert len(remote_tails(log)) == 1
        writer = start_writer(log, 20_000, 0)  # as fast as it can
        lines = await take(follower, lambda got: len(numbers(got)) + follower.stats["web1"].dropped >= 20_000, 60)
        assert writer.wait(30) == 0
    stats = follower.stats["web1"]
    assert numbers(lines) == list(range(20_000)) and stats.dropped == 0
    assert (stats.lines, stats.errors) == (20_000, 200)
    assert all(line.source == "app.log" for line in lines if not line.notice)
    assert await no_tail_left(log)  # stopped before the context was left


async def test_the_follower_reconnects_after_sshd_restarts(running_sshd: Sshd, log_dir: Path) -> None:
    log = log_dir / "app.log"
    follower = LogFollower([ssh_host(running_sshd)], log_sources([str(log)], []), retry_min=0.2)
    writer = start_writer(log, 2_000, 200)  # ten seconds of lines
    try:
        async with follower:
            before = await take(follower, lambda got: len(numbers(got)) >= 100, 15)
            running_sshd.restart()  # drops every connection, as a server that died
            after = await take(follower, lambda got: any("reconnected:" in line.text for line in got), 30)
            after += await take(follower, lambda got: len(numbers(got)) >= 50, 15)
    finally:
        writer.kill()
        writer.wait(10)
    notices = [line.text for line in before + after if line.notice]
    assert any("the log files stopped (" in text and "reconnecting in" in text for text in notices), notices
    assert "reconnected: following app.log" in notices
    assert numbers(after)[-1] > numbers(before)[-1]
    # Resumed where it stopped: the lines written while sshd was down arrive, none twice.
    got = numbers(before + after)  # the writer started first: from the line the tail began at
    assert got == list(range(got[0], got[0] + len(got))), "lines missing or repeated across the reconnect"
    assert any(text.startswith("resumed app.log where it stopped after ") for text in notices), notices
    assert not any("may be missing" in text for text in notices)
    stats = follower.stats["web1"]
    assert stats.reconnects >= 1 and stats.lines == len(numbers(before + after)) + stats.dropped
    # The tail started before the restart was orphaned by sshd's death (not by us): it
    # ends at its next write to the dead channel; ours was stopped when we left.
    with log.open("a") as fh:
        fh.write("wake the orphan\n")
    assert await no_tail_left(log, within=10)


async def test_a_killed_remote_tail_resumes_where_it_stopped_and_every_line_arrives(
    running_sshd: Sshd, log_dir: Path
) -> None:
    log = log_dir / "app.log"
    follower = LogFollower([ssh_host(running_sshd)], log_sources([str(log_dir / "*.log")], []), retry_min=0.5)
    total = 3_000
    async with follower:
        await take(follower, lambda got: any("following app.log" in line.text for line in got), 15)
        writer = start_writer(log, total, 1_000)  # three seconds of lines
        try:
            lines = await take(follower, lambda got: len(numbers(got)) >= 300, 15)
            kill_remote_tail(log)  # mid-stream; the writer goes on while the follower waits
            lines += await take(follower, lambda got: any("resumed app.log" in line.text for line in got), 15)
            lines += await take(follower, lambda got: len(numbers(lines + got)) >= total, 30)
            assert writer.wait(30) == 0
        finally:
            writer.kill()
    notices = [line.text for line in lines if line.notice]
    assert numbers(lines) == list(range(total)), "lines missing or repeated across the restart"
    assert any(text.startswith("the log files stopped (") for text in notices), notices
    assert any(text.startswith("resumed app.log where it stopped after ") for text in notices), notices
    assert not any("may be missing" in text for text in notices)
    stats = follower.stats["web1"]
    assert (stats.lines, stats.dropped, stats.reconnects) == (total, 0, 1)
    assert await no_tail_left(log)


async def test_a_restart_that_cannot_resume_marks_the_gap_with_what_is_known(running_sshd: Sshd, log_dir: Path) -> None:
    # Two files (one tail for both: no single offset to resume from), then one of them
    # truncated: the marker says so, with the bytes written meanwhile where they are known.
    first, second = log_dir / "app.log", log_dir / "worker.log"
    second.write_text("")
    shutil.chown(second, TEST_USER)
    follower = LogFollower([ssh_host(running_sshd)], log_sources([str(log_dir / "*.log")], []), retry_min=1.0)
    async with follower:
        await take(follower, lambda got: any("following app.log, worker.log" in line.text for line in got), 15)
        append_lines(first, "before 1", "before 2")
        append_lines(second, "w before")
        await take(follower, lambda got: sum(not line.notice for line in got) >= 3, 15)
        kill_remote_tail(first)
        missed = append_lines(first, "while down 1", "while down 2 — ü")
        with second.open("w") as fh:  # truncated while the follower is away
            fh.write("")
        got = await take(follower, lambda got: any("may be missing" in line.text for line in got), 15)
        append_lines(first, "after")
        got += await take(follower, lambda got: any(line.text == "after" for line in got), 15)
    [marker] = [line.text for line in got if "may be missing" in line.text]
    assert re.fullmatch(
        r"── web1: reconnected after \d+ s; lines written meanwhile may be missing "
        rf"\(app\.log: {missed} bytes written meanwhile not shown; worker\.log: replaced or truncated meanwhile\) ──",
        marker,
    ), marker
    assert "while down 1" not in [line.text for line in got]
    assert await no_tail_left(first)


def append_lines(path: Path, *lines: str) -> int:
    """Append ``lines`` to ``path``; the bytes written."""
    data = "".join(line + "\n" for line in lines).encode()
    with path.open("ab") as fh:
        fh.write(data)
    return len(data)


class _Health(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(200)
        self.end_headers()
        self.wfile.write(b'{"version": "1.0.0"}')

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def health_url() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Health)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_port}/api/health"
    finally:
        server.shutdown()
        server.server_close()


RATE, SECONDS, MAX_LINES = 1_000, 60, 2_000
#: RSS growth allowed from 10 s to 60 s, in MiB: the pane, the store, the held lines and
#: the health history are all full long before 10 s; what grows is counters.
RSS_BOUND_MIB = 10.0


async def test_1000_lines_a_second_for_60_s_every_line_accounted_memory_flat_no_tail_left(
    running_sshd: Sshd, log_dir: Path, health_url: str, tmp_path: Path
) -> None:
    log = log_dir / "app.log"
    config_path = tmp_path / "iact-release.toml"
    config_path.write_text(
        f"""[environments.production]
transport = "ssh"
hosts = ["127.0.0.1"]
user = "{running_sshd.user}"
port = {running_sshd.port}
identity_file = {json.dumps(str(running_sshd.client_key))}
known_hosts = {json.dumps(str(running_sshd.known_hosts))}
connect_timeout = 5
app_dir = {json.dumps(str(log_dir))}
health_url = "{health_url}"

[environments.production.logs]
paths = [{json.dumps(str(log_dir / "*.log"))}]

[monitor]
health_interval_seconds = 1
host_interval_seconds = 2
max_lines = {MAX_LINES}
"""
    )
    config = load_config(config_path)
    session = MonitorSession(config, "production", state_dir=tmp_path / "state")
    app = make_monitor_app(config, "production", session=session, snapshot_mode=True)
    total = RATE * SECONDS
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, MonitorScreen)
        async with asyncio.timeout(15):
            while session.tail_stats["127.0.0.1"].state != "following":
                await pilot.pause(0.05)
        writer = start_writer(log, total, RATE)
        started = time.monotonic()

        async def until(second: float) -> None:
            await asyncio.sleep(max(0.0, started + second - time.monotonic()))

        await until(10)
        rss_10 = rss_mib()
        await pilot.press("p")  # paused for 3 s: ~3,000 lines arrive, the newest 2,000 are kept
        await until(13)
        await pilot.press("p")
        await pilot.press("slash", *"error", "enter")  # a filter for 10 s: most lines hidden
        await until(23)
        await pilot.press("slash", "ctrl+u", "enter")
        await until(SECONDS)
        rss_60 = rss_mib()
        assert writer.wait(30) == 0
        async with asyncio.timeout(30):  # the last lines in flight
            while screen.received_lines + screen.dropped_lines < total:
                await pilot.pause(0.05)
        stats = session.tail_stats["127.0.0.1"]
        pane_lines = screen.tail_log.line_count
        await pilot.press("q")
        await pilot.pause()
    # Every line written is accounted for: received by the follower and by the screen
    # (or counted as dropped), then shown, hidden by the filter, or dropped while paused.
    assert stats.lines == total and stats.errors == total // 100
    assert screen.received_lines + screen.dropped_lines == total
    assert screen.shown_lines + screen.hidden_lines + screen.paused_dropped == screen.received_lines
    assert screen.paused_dropped > 0 and screen.hidden_lines > 0
    assert pane_lines <= MAX_LINES
    assert rss_60 - rss_10 < RSS_BOUND_MIB, f"RSS {rss_10:.1f} MiB at 10 s, {rss_60:.1f} MiB at 60 s"
    assert session.health.requests >= SECONDS - 5
    # Leaving stopped the remote tail before the screen was gone.
    assert screen.stopped and not remote_tails(log)
