"""Engine: deploy, smoke tests, verification and the announcement on the real sample site."""

from __future__ import annotations

import asyncio
import json
import subprocess
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from iact_tui import demo
from iact_tui.config import load_config
from iact_tui.engine.events import CheckUpdate, Event, OutputLine, Progress, StepFinished
from iact_tui.engine.run import ReleaseRun


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

    run.confirm("deploy-production", "1.4.0")
    _, done = await run_step(run, "deploy-production")
    assert done.status == "ok", done
    events, done = await run_step(run, "verify")
    assert done.status == "ok", done
    timing = done.data["timing"]
    assert isinstance(timing, dict) and timing["requests"] == 5 and timing["errors"] == 0

    _, done = await run_step(run, "announce")
    assert done.status == "failed" and "verification is not complete" in done.message
    for check_id, _label in run.verify_manual_checks():
        run.tick_verify(check_id, True, "looked at the dashboards")
    _, done = await run_step(run, "announce")
    assert done.status == "ok"
    path = Path(str(done.data["path"]))
    text = path.read_text()
    assert text.startswith("# Release v1.4.0") and "## What's new" in text and "v1.3.2" in text
    assert path.parent == run.run_dir


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
    # Fix the cause; the same run re-reads the config on retry and succeeds.
    path.write_text(text)
    run.reload_config()
    _, done = await run_step(run, "deploy-staging")
    assert done.status == "ok", done
    assert get(sandbox.environments["staging"])[1]["version"] == "1.4.0"


async def test_smoke_reports_each_failure(sandbox: demo.Sandbox, tmp_path: Path) -> None:
    run = await released_checklist_only(sandbox, tmp_path)  # staging still serves 1.3.2: the version check must fail
    (sandbox.root / "secrets" / "smoke-password").write_text("wrong-password\n")
    events, done = await run_step(run, "smoke-staging")
    assert done.status == "failed"
    failed = {e.check_id: e.detail for e in events if isinstance(e, CheckUpdate) and e.status == "failed"}
    assert "expected '1.4.0'" in failed["health"]
    assert "401" in failed["login"] and "wrong-password" not in failed["login"]


async def test_cancelled_deploy_stops_the_command_and_still_leaves_maintenance_off(
    sandbox: demo.Sandbox, tmp_path: Path
) -> None:
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
    assert any(t.startswith("$ ") and "maintenance off" in t for t in texts)
    assert get(sandbox.environments["staging"])[0] == 200
    assert run.records["deploy-staging"].status == "cancelled"
    assert '"status": "cancelled"' in run.journal_path.read_text()
    assert subprocess.run(["pgrep", "-f", "sleep 30.0417"], capture_output=True).returncode == 1
