"""The monitor screen under Pilot, fed by real ``tail -F`` processes on the local host:
the merged pane, error lines marked and counted, the filter, pause and resume, the host
view, the summary, leaving with nothing left running, and the monitor offered after a
deploy (``o`` on the deploy screen)."""

from __future__ import annotations

import asyncio
import contextlib
import subprocess
import sys
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from rich.text import Text
from textual import events
from textual.pilot import Pilot
from textual.widgets import Input, Sparkline, Static
from textual.widgets._footer import FooterKey

from iact_tui.app import MonitorApp, make_app, make_monitor_app
from iact_tui.config import Config, load_config
from iact_tui.engine.events import Event, StepFinished, StepStarted
from iact_tui.engine.journal import read_journal
from iact_tui.engine.monitor import MonitorSession
from iact_tui.engine.run import ReleaseRun
from iact_tui.screens import DeployScreen, MonitorScreen
from iact_tui.services.remote import Host, LocalHost
from iact_tui.widgets.tail_log import ERROR_MARK, ERROR_STYLE, NOTICE_MARK, TailLog

SIZE = (100, 30)


@pytest.fixture
def health_url() -> Iterator[str]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.end_headers()
            self.wfile.write(b'{"version": "1.0.0"}')

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_port}/api/health"
    finally:
        server.shutdown()
        server.server_close()


def config_for(tmp_path: Path, url: str, *, logs: bool = True, max_lines: int = 500) -> Config:
    section = f'[environments.production.logs]\npaths = ["{tmp_path}/*.log"]\n' if logs else ""
    path = tmp_path / "iact-release.toml"
    path.write_text(
        f'[environments.production]\napp_dir = "."\nhealth_url = "{url}"\n{section}'
        f"[monitor]\nhealth_interval_seconds = 1\nhost_interval_seconds = 1\nmax_lines = {max_lines}\n"
    )
    return load_config(path)


def app_for(
    tmp_path: Path, url: str, *, hosts: list[Host] | None = None, logs: bool = True, max_lines: int = 500
) -> MonitorApp:
    (tmp_path / "app.log").touch()
    config = config_for(tmp_path, url, logs=logs, max_lines=max_lines)
    session = MonitorSession(config, "production", hosts=hosts, state_dir=tmp_path / "state")
    return make_monitor_app(config, "production", session=session, snapshot_mode=True)


def append(path: Path, *lines: str) -> None:
    with path.open("a", encoding="utf-8") as fh:
        fh.write("".join(line + "\n" for line in lines))


async def wait_for(pilot: Pilot[None], ready: Callable[[], bool], timeout: float = 10.0) -> None:
    """Let the app run until ``ready()`` (lines come from real tail processes)."""
    async with asyncio.timeout(timeout):
        while not ready():
            await pilot.pause(0.02)


def screen_of(app: MonitorApp) -> MonitorScreen:
    assert isinstance(app.screen, MonitorScreen)
    return app.screen


def pane(app: MonitorApp) -> list[str]:
    log = screen_of(app).tail_log
    log.flush()
    return list(log.log_widget.lines)


def texts(app: MonitorApp) -> list[str]:
    """The text column of the log lines in the pane (notices left out)."""
    return [line.split("  ")[-1].lstrip() for line in pane(app) if not line.startswith(NOTICE_MARK)]


def tails_of(path: Path) -> list[str]:
    done = subprocess.run(["pgrep", "-f", f"tail -F -v -n 0 -- {path}"], capture_output=True, text=True)
    return done.stdout.split()


async def started(pilot: Pilot[None], app: MonitorApp, count: int = 1) -> MonitorScreen:
    await pilot.pause()
    screen = screen_of(app)
    await wait_for(pilot, lambda: sum(1 for s in screen.session.tail_stats.values() if s.state == "following") == count)
    return screen


