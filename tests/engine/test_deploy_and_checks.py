"""Engine: deploy, smoke tests, verification and the announcement on the real sample site.

The maintenance window test sends real requests to the sample site while the deploy has
it in maintenance mode: its runserver logs them answered 503, and the verification does
not count them once the deploy marked the log again after its post commands.
"""

from __future__ import annotations

import asyncio
import json
import shlex
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Coroutine
from pathlib import Path
from typing import Any

import pytest

from iact_tui import demo
from iact_tui.config import load_config
from iact_tui.engine.events import CheckUpdate, CommandUpdate, Event, OutputLine, Progress, StepFinished
from iact_tui.engine.run import ReleaseRun
from iact_tui.errors import CommandError
from iact_tui.services import log_scan


def get(url: str) -> tuple[int, dict[str, object]]:
    try:
        with urllib.request.urlopen(url, timeout=10) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"{}")


async def run_step(run: ReleaseRun, step_id: str) -> tuple[list[Event], StepFinished]:
    events = [e async for e in run.run_step(step_id)]
    assert isinstance(events[-1], StepFinished)
    return events, events[-1]


async def released(box: demo.Sandbox, tmp_path: Path) -> ReleaseRun:
    run = await released_checklist_only(box, tmp_path)
    for step_id in ("branch", "bump", "changelog", "commit", "push", "merge", "tag"):
        _, done = await run_step(run, step_id)
        assert done.status == "ok", done
    return run


async def released_checklist_only(box: demo.Sandbox, tmp_path: Path) -> ReleaseRun:
    run = ReleaseRun(load_config(box.config_path), state_dir=tmp_path / "state")
    await run.load_versions()
    run.choose_bump("minor")
    events = [e async for e in run.run_step("preflight")]
    assert isinstance(events[-1], StepFinished) and events[-1].status == "ok", events[-1]
    for check_id, _ in run.manual_checks():
        run.tick(check_id, True)
    return run


