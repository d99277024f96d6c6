"""Configured HTTP smoke checks in the smoke step: JSON paths, `$env:` secrets, the settling window.

A real HTTP server on 127.0.0.1 plays the freshly restarted site: the search API answers
503 twice before it is ready.
"""

from __future__ import annotations

import json
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from test_release_guards import git, make_repo

from iact_tui.config import load_config
from iact_tui.engine.events import CheckUpdate, StepFinished
from iact_tui.engine.run import ReleaseRun


class Site:
    def __init__(self) -> None:
        self.search_calls = 0
        self.auth: list[str | None] = []
        self.url = ""


@pytest.fixture
def site() -> Iterator[Site]:
    state = Site()

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

        def _send(self, status: int, body: object) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:
            if self.path == "/health":
                self._send(200, {"status": "ok", "version": "1.1.0"})
            elif self.path == "/api/search":
                state.search_calls += 1
                state.auth.append(self.headers.get("Authorization"))
                if state.search_calls <= 2:
                    self._send(503, {"error": "starting"})
                else:
                    self._send(200, {"items": [{"name": "Export"}], "version": "1.1.0"})
            else:
                self._send(404, {})

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state.url = f"http://127.0.0.1:{httpd.server_address[1]}"
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        httpd.shutdown()
        httpd.server_close()


async def test_a_configured_check_waits_for_the_site_to_settle(
    site: Site, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("IACT_TEST_API_TOKEN", "s3cr3t-t0ken")
    repo = make_repo(tmp_path)
    config = repo / "iact-release.toml"
    config.write_text(
        config.read_text() + f'\n[environments.staging]\napp_dir = "."\nhealth_url = "{site.url}/health"\n\n'
        "[environments.staging.smoke]\nsettle_seconds = 10\n\n"
        "[[environments.staging.smoke.checks]]\n"
        f'name = "search API"\nurl = "{site.url}/api/search"\n'
        'headers = { Authorization = "Bearer $env:IACT_TEST_API_TOKEN" }\n'
        'expect_json = { "items[0].name" = "Export", version = "{version}" }\n'
    )
    git(repo, "commit", "-qam", "chore: smoke checks")
    git(repo, "push", "-q", "origin", "main")
    run = ReleaseRun(load_config(config), state_dir=tmp_path / "state")
    await run.load_versions()
    run.choose_bump("minor")
    for check_id, _ in run.manual_checks():
        run.tick(check_id, True)
    events = [e async for e in run.run_step("preflight")]
    assert isinstance(events[-1], StepFinished) and events[-1].status == "ok", events[-1]
    checks: dict[str, CheckUpdate] = {}
    last: StepFinished | None = None
    async for event in run.run_step("smoke-staging"):
        if isinstance(event, CheckUpdate):
            checks[event.check_id] = event
        elif isinstance(event, StepFinished):
            last = event
    assert last is not None and last.status == "ok", (last, checks)
    search = checks["http:search API"]
    assert search.status == "passed" and search.detail.endswith(
        "(after 3 attempts over " + search.detail.split(" over ")[1]
    )
    assert search.data["attempts"] == 3 and search.data["status"] == 200
    assert site.auth == ["Bearer s3cr3t-t0ken"] * 3
    assert "s3cr3t-t0ken" not in run.journal_path.read_text()


async def test_a_check_that_never_settles_fails_with_the_last_answer(
    site: Site, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    repo = make_repo(tmp_path)
    config = repo / "iact-release.toml"
    config.write_text(
        config.read_text() + f'\n[environments.staging]\napp_dir = "."\nhealth_url = "{site.url}/health"\n\n'
        "[[environments.staging.smoke.checks]]\n"
        f'name = "search API"\nurl = "{site.url}/api/search"\n'
    )
    git(repo, "commit", "-qam", "chore: smoke checks")
    git(repo, "push", "-q", "origin", "main")
    run = ReleaseRun(load_config(config), state_dir=tmp_path / "state")
    await run.load_versions()
    run.choose_bump("minor")
    for check_id, _ in run.manual_checks():
        run.tick(check_id, True)
    [_ async for _ in run.run_step("preflight")]
    events = [e async for e in run.run_step("smoke-staging")]
    last = events[-1]
    assert isinstance(last, StepFinished) and last.status == "failed"
    assert last.message == "smoke tests failed on staging: http:search API"
    [search] = [
        e for e in events if isinstance(e, CheckUpdate) and e.check_id == "http:search API" and e.status == "failed"
    ]
    assert search.detail.startswith("answered 503 (expected 200)")
    assert '"starting"' in search.detail


async def test_smoke_commands_run_here_with_their_summary_line(
    site: Site, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``commands_on = "local"``: the procedure's ``pytest tests/smoke/`` from the repository,
    told which environment and version to test; its summary line is the check's detail."""
    repo = make_repo(tmp_path)
    smoke_dir = repo / "tests" / "smoke"
    smoke_dir.mkdir(parents=True)
    (smoke_dir / "test_site.py").write_text(
        "import json, os, urllib.request\n\n\n"
        "def test_health_answers_the_new_version():\n"
        "    assert os.environ['IACT_ENV'] == 'staging' and os.environ['IACT_TAG'] == 'v1.1.0'\n"
        "    with urllib.request.urlopen(os.environ['IACT_HEALTH_URL']) as answer:\n"
        "        assert json.load(answer)['version'] == os.environ['IACT_VERSION']\n\n\n"
        "def test_second():\n    pass\n"
    )
    config = repo / "iact-release.toml"
    python = sys.executable.replace("\\", "/")
    config.write_text(
        config.read_text() + f'\n[environments.staging]\napp_dir = "/nonexistent/on/this/machine"\n'
        f'health_url = "{site.url}/health"\n\n'
        '[environments.staging.smoke]\ncommands_on = "local"\ncommands = [\n'
        f'  {{ name = "smoke tests", run = "{python} -m pytest -q -p no:cacheprovider tests/smoke" }},\n'
        '  { name = "broken", run = "echo half way; echo it broke >&2; exit 3" },\n]\n'
    )
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "chore: smoke tests")
    git(repo, "push", "-q", "origin", "main")
    run = ReleaseRun(load_config(config), state_dir=tmp_path / "state")
    await run.load_versions()
    run.choose_bump("minor")
    for check_id, _ in run.manual_checks():
        run.tick(check_id, True)
    [_ async for _ in run.run_step("preflight")]
    plan = [a.description for a in run.step("smoke-staging").plan(run.ctx)]
    assert any(text.startswith("smoke tests: ") and f"(on this machine in {repo})" in text for text in plan), plan
    events = [e async for e in run.run_step("smoke-staging")]
    last = events[-1]
    checks = {e.check_id: e for e in events if isinstance(e, CheckUpdate) and e.status != "running"}
    assert isinstance(last, StepFinished) and last.message == "smoke tests failed on staging: cmd:broken"
    smoke = checks["cmd:smoke tests"]
    assert smoke.status == "passed", smoke
    assert smoke.detail.startswith("exited 0 in ") and smoke.detail.endswith(smoke.data["summary"])
    assert smoke.data["summary"].startswith("2 passed in ") and smoke.data["where"] == "local"
    broken = checks["cmd:broken"]
    assert broken.status == "failed" and broken.detail.startswith("exited 3")
    assert broken.data["exit_status"] == 3 and broken.data["summary"] == "half way"
