"""The monitor's services on the local host: tails, error counting, rotation, bounds,
restarts, journalctl, host figures, health polling, the filter and the session summary.

The same follower over a real sshd (reconnects, remote processes left) is in
tests/e2e/test_ssh_monitor.py.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from iact_tui.config import Config, load_config
from iact_tui.engine.journal import Journal, read_journal
from iact_tui.engine.monitor import MonitorSession
from iact_tui.errors import ConfigError
from iact_tui.services.monitor import (
    FileMark,
    HealthSample,
    HealthStats,
    LineFilter,
    LogFollower,
    TailLine,
    error_matcher,
    files_command,
    health_client,
    log_sources,
    parse_host_stats,
    poll_health,
    read_host_stats,
)
from iact_tui.services.remote import CommandResult, Line, LocalHost, run_collect


async def collect(
    follower: LogFollower, until: Callable[[list[TailLine]], bool], timeout: float = 10.0
) -> list[TailLine]:
    """Lines from ``follower`` until ``until(lines)`` holds (a deadline guards the test)."""
    lines: list[TailLine] = []
    async with asyncio.timeout(timeout):
        async for batch in follower.batches(0.02):
            lines.extend(batch.lines)
            if until(lines):
                return lines
    raise AssertionError("unreachable")


def has_notice(text: str) -> Callable[[list[TailLine]], bool]:
    return lambda lines: any(line.notice and text in line.text for line in lines)


def log_lines(lines: list[TailLine]) -> list[TailLine]:
    return [line for line in lines if not line.notice]


def tails_of(path: Path) -> list[int]:
    """Pids of local processes following ``path`` (a tail the follower left behind)."""
    done = subprocess.run(["pgrep", "-f", f"tail -F -v -n 0 -- .*{path}"], capture_output=True, text=True)
    return [int(pid) for pid in done.stdout.split()]


def append(path: Path, *lines: str) -> None:
    with path.open("a", encoding="utf-8") as fh:
        fh.write("".join(line + "\n" for line in lines))


# -- tails -------------------------------------------------------------------------------


async def test_lines_of_every_file_come_with_their_source_and_errors_counted(tmp_path: Path) -> None:
    app, access = tmp_path / "app.log", tmp_path / "access.log"
    app.write_text("old line, before the follow\n")
    access.touch()
    follower = LogFollower([LocalHost("web1")], log_sources([str(tmp_path / "*.log")], []))
    async with follower:
        await collect(follower, has_notice("following"))
        append(app, "INFO started", "", "ERROR database is locked", "Traceback (most recent call last):")
        append(access, '127.0.0.1 - - "GET / HTTP/1.1" 502 157', '127.0.0.1 - - "GET / HTTP/1.1" 200 12')
        append(app, "INFO done")
        lines = await collect(follower, lambda got: len(log_lines(got)) >= 7)
    # In order within each file (tail reads the files as they change, not in write order).
    got = [(line.source, line.text, line.error) for line in log_lines(lines)]
    assert [item for item in got if item[0] == "app.log"] == [
        ("app.log", "INFO started", False),
        ("app.log", "", False),  # a blank line of the log is kept (tail's own blank lines are not)
        ("app.log", "ERROR database is locked", True),
        ("app.log", "Traceback (most recent call last):", True),
        ("app.log", "INFO done", False),
    ]
    assert [item for item in got if item[0] == "access.log"] == [
        ("access.log", '127.0.0.1 - - "GET / HTTP/1.1" 502 157', True),
        ("access.log", '127.0.0.1 - - "GET / HTTP/1.1" 200 12', False),
    ]
    stats = follower.stats["web1"]
    assert (stats.lines, stats.errors, stats.dropped) == (7, 3, 0)
    assert stats.errors_by_source == {"app.log": 2, "access.log": 1}
    assert stats.state == "stopped"
    assert not tails_of(tmp_path)


async def test_configured_patterns_replace_the_defaults(tmp_path: Path) -> None:
    log = tmp_path / "app.log"
    log.touch()
    follower = LogFollower([LocalHost("web1")], log_sources([str(log)], []), patterns=[r"\bWARN(ING)?\b", "slow"])
    async with follower:
        await collect(follower, has_notice("following"))
        append(log, "ERROR not an error here", "WARNING disk 91%", "a slow query", "end")
        lines = await collect(follower, lambda got: any(line.text == "end" for line in got))
    assert [line.error for line in log_lines(lines)] == [False, True, True, False]


async def test_paths_with_shell_characters_are_never_run(tmp_path: Path) -> None:
    odd = tmp_path / "a b $(touch pwned); `touch pwned2`.log"
    odd.touch()
    follower = LogFollower(
        [LocalHost("web1")], log_sources([str(odd), str(tmp_path / "nothing-*.log")], []), patterns=["x"]
    )
    async with follower:
        lines = await collect(follower, has_notice("following"))
        append(odd, "hello")
        lines += await collect(follower, lambda got: any(line.text == "hello" for line in got))
    assert [line.source for line in log_lines(lines)] == [odd.name]
    assert any(line.notice and line.text == f"no file matches {tmp_path}/nothing-*.log" for line in lines)
    assert not (tmp_path / "pwned").exists() and not Path("pwned").exists() and not Path("pwned2").exists()


async def test_a_rotated_file_is_followed_under_its_name(tmp_path: Path) -> None:
    log = tmp_path / "app.log"
    log.touch()
    follower = LogFollower([LocalHost("web1")], log_sources([str(log)], []))
    async with follower:
        await collect(follower, has_notice("following"))
        append(log, "before rotation")
        await collect(follower, lambda got: any(line.text == "before rotation" for line in got))
        log.rename(tmp_path / "app.log.1")
        append(log, "after rotation")
        lines = await collect(follower, lambda got: any(line.text == "after rotation" for line in got))
    assert [line.source for line in log_lines(lines)] == ["app.log"]


async def test_a_missing_file_is_said_and_followed_once_it_appears(tmp_path: Path) -> None:
    log = tmp_path / "later.log"
    follower = LogFollower([LocalHost("web1")], log_sources([str(log)], []))
    async with follower:
        lines = await collect(follower, has_notice("No such file"))
        append(log, "it is here")
        lines = await collect(follower, lambda got: any(line.text == "it is here" for line in got))
    assert log_lines(lines)[0].source == "later.log"


async def test_a_consumer_behind_loses_the_oldest_lines_counted(tmp_path: Path) -> None:
    log = tmp_path / "app.log"
    log.touch()
    follower = LogFollower([LocalHost("web1")], log_sources([str(log)], []), max_pending=100)
    async with follower:
        await collect(follower, has_notice("following"))
        append(log, *(f"line {i}" for i in range(1000)))
        async with asyncio.timeout(10):
            while follower.stats["web1"].lines < 1000:  # nobody consumes meanwhile
                await asyncio.sleep(0.02)
        received: list[TailLine] = []
        dropped = 0
        async for batch in follower.batches(0.01):
            received.extend(batch.lines)
            dropped += batch.dropped
            if follower.pending == 0:
                break
    assert len(received) + dropped == 1000
    assert dropped == follower.stats["web1"].dropped == 900
    assert [line.text for line in received] == [f"line {i}" for i in range(900, 1000)]  # the newest kept


async def test_a_tail_that_ends_is_restarted_saying_so(tmp_path: Path) -> None:
    log = tmp_path / "app.log"
    log.touch()
    follower = LogFollower([LocalHost("web1")], log_sources([str(log)], []), retry_min=0.05)
    async with follower:
        await collect(follower, has_notice("following"))
        [pid] = tails_of(log)
        os.kill(pid, signal.SIGKILL)  # as when the host's tail dies
        lines = await collect(follower, has_notice("reconnected: following app.log"))
        append(log, "still here")
        lines += await collect(follower, lambda got: any(line.text == "still here" for line in got))
        assert follower.stats["web1"].reconnects == 1
        assert follower.stats["web1"].state == "following"
    notices = [line.text for line in lines if line.notice]
    assert any(
        text.startswith("the log files stopped (exited") and "reconnecting in 0.05 s" in text for text in notices
    )
    assert not tails_of(log)


async def test_stopping_ends_every_tail_before_it_returns(tmp_path: Path) -> None:
    logs = [tmp_path / f"{name}.log" for name in ("a", "b")]
    for log in logs:
        log.touch()
    hosts = [LocalHost("web1"), LocalHost("web2")]
    follower = LogFollower(hosts, log_sources([str(p) for p in logs], []))
    follower.start()
    await collect(follower, lambda got: sum(1 for line in got if "following" in line.text) == 2)
    assert len(tails_of(tmp_path)) == 2
    await follower.stop()
    assert not tails_of(tmp_path)
    assert {s.state for s in follower.stats.values()} == {"stopped"}


# -- journalctl --------------------------------------------------------------------------


def fake_journalctl(folder: Path, record: Path) -> None:
    """A ``journalctl`` on PATH that records its arguments and prints two entries."""
    script = folder / "journalctl"
    script.write_text(
        "#!/bin/sh\n"
        f'echo "$@" > {record}\n'
        'echo "2024-05-01T12:00:00+0000 web1 gunicorn[12]: GET /api/health"\n'
        'echo "2024-05-01T12:00:01+0000 web1 gunicorn[12]: CRITICAL worker timeout"\n'
        "exec sleep 600\n"
    )
    script.chmod(0o755)


async def test_units_are_followed_with_journalctl(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    record = tmp_path / "args"
    fake_journalctl(bin_dir, record)
    monkeypatch.setenv("PATH", f"{bin_dir}:{os.environ['PATH']}")
    follower = LogFollower([LocalHost("web1")], log_sources([], ["iact.service"]))
    async with follower:
        lines = await collect(follower, lambda got: len(log_lines(got)) == 2)
    assert record.read_text().split() == ["-f", "-n", "0", "-o", "short-iso", "--no-pager", "-u", "iact.service"]
    assert [(line.source, line.error) for line in log_lines(lines)] == [("iact.service", False), ("iact.service", True)]
    assert any(line.notice and line.text == "following the journal of iact.service" for line in lines)


async def test_a_host_without_journalctl_is_said_once_and_not_retried(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    empty = tmp_path / "bin"
    empty.mkdir()
    for tool in ("sh", "printf"):
        if Path(f"/usr/bin/{tool}").exists():
            (empty / tool).symlink_to(f"/usr/bin/{tool}")
    monkeypatch.setenv("PATH", str(empty))
    follower = LogFollower([LocalHost("web1")], log_sources([], ["a.service", "b.service"]), retry_min=0.01)
    async with follower:
        lines = await collect(follower, has_notice("cannot follow"))
        await asyncio.sleep(0.1)
        assert follower.stats["web1"].reconnects == 0
        assert follower.stats["web1"].state == "unavailable"
    [notice] = [line.text for line in lines if line.notice and "cannot follow" in line.text]
    assert notice.startswith("cannot follow the journal of a.service, b.service: journalctl cannot run there")


# -- commands, patterns, figures ----------------------------------------------------------


def test_the_files_command_quotes_every_path_and_expands_globs_remotely() -> None:
    script = files_command("@n", ["/var/log/app 1.log", "~/logs/*.log", "/x/'q'.log"])
    assert "set -- \"$@\" '/var/log/app 1.log'" in script
    assert "p=\"$HOME\"/'logs/*.log'; " in script
    assert "'/x/'\"'\"'q'\"'\"'.log'" in script
    assert script.endswith('exec tail -F -v -n 0 -- "$@"')


async def test_the_resume_script_resumes_only_the_same_file_after_a_newline(tmp_path: Path) -> None:
    path = tmp_path / "it's app.log"
    path.write_bytes(b"one\ntwo\nthree\n")
    inode = path.stat().st_ino

    async def run(mark: FileMark) -> list[str]:
        script = files_command("@n", [str(path)], (str(path), mark)).replace("exec tail -F", "exec tail")
        result, lines = await run_collect(LocalHost("local"), script, timeout=10)
        assert result.ok, result
        return lines

    # Four bytes read ("one\n"): resumed at "two", nothing printed twice.
    assert (await run(FileMark(inode, 4)))[-5:] == ["@n resume", "@n tailing", f"==> {path} <==", "two", "three"]
    for mark in (FileMark(inode, 5), FileMark(inode + 1, 4), FileMark(inode, 99)):
        # Mid-line (the count was off), another file, or a shorter one: from the end, said with "at".
        lines = await run(mark)
        assert "@n resume" not in lines and f"@n at {inode} 14 {path}" in lines, (mark, lines)
    with pytest.raises(ValueError, match="negative"):
        files_command("@n", [str(path)], (str(path), FileMark(inode, -1)))


def test_bad_patterns_and_paths_are_config_errors() -> None:
    with pytest.raises(ConfigError, match="not a valid regular expression"):
        error_matcher(["(unclosed"])
    with pytest.raises(ConfigError):
        error_matcher([])
    with pytest.raises(ConfigError, match="newline"):
        log_sources(["/a\n/b"], [])


def test_host_figures_are_read_from_proc_output() -> None:
    stats = parse_host_stats(
        "web1",
        ["0.52 0.41 0.30 2/345 6789", "MemTotal:        4000000 kB", "MemAvailable:    1000000 kB"],
        at=1.0,
    )
    assert stats.load == (0.52, 0.41, 0.30)
    assert stats.mem_used_fraction == pytest.approx(0.75)
    assert stats.text() == "load 0.52 0.41 0.30 · mem 2.9 of 3.8 GiB used (75%)"
    assert parse_host_stats("web1", ["cat: /proc/loadavg: No such file"]).error


async def test_host_figures_of_this_machine_and_of_a_host_that_fails() -> None:
    stats = await read_host_stats(LocalHost("here"))
    assert stats.error == "" and stats.load is not None and stats.mem_total_kib

    class Broken(LocalHost):
        async def stream(self, command: str, **kw: object) -> AsyncIterator[Line | CommandResult]:
            yield Line("stderr", "grep: /proc/meminfo: Permission denied")
            yield CommandResult(command, self.name, 2, 0.0, (), ("grep: /proc/meminfo: Permission denied",))

    broken = await read_host_stats(Broken("web9"))
    assert broken.error == "grep: /proc/meminfo: Permission denied"
    assert broken.text() == "unavailable: grep: /proc/meminfo: Permission denied"


def test_health_figures_stay_bounded_and_keep_the_worst() -> None:
    stats = HealthStats(history=120, worst=3)
    for i in range(10_000):
        status = 503 if i % 1000 == 0 else 200
        stats.add(HealthSample(float(i), float(i % 500), status))
    assert stats.requests == 10_000 and stats.errors == 10
    assert len(stats.history) == 120
    assert [round(ms) for ms, _, _ in stats.worst] == [499, 499, 499]
    figures = stats.figures()
    assert figures["requests"] == 10_000 and len(figures["worst"]) == 3
    json.dumps(figures)


@pytest.fixture
def health_server() -> Iterator[str]:
    """A loopback server: ``/ok`` answers 200, ``/down`` 503."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200 if self.path == "/ok" else 503)
            self.end_headers()
            self.wfile.write(b"{}")

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()