async def test_lines_are_merged_with_the_host_column_and_errors_marked_and_counted(
    tmp_path: Path, health_url: str
) -> None:
    app = app_for(tmp_path, health_url)
    async with app.run_test(size=SIZE) as pilot:
        screen = await started(pilot, app)
        append(tmp_path / "app.log", "INFO one", "ERROR two", "INFO three")
        await wait_for(pilot, lambda: screen.received_lines == 3)
        lines = [line for line in pane(app) if not line.startswith(NOTICE_MARK)]
        assert lines == [
            "  production  app.log       INFO one",
            f"{ERROR_MARK} production  app.log       ERROR two",
            "  production  app.log       INFO three",
        ]
        text = Text(lines[1])
        screen.tail_log.log_widget.highlighter.highlight(text)
        assert any(str(span.style) == ERROR_STYLE for span in text.spans)
        hosts = screen.query_one("#monitor-hosts", Static)
        await wait_for(pilot, lambda: "production  3 lines · 1 error · load " in str(hosts.render()))
        assert " mem " in str(hosts.render())
        await wait_for(pilot, lambda: screen.session.health.requests >= 1)
        assert "200 in" in str(screen.query_one("#health-text", Static).render())
        assert screen.query_one("#health-spark", Sparkline).data
        await pilot.press("q")
        await pilot.pause()
    assert screen.stopped and not tails_of(tmp_path)


async def test_the_filter_takes_text_or_a_regex_and_keeps_the_last_good_one(tmp_path: Path, health_url: str) -> None:
    app = app_for(tmp_path, health_url)
    async with app.run_test(size=SIZE) as pilot:
        screen = await started(pilot, app)
        append(tmp_path / "app.log", '"GET / HTTP/1.1" 200 1', '"GET /x HTTP/1.1" 502 9', "worker boot", "BOOT done")
        await wait_for(pilot, lambda: screen.received_lines == 4)
        await pilot.press("slash", *"boot")
        await settled(pilot, screen)
        assert texts(app) == ["worker boot", "BOOT done"]
        await pilot.press(*["backspace"] * 4, *"/ 5\\d\\d /")
        await settled(pilot, screen)
        assert texts(app) == ['"GET /x HTTP/1.1" 502 9']
        assert "1 of the last 4 lines match" in str(screen.query_one("#filter-status", Static).render())
        await pilot.press("backspace")
        await settled(pilot, screen)
        await pilot.press("(")  # "/ 5\d\d (" is not a regex; "/ 5\d\d " was
        await settled(pilot, screen)
        status = str(screen.query_one("#filter-status", Static).render())
        assert "not a valid regular expression" in status and "keeping the last filter" in status
        assert screen.filter.text == "/ 5\\d\\d "
        assert texts(app) == ['"GET /x HTTP/1.1" 502 9']
        # Lines arriving later pass the same filter; enter goes back to the pane.
        append(tmp_path / "app.log", '"GET /y HTTP/1.1" 504 0', "quiet")
        await wait_for(pilot, lambda: screen.received_lines == 6)
        assert sum(1 for line in pane(app) if not line.startswith(NOTICE_MARK)) == 2
        await pilot.press("enter")
        assert screen.focused is screen.tail_log.log_widget
        assert screen.hidden_lines == 1  # "quiet", hidden as it arrived
        await pilot.press("q")
        await pilot.pause()