async def test_deploy_smoke_verify_announce(sandbox: demo.Sandbox, tmp_path: Path) -> None:
    run = await released(sandbox, tmp_path)
    events, done = await run_step(run, "deploy-staging")
    assert done.status == "ok", done
    progress = [e for e in events if isinstance(e, Progress)]
    assert progress[-1].done == progress[-1].total > 3
    output = [e for e in events if isinstance(e, OutputLine)]
    assert any("Applying core." in e.text for e in output), "the new migration ran"
    assert all(e.host == "staging" for e in output)
    assert get(sandbox.environments["staging"])[1]["version"] == "1.4.0"
    assert get(sandbox.environments["production"])[1]["version"] == "1.3.2"

    events, done = await run_step(run, "smoke-staging")
    assert done.status == "ok", done
    checks = {e.check_id: e for e in events if isinstance(e, CheckUpdate) and e.status != "running"}
    assert checks["health"].status == checks["login"].status == "passed"
    password = (sandbox.root / "secrets" / "smoke-password").read_text().strip()
    assert password not in run.journal_path.read_text()

    log_file = sandbox.run_dir / "production.log"
    size_before = log_file.stat().st_size
    run.confirm("deploy-production", "1.4.0")
    events, done = await run_step(run, "deploy-production")
    assert done.status == "ok", done
    assert any(
        e.text == f"log marks: 1 file(s): {log_file} at {size_before} bytes"
        for e in events
        if isinstance(e, OutputLine)
    )
    events, done = await run_step(run, "verify")
    assert done.status == "ok", done
    assert done.message.startswith("production healthy on v1.4.0: health 200; 2 smoke check(s) passed; p95 ")
    finals = [e.check_id for e in events if isinstance(e, CheckUpdate) and e.status != "running"]
    assert finals == [
        "health",
        "smoke:login",
        "smoke:cmd:Django system check",
        "response-time",
        "error-rate",
        "logs:production",
    ]
    data = done.data
    timing = data["timing"]
    assert timing["requests"] == 20 and timing["errors"] == 0 and timing["error_rate"] == 0.0
    assert len(timing["samples_ms"]) == len(timing["sparkline"]) == 20
    assert 0 < timing["p50_ms"] <= timing["p95_ms"] <= timing["max_ms"] <= 2000
    assert data["thresholds"] == {"max_p95_ms": 1000.0, "max_response_ms": 2000.0, "max_error_rate": 0.0}
    assert data["health"]["status"] == 200 and data["health"]["version"] == "1.4.0"
    assert set(data["smoke"]) == {"smoke:login", "smoke:cmd:Django system check"} and data["failed"] == []
    [scanned] = data["logs"]["production"]["files"]
    # Only what the deploy and the checks wrote: the restart's banner and the requests, no error.
    assert scanned["path"] == str(log_file) and scanned["from_offset"] == size_before and scanned["bytes_read"] > 0
    assert data["logs"]["production"]["total_matches"] == 0
    assert '" 503 ' not in log_file.read_text()[size_before:]  # the restart's probe is not answered 503
    [window] = run.state.log_marks["production"]["production"]["maintenance"]
    assert window["state"] == "closed" and window["end"]["files"][str(log_file)]["size"] >= size_before
    assert data["logs"]["production"]["ignored"] == 0 and data["logs"]["production"]["windows"] == 1

    # Every figure is in the journal: the marks at once, the verification's whole result.
    records = [json.loads(line) for line in run.journal_path.read_text().splitlines()]
    marks = [r for r in records if r["kind"] == "log_marks"]
    assert [(r["env"], r["host"]) for r in marks] == [("staging", "staging"), ("production", "production")]
    assert marks[1]["marks"]["files"][str(log_file)]["size"] == size_before
    [journaled] = [r for r in records if r["kind"] == "step_finished" and r["step_id"] == "verify"]
    assert journaled["data"] == json.loads(json.dumps(data))

    _, done = await run_step(run, "announce")
    assert done.status == "failed" and "verification is not complete" in done.message
    run.tick_verify("verified-by-hand", True, "created and archived a project")
    _, done = await run_step(run, "announce")
    assert done.status == "failed" and "verification is not complete" in done.message
    run.tick_verify("metrics-normal", True)
    _, done = await run_step(run, "announce")
    assert done.status == "ok"
    path = Path(str(done.data["path"]))
    text = path.read_text()
    assert text.startswith("# Release v1.4.0") and "## What's new" in text and "v1.3.2" in text
    assert path.parent == run.run_dir

    def ms(value: float) -> str:
        return f"{value:.0f}" if value >= 10 else f"{value:.1f}"

    health = data["health"]
    assert f"- Health: HTTP 200 in {ms(health['elapsed_ms'])} ms, version 1.4.0." in text
    assert "- Smoke checks on production: 2 of 2 passed." in text
    assert (
        f"- Response time over 20 requests: p50 {ms(timing['p50_ms'])} ms, p95 {ms(timing['p95_ms'])} ms, "
        f"max {ms(timing['max_ms'])} ms (limits: p95 ≤ 1000 ms, slowest ≤ 2000 ms)." in text
    )
    assert "- Error rate: 0% (0 of 20 requests failed; limit 0%)." in text
    assert "- Logs on production since the deploy: 0 matching line(s) (limit 0) in 1 file(s)." in text
    assert "- Critical functionality verified by hand: ticked — created and archived a project." in text
    assert "- Metrics normal (dashboards, error tracker): ticked." in text
    assert "- Smoke tests passed on staging." in text
    assert password not in text and str(log_file) not in text