async def test_health_polls_time_answers_and_count_failures(health_server: str) -> None:
    closed = ThreadingHTTPServer(("127.0.0.1", 0), BaseHTTPRequestHandler)
    port = closed.server_port
    closed.server_close()
    async with health_client(2.0) as client:
        ok = await poll_health(client, f"{health_server}/ok")
        down = await poll_health(client, f"{health_server}/down")
        gone = await poll_health(client, f"http://127.0.0.1:{port}/")
    assert ok.ok and ok.status == 200 and ok.elapsed_ms > 0
    assert not down.ok and down.status == 503
    assert gone.status is None and gone.error == "cannot connect" and gone.text() == "cannot connect"


def test_the_filter_takes_text_with_smart_case_or_a_regex() -> None:
    assert LineFilter.parse("")("anything") and not LineFilter.parse("").active
    assert LineFilter.parse("/")("anything")
    lower = LineFilter.parse("error")
    assert lower("an ERROR here") and not lower("fine")
    upper = LineFilter.parse("Error")
    assert upper("an Error here") and not upper("an ERROR here")
    regex = LineFilter.parse("/5\\d\\d /")
    assert regex.is_regex and regex('"GET /" 502 12') and not regex('"GET /" 200 12')
    assert LineFilter.parse("/time(out|d out)")("Timed out waiting")  # closing slash optional
    with pytest.raises(ValueError, match="not a valid regular expression"):
        LineFilter.parse("/bad(/")


