"""Version files that disagree with the current release: reported, and the operator chooses."""

from __future__ import annotations

import subprocess
from collections.abc import Awaitable, Callable
from pathlib import Path

from iact_tui import demo
from iact_tui.engine.events import StepFinished
from iact_tui.engine.run import ReleaseRun

NewRun = Callable[..., Awaitable[ReleaseRun]]


def git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=repo, capture_output=True, text=True, check=True).stdout.strip()


async def test_disagreeing_files_are_named_and_the_bump_waits_for_a_choice(
    quiet_sandbox: demo.Sandbox, cleared_run: NewRun
) -> None:
    repo = quiet_sandbox.repo
    init = repo / "iact" / "__init__.py"
    init.write_text(init.read_text().replace('"1.3.2"', '"1.3.1"'))
    git(repo, "commit", "-qam", "chore: an old version slipped in")
    git(repo, "push", "-q", "origin", "main")
    run = await cleared_run(quiet_sandbox)
    found = await run.version_mismatches()
    assert [(f.path.as_posix(), f.version) for f in found] == [("iact/__init__.py", "1.3.1")]
    events = [e async for e in run.run_step("branch")]
    done = events[-1]
    assert isinstance(done, StepFinished) and done.status == "failed"
    assert done.message == "version files disagree with the current release 1.3.2: iact/__init__.py holds 1.3.1"
    assert "accept on the checklist" in done.fix
    assert git(repo, "branch", "--list", "release/*") == ""
    run.accept_version_mismatch(True)
    events = [e async for e in run.run_step("branch")]
    assert isinstance(events[-1], StepFinished) and events[-1].status == "ok"
    events = [e async for e in run.run_step("bump")]
    assert isinstance(events[-1], StepFinished) and events[-1].status == "ok"
    assert '__version__ = "1.4.0"' in init.read_text()
    assert '"version_mismatch_accepted"' in run.journal_path.read_text()