async def test_errors_only_and_one_host_at_a_time(tmp_path: Path, health_url: str) -> None:
    hosts: list[Host] = [LocalHost("web1"), LocalHost("web2")]
    app = app_for(tmp_path, health_url, hosts=hosts)
    async with app.run_test(size=SIZE) as pilot:
        screen = await started(pilot, app, count=2)
        append(tmp_path / "app.log", "INFO a", "CRITICAL b")
        await wait_for(pilot, lambda: screen.received_lines == 4)  # both hosts follow the same file here
        await pilot.press("e")
        assert sorted(line for line in pane(app) if not line.startswith(NOTICE_MARK)) == [
            f"{ERROR_MARK} web1  app.log       CRITICAL b",
            f"{ERROR_MARK} web2  app.log       CRITICAL b",
        ]
        await pilot.press("e", "h")
        assert {line[2:].split()[0] for line in pane(app) if not line.startswith(NOTICE_MARK)} == {"web1"}
        assert "web1 only" in str(screen.tail_log.border_title)
        await pilot.press("h")
        assert {line[2:].split()[0] for line in pane(app) if not line.startswith(NOTICE_MARK)} == {"web2"}
        await pilot.press("h")
        assert {line[2:].split()[0] for line in pane(app) if not line.startswith(NOTICE_MARK)} == {"web1", "web2"}
        assert {s.errors for s in screen.session.tail_stats.values()} == {1}
        await pilot.press("q")
        await pilot.pause()
    assert not tails_of(tmp_path)


async def test_pause_holds_new_lines_bounded_and_shows_them_on_resume(tmp_path: Path, health_url: str) -> None:
    app = app_for(tmp_path, health_url, max_lines=100)
    async with app.run_test(size=SIZE) as pilot:
        screen = await started(pilot, app)
        append(tmp_path / "app.log", "before")
        await wait_for(pilot, lambda: screen.received_lines == 1)
        await pilot.press("p")
        append(tmp_path / "app.log", *(f"held {i}" for i in range(250)))
        await wait_for(pilot, lambda: screen.received_lines == 251)
        assert not any("held" in line for line in pane(app))
        assert "PAUSED · 250 new" in str(screen.query_one("#monitor-state").render())
        await pilot.press("p")
        await pilot.pause()
        shown = [line for line in pane(app) if "held" in line]
        assert len(shown) == 100 and shown[-1].endswith("held 249") and shown[0].endswith("held 150")
        assert screen.paused_dropped == 150
        # Every line received is shown, hidden or counted as dropped.
        assert screen.shown_lines + screen.hidden_lines + screen.paused_dropped == screen.received_lines == 251
        assert "LIVE" in str(screen.query_one("#monitor-state").render())
        await pilot.press("q")
        await pilot.pause()


#: Appends numbered lines to PATH, PER_TICK every 10 ms, until stopped: every 50th is
#: ``ERROR <phrase> #N``, the others INFO lines. A process of its own, so the app's
#: process time (what Pilot's idle wait reads) is the app's alone.
STREAMER = """
import sys, time
path, per_tick, phrase = sys.argv[1], int(sys.argv[2]), sys.argv[3]
i = 0
with open(path, "a", buffering=1 << 16) as fh:
    while True:
        for _ in range(per_tick):
            text = f"ERROR {phrase} #{i}" if i % 50 == 0 else "INFO GET /api/health 200 in 3 ms"
            fh.write(f"{i:07d} {text}\\n")
            i += 1
        fh.flush()
        time.sleep(0.01)
"""


@contextlib.contextmanager
def streaming(path: Path, phrase: str, per_tick: int = 10) -> Iterator[None]:
    """Lines appended to ``path`` by :data:`STREAMER` (about 1,000 a second) until the block ends."""
    proc = subprocess.Popen([sys.executable, "-c", STREAMER, str(path), str(per_tick), phrase])
    try:
        yield
    finally:
        proc.kill()
        proc.wait(10)


def burst(app: MonitorApp, keys: str) -> None:
    """Send ``keys`` as a terminal does when the app is behind: every key queued at once,
    before the app has handled the first (``pilot.press`` waits for it between keys)."""
    driver = app._driver
    assert driver is not None
    for key in keys:
        name = {"/": "slash", " ": "space", ";": "semicolon", "#": "number_sign"}.get(key, key)
        event = events.Key(name, key)
        event.set_sender(app)
        driver.send_message(event)


async def settled(pilot: Pilot[None], screen: MonitorScreen) -> None:
    """Wait until what was typed in the filter box has been applied (it is debounced)."""
    box = screen.query_one("#filter-input", Input)
    await wait_for(pilot, lambda: screen.filter_typed == box.value and not screen.filter_pending, timeout=5)
    await pilot.pause()


