"""The smoke and verify steps against a real HTTP server on 127.0.0.1 that misbehaves.

The site answers too slowly, with 500s, with a body that is not JSON, or not at all (a
port nothing listens on); each time both steps fail with a clear detail per check and no
traceback, and pass on the retry once the site is fixed. The verification's timing is
judged on its own: a p95 over the limit with no error, an error rate over the limit with
quick answers. The steps run through ``ReleaseRun.run_step`` (journal, gates) on a small
real repository whose checklist really passed.

The log scan's maintenance window on this machine (LocalHost, real files): a deploy whose
site stays in maintenance after a failure (as chosen) keeps its window open; the retry's
post commands close it, and the 503 lines of the whole window are not counted.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import itertools
import json
import re
import shlex
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from test_release_guards import git, make_repo

from iact_tui import demo
from iact_tui.config import load_config
from iact_tui.engine.events import CheckUpdate, Event, OutputLine, StepFinished
from iact_tui.engine.run import ReleaseRun
from iact_tui.engine.steps.announce import render_announcement

PASSWORD = "pa55-w0rd-for-smoke"
TIMEOUT = 0.5  # [timeouts] http and the search check's timeout, seconds
SLOW = 0.8  # what "slow" waits before answering: always over TIMEOUT
SLUGGISH = 0.25  # under TIMEOUT, over the p95 limit below
MAX_P95_MS = 150
REQUESTS = 4


@dataclass
class Site:
    """What the loopback site does; the tests change ``mode`` between runs."""

    mode: str = "ok"
    health_gets: int = 0
    port: int = 0


class _Quiet(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: object, client_address: object) -> None:
        pass  # a client that timed out closed the connection: nothing to report


def _handler(site: Site) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True

        def log_message(self, *args: object) -> None:
            pass

        def _send(self, status: int, body: bytes) -> None:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def _answer(self, ok_body: object, ok_status: int = 200) -> None:
            mode = site.mode
            if mode == "slow":
                time.sleep(SLOW)
            if mode == "500":
                self._send(500, b'{"error": "database is gone"}')
            elif mode == "badjson":
                self._send(200, b"<html>oops</html>")
            else:
                self._send(ok_status, json.dumps(ok_body).encode())

        def do_GET(self) -> None:
            if self.path == "/health":
                site.health_gets += 1
                if site.mode == "sluggish":
                    time.sleep(SLUGGISH)
                if site.mode == "flaky" and site.health_gets % 3 == 0:
                    self._send(500, b'{"error": "worker crashed"}')
                    return
                self._answer({"status": "ok", "version": "1.1.0"})
            elif self.path == "/api/search":
                self._answer({"items": [{"name": "Export"}]})
            else:
                self._send(404, b"{}")

        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            good = body == {"username": "smoke", "password": PASSWORD}
            self._answer({"ok": good}, 200 if good else 401)

    return Handler


@contextlib.contextmanager
def serving(site: Site, port: int = 0) -> Iterator[ThreadingHTTPServer]:
    httpd = _Quiet(("127.0.0.1", port), _handler(site))
    site.port = httpd.server_address[1]
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    try:
        yield httpd
    finally:
        httpd.shutdown()
        httpd.server_close()


@pytest.fixture
def site() -> Iterator[Site]:
    state = Site()
    with serving(state):
        yield state


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _env(name: str, base: str, logs: str = "") -> str:
    return (
        f'\n[environments.{name}]\napp_dir = "."\nhealth_url = "{base}/health"\n{logs}'
        + ('backup_skip_reason = "test"\n' if name == "production" else "")
        + f"\n[environments.{name}.smoke]\n"
        'commands = [{ name = "ping", run = "echo pong" }]\n'
        f'\n[environments.{name}.smoke.login]\nurl = "{base}/login"\nusername = "smoke"\n'
        'password_env = "IACT_TEST_SMOKE_PASSWORD"\n'
        f'\n[[environments.{name}.smoke.checks]]\nname = "search"\nurl = "{base}/api/search"\n'
        f'expect_json = {{ "items[0].name" = "Export" }}\ntimeout = {TIMEOUT}\n'
    )


async def cleared_run(tmp_path: Path, base: str, monkeypatch: pytest.MonkeyPatch, logs: str = "") -> ReleaseRun:
    """A small repo whose staging and production are the loopback site; checklist passed."""
    monkeypatch.setenv("IACT_TEST_SMOKE_PASSWORD", PASSWORD)
    repo = make_repo(tmp_path)
    config = repo / "iact-release.toml"
    config.write_text(
        config.read_text()
        + f"\n[timeouts]\nhttp = {TIMEOUT}\n"
        + f"\n[verify]\nrequests = {REQUESTS}\nmax_p95_ms = {MAX_P95_MS}\nmax_error_rate = 0.0\n"
        + _env("staging", base)
        + _env("production", base, logs)
    )
    git(repo, "commit", "-qam", "chore: environments")
    git(repo, "push", "-q", "origin", "main")
    run = ReleaseRun(load_config(config), state_dir=tmp_path / "state")
    await run.load_versions()
    run.choose_bump("minor")
    for check_id, _ in run.manual_checks():
        run.tick(check_id, True)
    events = [e async for e in run.run_step("preflight")]
    assert isinstance(events[-1], StepFinished) and events[-1].status == "ok", events[-1]
    return run


async def step(run: ReleaseRun, step_id: str) -> tuple[list[Event], StepFinished, dict[str, CheckUpdate]]:
    """Run one step: its events, its end, and each check's final update."""
    events = [e async for e in run.run_step(step_id)]
    last = events[-1]
    assert isinstance(last, StepFinished)
    final = {e.check_id: e for e in events if isinstance(e, CheckUpdate) and e.status != "running"}
    return events, last, final