async def test_failed_deploy_command_leaves_maintenance_off_and_is_retryable(
    sandbox: demo.Sandbox, tmp_path: Path
) -> None:
    path = sandbox.config_path
    text = path.read_text()
    # Make the migrate command fail on staging only.
    broken = text.replace("manage.py migrate --noinput", "manage.py migrate --noinput --no-such-flag", 1)
    path.write_text(broken)
    for args in (["commit", "-qam", "chore: break staging's migrate"], ["push", "-q", "origin", "main"]):
        subprocess.run(["git", *args], cwd=sandbox.repo, check=True)
    run = await released(sandbox, tmp_path)
    events, done = await run_step(run, "deploy-staging")
    assert done.status == "failed"
    assert "'run migrations' exited 2" in done.message or "exited" in done.message
    assert "retry" in done.fix
    texts = [e.text for e in events if isinstance(e, OutputLine)]
    assert any("maintenance" in t and "post" in t for t in texts)
    status, body = get(sandbox.environments["staging"])
    assert status == 200, body  # maintenance mode switched off again
    ran_before = run.state.deployed_before["deploy-staging/staging"]
    assert ran_before["tag"] and ran_before["tag"] != "v1.4.0"
    first_marks = run.state.log_marks["staging"]["staging"]
    log_file = str(sandbox.run_dir / "staging.log")
    assert log_file in first_marks["files"]
    # The migration failed but the post commands succeeded: maintenance is over, the window closed.
    [first_window] = first_marks["maintenance"]
    assert first_window["state"] == "closed" and first_window["start"]["files"] == first_marks["files"]
    # Fix the cause; the same run re-reads the config on retry and succeeds.
    path.write_text(text)
    run.reload_config()
    events, done = await run_step(run, "deploy-staging")
    assert done.status == "ok", done
    # The first attempt's marks are kept: they cover everything written since the deploy began.
    assert "log marks: kept from this run's first deploy attempt" in [
        e.text for e in events if isinstance(e, OutputLine)
    ]
    assert run.state.log_marks["staging"]["staging"] is first_marks
    # The failed attempt checked v1.4.0 out before its migrate failed; what staging ran
    # before the release is still the first attempt's record (the rollback target).
    assert "runs v1.4.0" in " ".join(e.text for e in events if isinstance(e, OutputLine))
    assert run.state.results["deploy-staging"]["hosts"]["staging"]["previous"] == ran_before
    records = [json.loads(line) for line in run.journal_path.read_text().splitlines()]
    assert [r["state"]["tag"] for r in records if r["kind"] == "deployed_state"] == [ran_before["tag"]]
    assert [r["env"] for r in records if r["kind"] == "log_marks"] == ["staging"]
    # The retry's pre commands put the site in maintenance again: a second window, from new marks.
    second_window = first_marks["maintenance"][1]
    assert second_window["state"] == "closed"
    assert second_window["start"]["taken_at"] >= first_window["end"]["taken_at"]
    assert [(r["window"], r["state"]) for r in records if r["kind"] == "maintenance_window"] == [
        (1, "open"),
        (1, "closed"),
        (2, "open"),
        (2, "closed"),
    ]
    assert get(sandbox.environments["staging"])[1]["version"] == "1.4.0"