async def test_a_filter_typed_fast_while_lines_stream_in_loses_no_key(tmp_path: Path, health_url: str) -> None:
    # Letters that are also the screen's keys (p, e, h, s) must all reach the box.
    phrase = "shop export paused; hash 5e9c"
    app = app_for(tmp_path, health_url, max_lines=2_000)

    async with app.run_test(size=SIZE) as pilot:
        screen = await started(pilot, app)
        box = screen.query_one("#filter-input", Input)
        log = tmp_path / "app.log"
        with streaming(log, phrase):
            await wait_for(pilot, lambda: screen.received_lines >= 2_000)
            # As a terminal delivers a burst: "/" and the text queued together.
            burst(app, "/shop")
            await wait_for(pilot, lambda: len(box.value) >= 4 or screen.paused or screen.errors_only, timeout=5)
            assert box.value == "shop" and screen.focused is box
            assert not screen.paused and not screen.errors_only and screen.host_view is None
            # Then the rest, key by key, while lines keep coming.
            await pilot.press(*phrase[4:])
            await wait_for(pilot, lambda: len(box.value) >= len(phrase), timeout=5)
            assert box.value == phrase and screen.focused is box
            assert not screen.paused and not screen.errors_only and screen.host_view is None
            await settled(pilot, screen)
            assert screen.filter.text == phrase
        written = len(log.read_bytes().splitlines())
        await wait_for(pilot, lambda: screen.received_lines == written)
        await pilot.press("enter")
        await pilot.pause()
        assert screen.focused is screen.tail_log.log_widget
        shown = texts(app)
        assert shown and all(phrase in text for text in shown)
        last = (written - 1) // 50 * 50
        assert shown[-1] == f"{last:07d} ERROR {phrase} #{last}"
        # Every matching line received is in the pane, in order (fewer than max_lines of them).
        numbers = [int(text[:7]) for text in shown]
        assert numbers == sorted(numbers) and screen.hidden_lines + screen.shown_lines == screen.received_lines
        await pilot.press("q")
        await pilot.pause()


async def test_keys_burst_behind_enter_in_the_filter_are_the_screens_keys(tmp_path: Path, health_url: str) -> None:
    """`/xyz` enter `p` in one burst: the filter is xyz and p pauses (it went into the box)."""
    app = app_for(tmp_path, health_url)
    async with app.run_test(size=SIZE) as pilot:
        screen = await started(pilot, app)
        box = screen.query_one("#filter-input", Input)
        burst(app, "/xyz")
        burst_keys(app, ("enter", "p"))
        # The box takes its keys in order from its own queue; the filter is applied once
        # they have arrived (debounced), whatever the order the app handled enter in.
        await wait_for(pilot, lambda: screen.filter.text == "xyz" and not screen.filter_pending, timeout=5)
        assert (box.value, screen.paused) == ("xyz", True)
        assert screen.focused is screen.tail_log.log_widget
        burst(app, "/ab")  # the box selects its text when focused: typing replaces it
        burst_keys(app, ("escape", "p"))
        await wait_for(pilot, lambda: screen.filter.text == "ab" and not screen.filter_pending, timeout=5)
        assert (box.value, screen.paused) == ("ab", False)
        assert screen.focused is screen.tail_log.log_widget
        await pilot.press("q")
        await pilot.pause()


def burst_keys(app: MonitorApp, keys: tuple[str, ...]) -> None:
    """Queue named keys (``enter``, ``escape``...) at once, as :func:`burst` does."""
    driver = app._driver
    assert driver is not None
    for key in keys:
        event = events.Key(key, {"enter": "\r", "escape": "\x1b", "backspace": "\x7f"}.get(key, key))
        event.set_sender(app)
        driver.send_message(event)


def footer_label(app: MonitorApp, key: str) -> str:
    """The description the footer shows for ``key``."""
    labels = [k.description for k in app.screen.query(FooterKey) if k.key == key]
    assert len(labels) == 1, labels
    return labels[0]


