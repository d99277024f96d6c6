"""A real ``iact-tui run rollback`` / ``run hotfix`` killed with SIGKILL, then resumed.

The demo sandbox's production runs v1.3.2 (local transport). A rollback to v1.3.1 is
killed as its verification starts (production already runs v1.3.1, the release it left
not yet marked bad); ``run rollback --resume --yes`` must finish that rollback, not
offer another one: v1.3.2 ends marked bad, one journal holds the whole run. A hotfix
is killed as its production verification starts (production already runs v1.3.3); read
again, production would now suggest v1.3.4, so ``run hotfix --resume --yes`` must keep
v1.3.3 and its branch and go on to the backport.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

import pytest
from test_kill_resume import git, health, kill_when

from iact_tui import demo
from iact_tui.config import load_config
from iact_tui.engine import history
from iact_tui.engine.resume import FLOWS, find_unfinished, read_records, replay, resume_flow

pytestmark = pytest.mark.e2e

CLI = [sys.executable, "-m", "iact_tui"]


def cli(repo: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CLI, *args], cwd=repo, capture_output=True, text=True, timeout=300, env=os.environ.copy())


def journals() -> list[Path]:
    state = Path(os.environ["XDG_STATE_HOME"])
    return sorted(state.glob("**/runs/*/journal.jsonl"))


def test_a_rollback_killed_while_it_verifies_is_resumed_and_marks_the_release_bad(sandbox: demo.Sandbox) -> None:
    repo, production = sandbox.repo, sandbox.environments["production"]
    assert health(production)["version"] == "1.3.2"
    out = kill_when(["run", "rollback", "--to", "1.3.1", "--yes"], repo, r"\] Verify production \.\.\.")
    assert health(production)["version"] == "1.3.1", out  # the rollback step had passed
    config = load_config(sandbox.config_path)
    found = find_unfinished(config, flows=FLOWS)
    assert found is not None, out
    assert (found.flow, found.env, found.tag, found.stopped_at) == ("rollback", "production", "v1.3.1", "verify")
    assert found.crashed and found.offer().startswith("Resume rollback of production to v1.3.1 (stopped at Verify")
    # A release's resume does not pick it up; a rollback of another environment neither.
    assert find_unfinished(config) is None
    assert find_unfinished(config, flows=FLOWS, env="staging") is None

    done = cli(repo, "run", "rollback", "--resume", "--yes")
    assert done.returncode == 0, done.stdout + done.stderr
    text = done.stdout
    assert "resuming rollback of production to v1.3.1 (verify: interrupted)" in text, text
    assert "! verify was interrupted; it runs again" in text, text
    assert "rolled back from v1.3.2 to v1.3.1; v1.3.2 marked bad" in text, text
    assert "production runs v1.3.1 (1 host: production), rolled back from v1.3.2" in text, text
    assert health(production)["version"] == "1.3.1"
    # One journal holds the whole rollback; the release it left is marked bad.
    (journal,) = journals()
    records = read_records(journal)
    kinds = [r["kind"] for r in records]
    assert kinds.count("run_started") == 1 and kinds.count("run_resumed") == 1 and kinds.count("rollback") == 1
    assert kinds.count("confirmation") == 1  # typed once, before the kill: kept, not asked again
    found_history = history.read_history("production", "v", repo=config.root)
    assert "1.3.2" in found_history.bad, found_history.bad
    assert find_unfinished(config, flows=FLOWS) is None
    # Nothing is left to resume now.
    again = cli(repo, "run", "rollback", "--resume", "--yes")
    assert again.returncode == 2 and "no unfinished rollback of production" in again.stdout, again.stdout


def test_a_rollback_killed_while_planning_is_not_offered_one_killed_as_it_rolls_back_is(
    sandbox: demo.Sandbox,
) -> None:
    """Killed while planning (read-only): nothing changed, nothing is offered. Killed as
    the rollback step starts: offered as interrupted; the resumed run rolls back again
    (each command checks first) and finishes."""
    repo, production = sandbox.repo, sandbox.environments["production"]
    config = load_config(sandbox.config_path)
    out = kill_when(["run", "rollback", "--to", "1.3.1", "--yes"], repo, r"\] Plan the rollback of production \.\.\.")
    assert health(production)["version"] == "1.3.2", out
    assert find_unfinished(config, flows=FLOWS) is None
    out = kill_when(["run", "rollback", "--to", "1.3.1", "--yes"], repo, r"\] Roll back production \.\.\.")
    found = find_unfinished(config, flows=FLOWS)
    assert found is not None and (found.stopped_at, found.stopped_status) == ("rollback-production", "interrupted"), out
    done = cli(repo, "run", "rollback", "--resume", "--yes")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "! rollback-production was interrupted; it runs again" in done.stdout, done.stdout
    assert "rolled back from v1.3.2 to v1.3.1; v1.3.2 marked bad" in done.stdout, done.stdout
    assert health(production)["version"] == "1.3.1"
    assert find_unfinished(config, flows=FLOWS) is None


def test_a_hotfix_killed_while_it_verifies_is_resumed_with_its_version(sandbox: demo.Sandbox) -> None:
    repo, origin, production = sandbox.repo, sandbox.origin, sandbox.environments["production"]
    branch = cli(repo, "run", "hotfix", "--yes", "--until", "hotfix-branch")
    assert branch.returncode == 0, branch.stdout + branch.stderr
    assert git(repo, "branch", "--show-current") == "hotfix/v1.3.3"
    path = repo / "core" / "middleware.py"
    path.write_text(path.read_text().replace("exists.", "exists (Retry-After: 30 s).", 1))
    # The sandbox's iact-release.toml is on main only: the CLI on the hotfix branch needs
    # it there too (the same text, so the backport into main merges cleanly).
    (repo / "iact-release.toml").write_text(git(origin, "show", "main:iact-release.toml") + "\n")
    git(repo, "add", "iact-release.toml")
    git(repo, "commit", "-q", "-am", "fix(core): say how long clients should wait during maintenance")
    out = kill_when(["run", "hotfix", "--yes"], repo, r"\] Verify production \.\.\.")
    assert health(production)["version"] == "1.3.3", out
    config = load_config(sandbox.config_path)
    found = find_unfinished(config, flows=FLOWS)
    assert found is not None, out
    assert (found.flow, found.tag, found.stopped_at, found.stopped_status) == (
        "hotfix",
        "v1.3.3",
        "verify",
        "interrupted",
    )

    async def rebuilt() -> tuple[str, str, str, bool]:
        """What the resumed run loads: the journal's version and branch, not production's next patch."""
        run, _ = await resume_flow(config, found)
        try:
            await run.load()
            return (
                run.state.version,
                run.ctx.work_branch,
                run.state.previous_tag,
                "deploy-production" in (run.state.confirmations),
            )
        finally:
            run.release_run_lock()
            run.journal.close()

    assert asyncio.run(rebuilt()) == ("1.3.3", "hotfix/v1.3.3", "v1.3.2", True)

    done = cli(repo, "run", "hotfix", "--resume", "--yes")
    text = done.stdout
    assert done.returncode == 0, text + done.stderr
    assert "resuming hotfix v1.3.3 (verify: interrupted)" in text, text
    assert "v1.3.4" not in text, text
    assert health(production)["version"] == "1.3.3"
    # The fix reached main; one tag, one journal for the hotfix (plus the --until run's).
    git(origin, "merge-base", "--is-ancestor", "refs/heads/hotfix/v1.3.3", "main")
    tags = git(origin, "tag", "--list").split()
    assert "v1.3.3" in tags and "v1.3.4" not in tags, tags
    hotfix_journal = [j for j in journals() if "run_resumed" in {r["kind"] for r in read_records(j)}]
    assert len(hotfix_journal) == 1
    replayed = replay(read_records(hotfix_journal[0]))
    assert replayed.records["backport"].status == "ok" and replayed.records["verify"].status == "ok"
    assert find_unfinished(config, flows=FLOWS) is None
