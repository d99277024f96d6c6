"""A real ``iact-tui run release --yes`` killed with SIGKILL, then ``run release --resume --yes``.

One demo sandbox, one release (v1.4.0), killed four times: right after the ``changelog``
step, right after ``tag``, in the middle of the staging deploy (a slow command added to
the staging recipe; the test kills iact-tui only, and the slow command must die with it)
and right after ``deploy-staging``; each time the next process resumes
the same run from its journal. The end must be what an uninterrupted release leaves: the
tag on origin at main's head, production at 1.4.0, one changelog section, one release
commit, every input kept in the one journal.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from iact_tui import demo
from iact_tui.config import load_config
from iact_tui.engine.resume import find_unfinished, read_records, replay, resume_release

pytestmark = pytest.mark.e2e

CLI = [sys.executable, "-m", "iact_tui"]
SLOW = "sleep 30.0719"


def git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=repo, capture_output=True, text=True, check=True).stdout.strip()


def health(url: str) -> dict[str, object]:
    with urllib.request.urlopen(url, timeout=10) as response:
        data: dict[str, object] = json.loads(response.read())
        return data


def kill_when(args: list[str], cwd: Path, pattern: str, after: str = "") -> str:
    """Start ``iact-tui ARGS``, SIGKILL it as soon as a line matches ``pattern`` (once a
    line matched ``after``, when given); its output."""
    proc = subprocess.Popen(
        [*CLI, *args], cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=os.environ.copy()
    )
    assert proc.stdout is not None
    seen: list[str] = []
    armed = not after
    for line in proc.stdout:
        seen.append(line)
        armed = armed or bool(re.search(after, line))
        if armed and re.search(pattern, line):
            proc.send_signal(signal.SIGKILL)
            break
    proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL, "".join(seen)
    return "".join(seen)


def resume(repo: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*CLI, "run", "release", "--resume", "--yes"],
        cwd=repo,
        capture_output=True,
        text=True,
        timeout=300,
        env=os.environ.copy(),
    )


def running(marker: str) -> list[str]:
    """The pids of processes whose command line is exactly ``marker``."""
    return subprocess.run(["pgrep", "-f", f"^{marker}$"], capture_output=True, text=True).stdout.split()


def gone_within(marker: str, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while running(marker):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


NOTES = {"verified-by-hand": "logged in, opened project 7", "metrics-normal": "p95 flat on the dashboard"}


def tick_by_hand(config_path: Path) -> None:
    """What the verify screen does when the operator ticks its items with notes (the same
    engine calls), in a process that then dies without ending the run."""

    async def tick() -> None:
        config = load_config(config_path)
        found = await asyncio.to_thread(find_unfinished, config)
        assert found is not None
        run, _ = await resume_release(config, found)
        try:
            for check, note in NOTES.items():
                run.tick_verify(check, True, note)
        finally:
            run.release_run_lock()
            run.journal.close()

    asyncio.run(tick())


def test_resume_without_an_unfinished_run_exits_2(quiet_sandbox: demo.Sandbox) -> None:
    done = resume(quiet_sandbox.repo)
    assert done.returncode == 2, done.stdout + done.stderr
    assert "no unfinished release run" in done.stdout


def test_kill_9_at_step_boundaries_and_mid_deploy_then_resume(sandbox: demo.Sandbox, tmp_path: Path) -> None:
    repo, origin = sandbox.repo, sandbox.root / "origin.git"
    flag = tmp_path / "slow-flag"
    flag.touch()
    text = sandbox.config_path.read_text()
    slow = text.replace(
        '{ name = "fetch tags", run = "git fetch --tags --force {remote}" },',
        f'{{ name = "slow step", run = "echo started-slow; if [ -e {flag} ]; then {SLOW}; fi" }},\n'
        '    { name = "fetch tags", run = "git fetch --tags --force {remote}" },',
        1,
    )
    assert slow != text
    sandbox.config_path.write_text(slow)
    for args in (["commit", "-qam", "chore: a slow staging step"], ["push", "-q", "origin", "main"]):
        subprocess.run(["git", *args], cwd=repo, check=True)
    urls = dict(sandbox.environments)
    started = time.monotonic()

    first = kill_when(["run", "release", "--bump", "minor", "--yes"], repo, r"✔ changelog: ok")
    assert "release v1.4.0: 1.3.2 → 1.4.0 (minor)" in first
    kill_when(["run", "release", "--resume", "--yes"], repo, r"✔ tag: ok")
    try:
        mid = kill_when(["run", "release", "--resume", "--yes"], repo, r"started-slow")
        # Only iact-tui was killed (not its process group): the deploy command dies with it.
        assert gone_within(SLOW, 5.0), f"the deploy command outlived iact-tui: {running(SLOW)}"
    finally:
        for pid in running(SLOW):
            with contextlib.suppress(ProcessLookupError):
                os.kill(int(pid), signal.SIGKILL)
    assert "resuming release v1.4.0" in mid
    flag.unlink()
    after = kill_when(["run", "release", "--resume", "--yes"], repo, r"✔ deploy-staging: ok")
    assert "! deploy-staging was interrupted; it runs again" in after
    assert "deploy lock" not in after or "held by" not in after, after
    # The operator ticks the verification's items with notes, then iact-tui is killed in
    # the middle of the verification's checks (its health check answered, the timed
    # requests running): the notes must survive the resume with --yes.
    tick_by_hand(sandbox.config_path)
    verifying = kill_when(
        ["run", "release", "--resume", "--yes"], repo, r"✔ GET http.*/api/health", after=r"Verify production \.\.\."
    )
    assert "✔ deploy-production: ok" in verifying and "verify: ok" not in verifying
    done = resume(repo)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "! verify was interrupted; it runs again" in done.stdout
    assert time.monotonic() - started < 120

    # What an uninterrupted release leaves
    assert git(origin, "cat-file", "-t", "v1.4.0") == "tag"
    assert git(origin, "rev-parse", "v1.4.0^{commit}") == git(origin, "rev-parse", "main")
    subjects = git(origin, "log", "--format=%s", "v1.3.2..main").splitlines()
    assert sum("1.4.0" in s and "release" in s.lower() for s in subjects) == 2, subjects  # the commit and the merge
    changelog = git(origin, "show", "main:CHANGELOG.md")
    assert len(re.findall(r"^## \[1\.4\.0\]", changelog, re.M)) == 1
    for env in ("staging", "production"):
        assert health(urls[env])["version"] == "1.4.0", env
    assert not (sandbox.root / "staging" / ".iact-deploy.lock").exists()

    # One journal, its inputs kept
    runs = list((Path(os.environ["XDG_STATE_HOME"]) / "iact-tui" / "runs").iterdir())
    journals = [read_records(r / "journal.jsonl") for r in runs]
    releases = [j for j in journals if any(r["kind"] == "version_chosen" for r in j)]
    assert len(releases) == 1
    records = releases[0]
    kinds = [r["kind"] for r in records]
    assert kinds.count("run_started") == 1
    assert kinds.count("run_resumed") == 6
    assert kinds.count("version_chosen") == 1
    assert all(r["pid"] for r in records if r["kind"] == "run_resumed")
    ticks = {r["check"] for r in records if r["kind"] == "tick" and r["ticked"]}
    assert {"prs-merged", "no-critical-issues", "docs-updated"} <= ticks
    assert replay(records).state.verify_ticks == NOTES  # not replaced by --yes's "nobody looked"
    report = next(r for r, j in zip(runs, journals, strict=True) if j is records) / "report.md"
    assert all(note in report.read_text() for note in NOTES.values())
    ran = [(r["step_id"], r["status"]) for r in records if r["kind"] == "step_finished"]
    assert [s for s, status in ran if status == "ok"].count("tag") == 1
    assert [s for s, status in ran if status == "ok"].count("changelog") == 1
    assert ("announce", "ok") in ran
    # The next start offers nothing to resume
    assert resume(repo).returncode == 2