async def test_the_pause_key_reads_resume_in_the_footer_while_paused(tmp_path: Path, health_url: str) -> None:
    app = app_for(tmp_path, health_url)
    async with app.run_test(size=(140, 30)) as pilot:
        screen = await started(pilot, app)
        assert footer_label(app, "p") == "Pause"
        await pilot.press("p")
        await pilot.pause()
        assert screen.paused and footer_label(app, "p") == "Resume"
        assert screen.active_bindings["p"].binding.action == "resume"
        await pilot.press("p")
        await pilot.pause()
        assert not screen.paused and footer_label(app, "p") == "Pause"
        await pilot.press("q")
        await pilot.pause()


async def test_scrolling_up_stops_following_until_end(tmp_path: Path, health_url: str) -> None:
    app = app_for(tmp_path, health_url)
    async with app.run_test(size=SIZE) as pilot:
        screen = await started(pilot, app)
        append(tmp_path / "app.log", *(f"line {i}" for i in range(200)))
        await wait_for(pilot, lambda: screen.received_lines == 200)
        log = screen.tail_log
        log.flush()
        await pilot.pause()
        await pilot.press("pageup")
        assert not log.following
        append(tmp_path / "app.log", *(f"more {i}" for i in range(10)))
        await wait_for(pilot, lambda: screen.received_lines == 210)
        log.flush()
        assert log.unseen == 10
        await pilot.press("end")
        await wait_for(pilot, lambda: log.following and log.unseen == 0)  # a loaded machine: the key takes a moment
        await pilot.press("q")
        await pilot.pause()


async def test_no_logs_configured_is_said_and_health_still_runs(tmp_path: Path, health_url: str) -> None:
    app = app_for(tmp_path, health_url, logs=False)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        screen = screen_of(app)
        assert any("No logs configured for production" in line for line in pane(app))
        assert "no logs configured" in str(screen.query_one("#monitor-hosts", Static).render())
        await wait_for(pilot, lambda: screen.session.health.requests >= 1)
        await pilot.press("q")
        await pilot.pause()
    assert screen.stopped


async def test_the_summary_is_appended_to_a_monitor_run_journal(tmp_path: Path, health_url: str) -> None:
    app = app_for(tmp_path, health_url)
    async with app.run_test(size=SIZE) as pilot:
        screen = await started(pilot, app)
        append(tmp_path / "app.log", "ERROR x", "ok")
        await wait_for(pilot, lambda: screen.received_lines == 2)
        await pilot.press("s")
        await pilot.pause()
        path = screen.session.journal_path
        assert path is not None
        await pilot.press("q")
        await pilot.pause()
    records = read_journal(path).records
    assert [r["kind"] for r in records] == ["run_started", "monitor_summary"]
    assert records[0]["flow"] == "monitor"
    assert (records[1]["lines"], records[1]["errors"]) == (2, 1)


async def test_leaving_or_quitting_stops_every_task_and_tail(tmp_path: Path, health_url: str) -> None:
    for keys in (["escape"], ["ctrl+q"]):
        app = app_for(tmp_path, health_url, hosts=[LocalHost("web1"), LocalHost("web2")])
        async with app.run_test(size=SIZE) as pilot:
            screen = await started(pilot, app, count=2)
            assert len(tails_of(tmp_path)) == 2
            workers = [worker for worker in screen.workers if worker.node is screen]
            assert len(workers) == 3  # logs, health, hosts
            await pilot.press("slash")  # escape in the filter box goes back to the pane first
            assert isinstance(screen.focused, Input)
            await pilot.press(*keys)
            if keys == ["escape"]:
                assert screen.tail_log.log_widget.has_focus
                await pilot.press("escape")
            await pilot.pause()
        assert screen.stopped and not tails_of(tmp_path), keys
        assert all(worker.is_finished for worker in workers)
        assert not [t for t in asyncio.all_tasks() if t.get_name().startswith("tail ")]