async def test_log_marks_that_fail_do_not_stop_the_deploy_and_the_scan_reads_what_changed_since(
    sandbox: demo.Sandbox, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    run = await released(sandbox, tmp_path)

    async def unreachable(host: object, paths: object) -> None:
        raise CommandError("production: listing the log files exited 255: Connection reset", "check the host")

    monkeypatch.setattr(log_scan, "record_offsets", unreachable)  # the one fault injected: the rest is real
    run.confirm("deploy-production", "1.4.0")
    started = time.time()
    events, done = await run_step(run, "deploy-production")
    assert done.status == "ok", done
    [warning] = [e for e in events if isinstance(e, OutputLine) and "log marks could not be recorded" in e.text]
    assert warning.stream == "stderr" and warning.host == "production"
    assert "(listing the log files exited 255: Connection reset)" in warning.text and "check the host" in warning.text
    saved = run.state.log_marks["production"]["production"]
    assert saved["files"] == {} and saved["error"].endswith("Connection reset")
    assert started <= saved["taken_at"] <= time.time()
    records = [json.loads(line) for line in run.journal_path.read_text().splitlines()]
    [failed] = [r for r in records if r["kind"] == "log_marks_failed"]
    assert (failed["env"], failed["host"], failed["since"]) == ("production", "production", saved["taken_at"])

    # The production log changed since the deploy began: it is read from its start (no error in it).
    events, done = await run_step(run, "verify")
    assert done.status == "ok", done
    [logs] = [
        e for e in events if isinstance(e, CheckUpdate) and e.check_id == "logs:production" and e.status == "passed"
    ]
    assert "the marks failed at the deploy: files modified since" in logs.detail
    assert (
        "nothing ignored: the maintenance window has no end mark (the marks at its end failed: "
        "production: listing the log files exited 255: Connection reset), so its 503 answers count" in logs.detail
    )
    [scanned] = logs.data["files"]
    assert scanned["from_offset"] == 0 and scanned["bytes_read"] == (sandbox.run_dir / "production.log").stat().st_size


async def test_smoke_reports_each_failure(sandbox: demo.Sandbox, tmp_path: Path) -> None:
    run = await released_checklist_only(sandbox, tmp_path)  # staging still serves 1.3.2: the version check must fail
    (sandbox.root / "secrets" / "smoke-password").write_text("wrong-password\n")
    events, done = await run_step(run, "smoke-staging")
    assert done.status == "failed"
    failed = {e.check_id: e.detail for e in events if isinstance(e, CheckUpdate) and e.status == "failed"}
    assert "expected '1.4.0'" in failed["health"]
    assert "401" in failed["login"] and "wrong-password" not in failed["login"]


def add_slow_staging_step(sandbox: demo.Sandbox) -> None:
    """Put 'echo started-slow; sleep 30.0417' before staging's fetch (inside maintenance mode)."""
    path = sandbox.config_path
    text = path.read_text()
    slow = text.replace(
        '{ name = "fetch tags", run = "git fetch --tags --force {remote}" },',
        '{ name = "slow step", run = "echo started-slow; sleep 30.0417" },\n    { name = "fetch tags", run = "git fetch --tags --force {remote}" },',
        1,
    )
    assert slow != text
    path.write_text(slow)
    for args in (["commit", "-qam", "chore: a slow staging step"], ["push", "-q", "origin", "main"]):
        subprocess.run(["git", *args], cwd=sandbox.repo, check=True)


async def test_cancelled_deploy_stops_the_command_and_still_leaves_maintenance_off(
    sandbox: demo.Sandbox, tmp_path: Path
) -> None:
    add_slow_staging_step(sandbox)
    run = await released(sandbox, tmp_path)
    seen: list[Event] = []
    started = asyncio.Event()

    async def consume() -> None:
        async for event in run.run_step("deploy-staging"):
            seen.append(event)
            if isinstance(event, OutputLine) and event.text == "started-slow":
                started.set()

    task = asyncio.create_task(consume())
    await asyncio.wait_for(started.wait(), 30)
    status, _ = get(sandbox.environments["staging"])
    assert status == 503  # maintenance mode is on while the slow step runs
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    texts = [e.text for e in seen if isinstance(e, OutputLine)]
    assert any("slow step stopped: cancelled by the operator" in t for t in texts)
    assert any(t.startswith("$ ") and "rm -f MAINTENANCE" in t for t in texts)
    assert get(sandbox.environments["staging"])[0] == 200
    assert run.records["deploy-staging"].status == "cancelled"
    assert '"status": "cancelled"' in run.journal_path.read_text()
    assert subprocess.run(["pgrep", "-f", "sleep 30.0417"], capture_output=True).returncode == 1


async def test_a_stop_arriving_with_a_commands_output_line_is_not_lost(
    sandbox: demo.Sandbox, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Found by the hang-up test under load: the stop reached the host's task in the very
    loop turn its command's first output line arrived, and ``asyncio.wait_for`` (Python
    3.11) returned the line and dropped the stop. The slow command ran its full 30 s, then
    the rest of the recipe. Here the stop is sent in exactly that turn."""
    from iact_tui.services import remote

    add_slow_staging_step(sandbox)
    run = await released(sandbox, tmp_path)
    pump = remote.pump_lines
    stopped: list[str] = []

    def pump_then_stop(
        reader: remote.ByteReader, stream: remote.StreamName, queue: asyncio.Queue[remote.Line | None]
    ) -> Coroutine[Any, Any, None]:
        current = asyncio.current_task()  # called in the host's task, which creates the pump's
        assert current is not None
        host_task: asyncio.Task[Any] = current

        class StopOnSlowLine(asyncio.Queue[remote.Line | None]):
            def put_nowait(self, item: remote.Line | None) -> None:
                queue.put_nowait(item)
                if item is not None and item.text == "started-slow" and not stopped:
                    stopped.append(item.text)
                    host_task.cancel()  # the same turn as the line

            async def put(self, item: remote.Line | None) -> None:
                self.put_nowait(item)

        return pump(reader, stream, StopOnSlowLine())

    monkeypatch.setattr(remote, "pump_lines", pump_then_stop)
    started = time.monotonic()
    events, done = await asyncio.wait_for(run_step(run, "deploy-staging"), 60)
    elapsed = time.monotonic() - started
    assert stopped, "the slow command's line never came"
    assert elapsed < 25, f"the stop was lost: the deploy took {elapsed:.1f} s (the slow command sleeps 30 s)"
    texts = [e.text for e in events if isinstance(e, OutputLine)]
    assert any("slow step stopped: cancelled by the operator" in t for t in texts), texts[-10:]
    assert not any(t.startswith("$ git fetch") for t in texts)  # the rest of the recipe did not run
    assert any(t.startswith("$ ") and "rm -f MAINTENANCE" in t for t in texts)  # but the post commands did
    slow_rows = [e.status for e in events if isinstance(e, CommandUpdate) and e.name == "slow step"]
    assert slow_rows[-1] == "cancelled", slow_rows
    assert done.status != "ok"  # only the host's task was stopped here, so the step failed on it
    assert get(sandbox.environments["staging"])[0] == 200
    assert subprocess.run(["pgrep", "-f", "sleep 30.0417"], capture_output=True).returncode == 1


VISITOR = """import sys, urllib.error, urllib.request
for _ in range(int(sys.argv[2])):
    try:
        urllib.request.urlopen(sys.argv[1], timeout=10)
        print("answered 200")
    except urllib.error.HTTPError as exc:
        print("answered", exc.code)
"""
ERROR_LINE = "2026-01-01 10:00:02 ERROR core.tasks: the search index could not be rebuilt"


def _cmd(name: str, run: str) -> str:
    """A command as a TOML inline table (a JSON string is a valid TOML basic string)."""
    return f"{{ name = {json.dumps(name)}, run = {json.dumps(run)} }}"


async def test_503_answers_during_the_maintenance_window_are_not_counted(sandbox: demo.Sandbox, tmp_path: Path) -> None:
    """Two attempts: the first one's post commands fail (nothing of its window is ignored,
    the detail says why), the retry's succeed (its 503s are not counted). An ERROR inside a
    window and a 503 after it are counted."""
    path = sandbox.config_path
    text = path.read_text()
    health = sandbox.environments["production"]
    log_file = sandbox.run_dir / "production.log"
    visitor = f"{shlex.quote(sys.executable)} -c {shlex.quote(VISITOR)} {shlex.quote(health)} 2"
    failing_task = f"echo {shlex.quote(ERROR_LINE)} >> {shlex.quote(str(log_file))}"
    on = _cmd("maintenance mode on", "touch MAINTENANCE")
    off = _cmd("maintenance mode off", "rm -f MAINTENANCE")
    at = text.index(on, text.index("[environments.production]"))
    pre = f"{on}, {_cmd('visitors during maintenance', visitor)}, {_cmd('a task fails', failing_task)}"
    fixed = text[:at] + pre + text[at + len(on) :]
    at = fixed.index(off, fixed.index("[environments.production]"))
    notify = _cmd("tell the on-call channel", "echo the webhook is down >&2; exit 3")
    broken = fixed[:at] + f"{off}, {notify}" + fixed[at + len(off) :]
    path.write_text(broken)
    for args in (["commit", "-qam", "chore: a visitor in maintenance"], ["push", "-q", "origin", "main"]):
        subprocess.run(["git", *args], cwd=sandbox.repo, check=True)
    run = await released(sandbox, tmp_path)
    run.confirm("deploy-production", "1.4.0")

    events, done = await run_step(run, "deploy-production")
    assert done.status == "failed" and "'tell the on-call channel' exited 3" in done.message, done
    said = [e.text for e in events if isinstance(e, OutputLine)]
    assert said.count("answered 503") == 2, said
    [first] = run.state.log_marks["production"]["production"]["maintenance"]
    assert (first["state"], first["note"], first["end"]) == ("unmarked", "its post commands did not all succeed", None)

    events, done = await run_step(run, "verify")
    [logs] = [
        e for e in events if isinstance(e, CheckUpdate) and e.check_id == "logs:production" and e.status == "failed"
    ]
    assert (logs.data["total_matches"], logs.data["ignored"]) == (3, 0)
    assert (
        logs.data["maintenance_note"]
        == "the maintenance window has no end mark (its post commands did not all succeed)"
    )
    assert (
        "; nothing ignored: the maintenance window has no end mark (its post commands did not all succeed), "
        "so its 503 answers count" in logs.detail
    )

    path.write_text(fixed)
    run.reload_config()
    events, done = await run_step(run, "deploy-production")
    assert done.status == "ok", done
    said = [e.text for e in events if isinstance(e, OutputLine)]
    assert said.count("answered 503") == 2 and any(t.startswith("log marks: maintenance window 2 starts") for t in said)
    assert [w["state"] for w in run.state.log_marks["production"]["production"]["maintenance"]] == [
        "unmarked",
        "closed",
    ]

    # After the second mark, maintenance on again by hand: this 503 is not the deploy's.
    manage = [sys.executable, "manage.py", "maintenance"]
    subprocess.run([*manage, "on"], cwd=sandbox.root / "production", check=True, capture_output=True)
    assert get(health)[0] == 503
    subprocess.run([*manage, "off"], cwd=sandbox.root / "production", check=True, capture_output=True)

    events, done = await run_step(run, "verify")
    assert done.status == "failed" and done.data["failed"] == ["logs:production"], done
    [logs] = [
        e for e in events if isinstance(e, CheckUpdate) and e.check_id == "logs:production" and e.status == "failed"
    ]
    data = logs.data
    # Window 1 (no end mark): two 503s and the ERROR; window 2: the ERROR; after it: the 503.
    assert (data["total_matches"], data["ignored"], data["windows"]) == (5, 2, 1)
    texts = [m["text"] for m in data["matches"]]
    assert sum(ERROR_LINE in t for t in texts) == 2 and sum('" 503 ' in t for t in texts) == 3
    assert "; 2 line(s) answered 503 during the maintenance window, not counted" in logs.detail
    assert (
        "; maintenance window 1 has no end mark (its post commands did not all succeed): its 503 answers count"
        in logs.detail
    )


async def test_a_cancel_as_a_command_is_announced_still_runs_the_post_commands(
    sandbox: demo.Sandbox, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Found by the hang-up test (flaky): a stop that landed while a command was being
    announced escaped the command's cancel handling, so the post commands never ran and
    staging stayed in maintenance mode."""
    from iact_tui.engine.steps import deploy

    run = await released(sandbox, tmp_path)
    say = deploy._HostRun.say
    hit: list[str] = []

    async def cancel_on_migrate(self: deploy._HostRun, text: str, stream: str = "info") -> None:
        if text.startswith("$ ") and "migrate" in text and not hit:
            hit.append(text)
            task = asyncio.current_task()
            assert task is not None
            task.cancel()
            await asyncio.sleep(0)  # the stop arrives here, while the command is announced
        await say(self, text, stream)  # type: ignore[arg-type]

    monkeypatch.setattr(deploy._HostRun, "say", cancel_on_migrate)
    events = [e async for e in run.run_step("deploy-staging")]
    assert hit, "the migrate command was never announced"
    texts = [e.text for e in events if isinstance(e, OutputLine)]
    assert any("running the post commands" in t for t in texts), texts[-8:]
    status, body = get(sandbox.environments["staging"])
    assert status == 200, body  # out of maintenance mode
    assert not (sandbox.root / "staging" / ".iact-deploy.lock").exists()