def no_traceback(last: StepFinished, checks: dict[str, CheckUpdate]) -> None:
    text = last.message + last.fix + "".join(c.detail for c in checks.values())
    assert "Traceback" not in text and 'File "' not in text


VERIFY_IDS = ["health", "smoke:login", "smoke:http:search", "smoke:cmd:ping", "response-time", "error-rate"]

# mode → (health, login, search, response-time, error-rate) detail expected in each check
BROKEN = {
    "slow": (
        f"no answer: timed out after {TIMEOUT:g} s",
        f"no answer: timed out after {TIMEOUT:g} s",
        f"no answer within {TIMEOUT:g} s (timed out)",
        f"no successful response in {REQUESTS} request(s)",
        f"{REQUESTS} of {REQUESTS} failed (100%; limit 0%): {REQUESTS}× timed out after {TIMEOUT:g} s",
    ),
    "500": (
        'answered 500 (expected 200): {"error": "database is gone"}',
        "login as 'smoke' answered 500 (expected 200)",
        "answered 500 (expected 200); items[0].name: the body has no key 'items' (keys: error); "
        'body: {"error": "database is gone"}',
        f"no successful response in {REQUESTS} request(s)",
        f"{REQUESTS} of {REQUESTS} failed (100%; limit 0%): {REQUESTS}× 500",
    ),
    "badjson": (
        "answered 200 but the body is not a JSON object: <html>oops</html>",
        None,  # the login is judged on its status alone: it passes
        "the body is not valid JSON; body: <html>oops</html>",
        None,  # 200s are quick answers: the timing passes
        None,
    ),
}