def test_the_pane_keeps_its_search_out_and_only_follows() -> None:
    assert [binding.key for binding in TailLog.BINDINGS] == ["end"]  # type: ignore[union-attr]


# -- offered after a deploy ----------------------------------------------------------------


async def test_after_a_deploy_o_monitors_the_environment_and_the_summary_goes_to_the_run_journal(
    tmp_path: Path, health_url: str
) -> None:
    repo = tmp_path / "repo"
    repo.mkdir()
    log = tmp_path / "logs" / "app.log"
    log.parent.mkdir()
    log.touch()
    (repo / "iact-release.toml").write_text(
        '[project]\nmain_branch = "main"\n\n[checks]\ntests = ""\ncoverage_report = ""\n\n'
        f'[environments.staging]\napp_dir = "."\nhealth_url = "{health_url}"\nsteps = []\n'
        f'[environments.staging.logs]\npaths = ["{log}"]\n'
    )
    for args in (["init", "-q", "-b", "main"], ["add", "."], ["commit", "-qm", "feat: start"]):
        subprocess.run(["git", *args], cwd=repo, check=True)
    run = ReleaseRun(load_config(repo / "iact-release.toml"), state_dir=tmp_path / "state")

    async def deployed(step_id: str) -> AsyncIterator[Event]:
        yield StepStarted(step_id, "Deploy to staging")
        yield StepFinished(step_id, "ok", "deployed to staging")

    run.run_step = deployed  # type: ignore[method-assign]
    app = make_app(run.config, run=run, snapshot_mode=True)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        deploy = DeployScreen(env="staging")
        app.push_screen(deploy)
        await wait_for(pilot, deploy.is_ready)
        assert deploy.check_action("monitor", ())
        await pilot.press("o")
        await pilot.pause()
        monitor = app.screen
        assert isinstance(monitor, MonitorScreen)
        await wait_for(pilot, lambda: monitor.session.tail_stats["staging"].state == "following")
        append(log, "ERROR after the deploy")
        await wait_for(pilot, lambda: monitor.received_lines == 1)
        await pilot.press("s")
        await pilot.press("q")  # leaves the monitor, not the app
        await pilot.pause()
        assert app.screen is deploy and monitor.stopped and not tails_of(log.parent)
        await pilot.press("o")  # a second look, then quitting the app stops it too
        await pilot.pause()
        again = app.screen
        assert isinstance(again, MonitorScreen)
        await wait_for(pilot, lambda: again.session.tail_stats["staging"].state == "following")
        await pilot.press("ctrl+q")
        await pilot.pause()
    assert again.stopped and not tails_of(log.parent)
    summaries = [r for r in read_journal(run.journal_path).records if r["kind"] == "monitor_summary"]
    assert len(summaries) == 1 and summaries[0]["env"] == "staging" and summaries[0]["errors"] == 1


async def test_a_skipped_deploy_offers_no_monitor(tmp_path: Path, health_url: str) -> None:
    repo = tmp_path / "repo"
    repo.mkdir()
    (repo / "iact-release.toml").write_text('[project]\nmain_branch = "main"\n')
    subprocess.run(["git", "init", "-q", "-b", "main"], cwd=repo, check=True)
    run = ReleaseRun(load_config(repo / "iact-release.toml"), state_dir=tmp_path / "state")

    async def skipped(step_id: str) -> AsyncIterator[Event]:
        yield StepStarted(step_id, "Deploy to staging")
        yield StepFinished(step_id, "skipped", "no staging environment")

    run.run_step = skipped  # type: ignore[method-assign]
    app = make_app(run.config, run=run, snapshot_mode=True)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        deploy = DeployScreen(env="staging")
        app.push_screen(deploy)
        await wait_for(pilot, deploy.is_ready)
        assert not deploy.check_action("monitor", ())
        await pilot.press("o")
        await pilot.pause()
        assert app.screen is deploy