# -- the session -------------------------------------------------------------------------


def monitor_config(tmp_path: Path, logs: str = "", url: str = "http://127.0.0.1:9/health") -> Config:
    path = tmp_path / "iact-release.toml"
    path.write_text(
        f'[environments.production]\napp_dir = "."\nhealth_url = "{url}"\n{logs}\n'
        "[monitor]\nhealth_interval_seconds = 1\nhost_interval_seconds = 1\nmax_lines = 500\n"
    )
    return load_config(path)


async def test_a_session_without_logs_says_so_and_summarises_health_and_hosts(
    tmp_path: Path, health_server: str
) -> None:
    config = monitor_config(tmp_path, url=f"{health_server}/ok")
    session = MonitorSession(config, "production", state_dir=tmp_path / "state")
    assert not session.has_logs and "[environments.production.logs]" in session.no_logs_text
    assert [batch async for batch in session.log_batches()] == []
    samples = session.health_samples()
    assert (await anext(samples)).ok
    await samples.aclose()
    readings = session.host_readings()
    assert (await anext(readings)).host == "production"
    await readings.aclose()
    path = session.save_summary()
    session.save_summary()  # a second summary goes to the same run folder
    await session.stop()
    records = read_journal(path).records
    assert path.parent.parent == tmp_path / "state" / "runs"
    assert [r["kind"] for r in records] == ["run_started", "monitor_summary", "monitor_summary"]
    assert records[0]["flow"] == "monitor" and records[0]["env"] == "production"
    summary = records[1]
    assert summary["health"]["requests"] == 1 and summary["health"]["errors"] == 0
    assert summary["hosts"]["production"]["lines"] == 0 and summary["hosts"]["production"]["load"]


async def test_a_session_appends_its_summary_to_the_run_journal(tmp_path: Path) -> None:
    log = tmp_path / "app.log"
    log.touch()
    config = monitor_config(tmp_path, logs=f'[environments.production.logs]\npaths = ["{log}"]')
    journal = Journal(tmp_path / "journal.jsonl")
    session = MonitorSession(config, "production", journal=journal)
    batches = session.log_batches(0.02)
    first = await anext(batches)
    assert any("following app.log" in line.text for line in first.lines)
    append(log, "ERROR one", "fine")
    seen = 0
    while seen < 2:
        seen += len([line for line in (await anext(batches)).lines if not line.notice])
    await batches.aclose()
    assert not tails_of(log)
    session.save_summary()
    await session.stop()
    journal.close()
    [record] = read_journal(tmp_path / "journal.jsonl").records
    assert record["kind"] == "monitor_summary"
    assert (record["lines"], record["errors"]) == (2, 1)
    assert record["hosts"]["production"]["errors_by_source"] == {"app.log": 1}
    assert record["sources"] == [str(log)]


def test_an_unknown_environment_is_named_with_the_known_ones(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no environment 'staging'") as info:
        MonitorSession(monitor_config(tmp_path), "staging")
    assert "production" in info.value.fix