@pytest.mark.parametrize("mode", list(BROKEN))
async def test_a_broken_site_fails_smoke_and_verify_clearly_then_the_retry_passes(
    mode: str, site: Site, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    run = await cleared_run(tmp_path, f"http://127.0.0.1:{site.port}", monkeypatch)
    health, login, search, response_time, error_rate = BROKEN[mode]
    site.mode = mode

    _, last, checks = await step(run, "smoke-staging")
    failed = ["health"] + (["login"] if login else []) + ["http:search"]
    assert last.status == "failed" and last.message == f"smoke tests failed on staging: {', '.join(failed)}"
    assert checks["health"].detail == health and checks["health"].status == "failed"
    assert checks["http:search"].detail == search
    if login:
        assert checks["login"].detail == login
    assert checks["cmd:ping"].status == "passed"
    no_traceback(last, checks)

    _, last, checks = await step(run, "verify")
    assert last.status == "failed"
    assert list(checks) == VERIFY_IDS  # every check ran, in the documented order
    expected_failed = [
        check_id
        for check_id, detail in zip(
            ["health", "smoke:login", "smoke:http:search", "response-time", "error-rate"],
            BROKEN[mode],
            strict=True,
        )
        if detail
    ]
    assert last.data["failed"] == expected_failed
    assert checks["health"].detail == health and checks["smoke:http:search"].detail == search
    if login:
        assert checks["smoke:login"].detail == login
    if response_time:
        assert checks["response-time"].detail == response_time
    if error_rate:
        assert checks["error-rate"].detail == error_rate
    assert last.message.startswith("verification failed on production: health: ")
    for check_id in expected_failed:
        assert f"{check_id}: " in last.message
    assert "roll back to v1.0.0 with `iact-tui rollback`" in last.fix and "retry the verification" in last.fix
    assert "health_url" not in last.fix  # the site answered: its URL is right
    assert last.data["timing"]["requests"] == REQUESTS
    assert last.data["thresholds"] == {"max_p95_ms": MAX_P95_MS, "max_response_ms": None, "max_error_rate": 0.0}
    no_traceback(last, checks)
    assert run.verification_complete() is False

    site.mode = "ok"
    _, last, _ = await step(run, "smoke-staging")
    assert last.status == "ok", last
    _, last, checks = await step(run, "verify")
    assert last.status == "ok", last
    assert {c.status for c in checks.values()} == {"passed"}
    assert last.data["failed"] == [] and last.data["health"]["version"] == "1.1.0"
    assert set(last.data["smoke"]) == {"smoke:login", "smoke:http:search", "smoke:cmd:ping"}
    assert PASSWORD not in run.journal_path.read_text()


async def test_a_site_not_listening_fails_then_passes_once_it_listens(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    port = free_port()
    run = await cleared_run(tmp_path, f"http://127.0.0.1:{port}", monkeypatch)
    _, last, checks = await step(run, "smoke-staging")
    assert last.status == "failed"
    assert checks["health"].detail == "no response: cannot connect (is the app running?)"
    assert checks["login"].detail == "no response: cannot connect (is the app running?)"
    assert checks["http:search"].detail.startswith("no answer: cannot connect (")
    no_traceback(last, checks)
    _, last, checks = await step(run, "verify")
    assert last.status == "failed"
    assert last.data["failed"] == ["health", "smoke:login", "smoke:http:search", "response-time", "error-rate"]
    assert (
        checks["error-rate"].detail == f"{REQUESTS} of {REQUESTS} failed (100%; limit 0%): {REQUESTS}× cannot connect"
    )
    assert last.data["timing"]["sparkline"] == "×" * REQUESTS and last.data["health"]["status"] is None
    # Nothing answers at the health URL: a wrong URL is as likely as a dead site, so it is named first.
    assert last.fix.startswith("first make sure [environments.production] health_url (http://127.0.0.1:")
    no_traceback(last, checks)

    with serving(Site(), port):
        _, last, _ = await step(run, "smoke-staging")
        assert last.status == "ok", last
        _, last, _ = await step(run, "verify")
        assert last.status == "ok", last


async def test_p95_over_its_limit_fails_while_the_error_rate_passes(
    site: Site, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    run = await cleared_run(tmp_path, f"http://127.0.0.1:{site.port}", monkeypatch)
    site.mode = "sluggish"
    events, last, checks = await step(run, "verify")
    assert last.status == "failed" and last.data["failed"] == ["response-time"]
    timing = last.data["timing"]
    assert timing["requests"] == REQUESTS and timing["errors"] == 0 and timing["error_rate"] == 0.0
    assert timing["p95_ms"] >= SLUGGISH * 1000 and timing["p95_ms"] == timing["max_ms"]  # 4 samples: rank 4
    # The detail rounds the measured p95 to whole ms; the data keeps it to 0.1 ms, so the two
    # roundings may differ by one at a half (253.46 shows 253, its data 253.5 would show 254).
    shown = re.match(rf"p95 (\d+) ms is over {MAX_P95_MS} ms: p50 ", checks["response-time"].detail)
    assert shown, checks["response-time"].detail
    assert abs(int(shown[1]) - timing["p95_ms"]) <= 0.55
    assert checks["response-time"].data["thresholds"]["max_p95_ms"] == MAX_P95_MS
    assert checks["error-rate"].status == "passed"
    assert checks["error-rate"].detail == f"0 of {REQUESTS} failed (0%; limit 0%)"
    assert (
        last.message == f"verification failed on production: response-time: p95 {shown[1]} ms is over {MAX_P95_MS} ms"
    )
    # While the requests run, the screen gets the partial figures, at most ten times a second.
    live = [e for e in events if isinstance(e, CheckUpdate) and e.check_id == "response-time" and e.status == "running"]
    partial = [e for e in live if "requests" in e.data]
    counts = [e.data["requests"] for e in partial]
    assert len(partial) >= 2 and counts == sorted(set(counts)) and counts[-1] < REQUESTS, counts
    assert all(len(e.data["sparkline"]) == e.data["requests"] for e in partial)
    assert all(b.ts - a.ts >= 0.09 for a, b in itertools.pairwise(partial))


async def test_an_error_rate_over_its_limit_fails_while_the_response_time_passes(
    site: Site, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    run = await cleared_run(tmp_path, f"http://127.0.0.1:{site.port}", monkeypatch)
    site.mode = "flaky"  # every third GET /health answers 500: the health check is the first
    _, last, checks = await step(run, "verify")
    assert last.status == "failed" and last.data["failed"] == ["error-rate"]
    assert checks["health"].status == checks["response-time"].status == "passed"
    assert checks["error-rate"].detail == f"1 of {REQUESTS} failed (25%; limit 0%): 1× 500"
    timing = last.data["timing"]
    assert timing["error_rate"] == 0.25 and timing["errors"] == 1
    assert timing["samples_ms"][1] is None and timing["sparkline"][1] == "×"
    assert checks["response-time"].detail.startswith("p50 ") and f"over {REQUESTS - 1} successful" in (
        checks["response-time"].detail
    )
    assert last.message == (
        f"verification failed on production: error-rate: 1 of {REQUESTS} failed (25%; limit 0%): 1× 500"
    )


async def test_the_announcement_shows_the_figures_and_what_was_not_ticked(
    site: Site, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    run = await cleared_run(tmp_path, f"http://127.0.0.1:{site.port}", monkeypatch)
    site.mode = "500"
    _, first, _ = await step(run, "verify")
    assert first.status == "failed" and first.data["attempt"] == 1
    site.mode = "ok"
    _, last, _ = await step(run, "verify")
    assert last.status == "ok" and last.data["attempt"] == 2, last
    run.tick_verify("metrics-normal", True, "  error tracker *quiet* <b>really</b>\n `ok`  ")
    text = render_announcement(run.ctx, "### Added\n- Export to CSV.", dt.datetime.now(dt.UTC))
    section = text.split("## Verification\n\n")[1].split("\n\n")[0].splitlines()
    timing = last.data["timing"]

    def ms(value: float) -> str:
        return f"{value:.0f}" if value >= 10 else f"{value:.1f}"

    assert section == [
        f"- Health: HTTP 200 in {ms(last.data['health']['elapsed_ms'])} ms, version 1.1.0.",
        "- Smoke checks on production: 3 of 3 passed.",
        f"- Response time over {REQUESTS} requests: p50 {ms(timing['p50_ms'])} ms, p95 {ms(timing['p95_ms'])} ms, "
        f"max {ms(timing['max_ms'])} ms (limits: p95 ≤ {MAX_P95_MS} ms).",
        f"- Error rate: 0% (0 of {REQUESTS} requests failed; limit 0%).",
        "- Verification passed on attempt 2; the earlier attempts failed (see the journal).",
        "- Critical functionality verified by hand: not ticked.",
        "- Metrics normal (dashboards, error tracker): ticked — error tracker \\*quiet\\* "
        "\\<b\\>really\\</b\\> \\`ok\\`.",
    ]
    assert PASSWORD not in text
    _, refused, _ = await step(run, "announce")
    assert refused.status == "failed" and "verification is not complete" in refused.message


async def test_the_plan_lists_every_request_the_thresholds_and_the_log_scan(quiet_sandbox: demo.Sandbox) -> None:
    run = ReleaseRun(load_config(quiet_sandbox.config_path), record=False)
    await run.load_versions()
    run.choose_bump("minor")
    plans = {s.id: [(a.kind, a.description) for a in actions] for s, actions in run.plan()}
    health = quiet_sandbox.environments["production"]
    log = quiet_sandbox.run_dir / "production.log"
    assert plans["verify"][0] == ("http", f"GET {health} → 200, version 1.4.0")
    assert plans["verify"][1] == ("http", f"POST {health.replace('health', 'auth/login')} as demo → 200")
    assert plans["verify"][2][1].startswith("Django system check: ")
    assert plans["verify"][3:] == [
        ("http", f"GET {health} ×20, 0.05 s apart: p95 ≤ 1000 ms, slowest ≤ 2000 ms, error rate ≤ 0%"),
        (
            "logs",
            f"scan {log} on production for lines written since the deploy began matching the default patterns "
            "(ERROR, CRITICAL, a traceback's first line, a 5xx in an access log): at most 0 allowed; "
            "lines matching '\" 503 ' written during the maintenance window (from before the pre commands "
            "until the post commands succeeded) are not counted",
        ),
    ]
    deploy = plans["deploy-production"]
    assert ("record", f"mark the log files' sizes for the verification: {log}") in deploy
    # The second mark comes after the post commands (maintenance off), before the lock is released.
    assert [kind for kind, _ in deploy[-3:]] == ["command", "record", "lock"]
    assert deploy[-3][1].startswith("maintenance mode off: ")
    assert deploy[-2][1].startswith("once the post commands succeeded, mark the log files' sizes again")


async def test_without_marks_from_a_deploy_the_log_scan_reads_the_files_whole(
    site: Site, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    log = tmp_path / "app.log"
    log.write_text("INFO up\nERROR written before any deploy of this run\n")
    run = await cleared_run(tmp_path, f"http://127.0.0.1:{site.port}", monkeypatch, f"logs = {{ paths = ['{log}'] }}\n")
    events, last, checks = await step(run, "verify")
    assert last.status == "failed" and last.data["failed"] == ["logs:production"]
    assert list(checks)[-1] == "logs:production"
    detail = checks["logs:production"].detail
    size = log.stat().st_size
    assert detail.startswith(f"production: 1 matching line(s) (limit 0) in 1 file(s), {size} bytes since the deploy")
    assert "(no marks from a deploy in this run: the log files were read whole)" in detail
    assert f"first: {log}:+2: ERROR written before any deploy of this run" in detail
    assert [(e.host, e.stream, e.text) for e in events if isinstance(e, OutputLine)] == [
        ("production", "stdout", "pong"),  # the smoke command's output
        ("production", "stderr", f"{log}:+2: ERROR written before any deploy of this run"),
    ]
    assert last.data["logs"]["production"]["files"][0]["note"] == "no mark before the deploy: read from its start"


ACCESS_503 = '127.0.0.1 - - [01/Jan/2026:10:00:00 +0000] "GET /api/projects HTTP/1.1" 503 19 "-" "Mozilla/5.0"'


async def test_maintenance_kept_on_after_a_failure_keeps_the_window_open_until_the_retry(
    site: Site, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    log = tmp_path / "access.log"
    log.write_text('127.0.0.1 - - [01/Jan/2026:09:00:00 +0000] "GET / HTTP/1.1" 503 19 "-" "-"\n')  # before
    broken = tmp_path / "migrations-broken"
    broken.touch()
    python = tmp_path / "python"  # the app's Python, as far as the deploy asks it: showmigrations
    python.write_text('#!/bin/sh\necho "[X]  core.0001_initial"\n')
    python.chmod(0o755)
    visitor = f"printf '%s\\n' {shlex.quote(ACCESS_503)} >> {shlex.quote(str(log))}"
    environment = (
        f"python = {json.dumps(str(python))}\n"
        "keep_maintenance_on_failure = true\n"
        f"logs = {{ paths = [{json.dumps(str(log))}] }}\n"
        f'pre = [{{ name = "maintenance mode on", run = {json.dumps(visitor)} }}]\n'
        f'steps = [{{ name = "migrate", run = {json.dumps(f"if test -e {broken}; then echo cannot migrate >&2; exit 1; fi")} }}]\n'
        'post = [{ name = "maintenance mode off", run = "true" }]\n'
    )
    run = await cleared_run(tmp_path, f"http://127.0.0.1:{site.port}", monkeypatch, environment)
    assert run.confirm("deploy-production", "1.1.0")
    _, last, _ = await step(run, "deploy-production")
    assert last.status == "failed" and "'migrate' exited 1" in last.message
    [window] = run.state.log_marks["production"]["production"]["maintenance"]
    assert (window["state"], window["note"]) == ("open", "maintenance was kept on after a failure, as chosen")

    _, last, checks = await step(run, "verify")
    logs = checks["logs:production"]
    assert (logs.status, logs.data["total_matches"], logs.data["ignored"]) == ("failed", 1, 0)
    assert (
        "; nothing ignored: the maintenance window has no end mark (maintenance was kept on after a failure, "
        "as chosen), so its 503 answers count" in logs.detail
    )

    with log.open("a") as f:
        f.write(ACCESS_503 + "\n")  # still in maintenance between the attempts
    broken.unlink()
    events, last, _ = await step(run, "deploy-production")
    assert last.status == "ok", last
    said = [e.text for e in events if isinstance(e, OutputLine)]
    assert (
        "maintenance window 1 is still open from the previous attempt (maintenance was kept on after a failure, "
        "as chosen): it ends when this attempt's post commands succeed" in said
    )
    [window] = run.state.log_marks["production"]["production"]["maintenance"]
    assert window["state"] == "closed" and window["end"]["files"][str(log)]["size"] == log.stat().st_size

    with log.open("a") as f:
        f.write(ACCESS_503 + "\n")  # maintenance is over: a real error
    _, last, checks = await step(run, "verify")
    logs = checks["logs:production"]
    assert (logs.data["total_matches"], logs.data["ignored"]) == (1, 3), logs.detail
    assert "; 3 line(s) answered 503 during the maintenance window, not counted" in logs.detail
    assert [m["line"] for m in logs.data["matches"]] == [4]
