"""``kill -9`` at every step boundary of a release merged through a pull request, and once
more right after the pull request was opened, against the GitHub stand-in.

The real ``iact-tui run release --bump minor --yes --until tag`` with ``forge.kind =
"github"``; the stand-in (a real HTTP server on loopback) merges for real in the bare
origin, as GitHub merges on its side. Each process is SIGKILLed from outside: at the
first ``step_finished`` it journals, and in the merge step as soon as the stand-in has
answered the pull request's creation. The end must be what one uninterrupted run
leaves: one pull request (opened once, merged once), main at its merge commit, the tag
on it, one journal that resumed at each kill.
"""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

import pytest
from support.github_fake import TOKEN, GitHubFake, merge_for_real
from test_kill_boundaries import CLI, RESUME, Watched, git

from iact_tui.engine.resume import read_records

pytestmark = pytest.mark.e2e

STEPS = ("preflight", "branch", "bump", "changelog", "commit", "push", "merge", "tag")
START = ["run", "release", "--bump", "minor", "--yes", "--until", "tag"]
UNTIL_TAG = [*RESUME, "--until", "tag"]

CONFIG = """[project]
main_branch = "main"
version_files = ["VERSION"]

[checks]
tests = ""
coverage_report = ""

[forge]
kind = "github"
repository = "acme/shop"
api_url = "{api_url}"
labels = ["deploy"]
checks_deadline = 10
poll_interval = 0.05
"""


def make_repo(tmp_path: Path, api_url: str) -> tuple[Path, Path]:
    """A repository released as v1.0.0 with one feature since, and its bare origin."""
    origin, repo = tmp_path / "origin.git", tmp_path / "repo"
    git(tmp_path, "init", "-q", "--bare", "-b", "main", str(origin))
    git(tmp_path, "init", "-q", "-b", "main", str(repo))
    (repo / "iact-release.toml").write_text(CONFIG.format(api_url=api_url))
    (repo / "CHANGELOG.md").write_text("# Changelog\n\n## [Unreleased]\n\n## [1.0.0] - 2026-01-05\n\n- First.\n")
    (repo / "VERSION").write_text("1.0.0\n")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "feat: first release")
    git(repo, "tag", "-a", "v1.0.0", "-m", "Release v1.0.0")
    git(repo, "commit", "-q", "--allow-empty", "-m", "feat: export to CSV")
    git(repo, "remote", "add", "origin", str(origin))
    git(repo, "push", "-q", "origin", "main", "--tags")
    git(repo, "branch", "-q", "--set-upstream-to=origin/main", "main")
    return repo, origin


def sync_branches(github: GitHubFake, origin: Path) -> None:
    """What GitHub knows after a push: the origin's branches at their commits."""
    for line in git(origin, "for-each-ref", "--format=%(refname:short) %(objectname)", "refs/heads").splitlines():
        name, sha = line.split()
        if github.branches.get(name) != sha:
            github.push(name, sha)


def kill_when_pr_opened(proc: Watched, github: GitHubFake, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not any(i.is_pr for i in github.items.values()):
        assert proc.proc.poll() is None, proc.output()
        assert time.monotonic() < deadline, proc.output()
        time.sleep(0.001)
    proc.proc.kill()
    proc.proc.wait(timeout=30)


def test_kill_9_at_every_boundary_and_after_the_pr_is_opened(github: GitHubFake, tmp_path: Path) -> None:
    repo, origin = make_repo(tmp_path, github.api_url)
    merge_for_real(github, origin, tmp_path)
    sync_branches(github, origin)
    env = {**os.environ, "GITHUB_TOKEN": TOKEN}
    started = time.monotonic()

    first = Watched(START, repo, env)
    journal = first.journal()
    killed = [first.kill_at(journal, 0, "step_finished")["step_id"]]
    pr_kill_done = False
    while killed[-1] != STEPS[-1]:
        sync_branches(github, origin)  # GitHub sees each push at once
        offset = journal.stat().st_size
        nxt = Watched(UNTIL_TAG, repo, env)
        if killed[-1] == "push" and not pr_kill_done:
            kill_when_pr_opened(nxt, github)  # in the middle of the merge step
            pr_kill_done = True
            killed.append("merge: pull request opened")
            continue
        record = nxt.kill_at(journal, offset, "step_finished")
        assert record["status"] == "ok", nxt.output()
        killed.append(record["step_id"])
    done = subprocess.run([*CLI, *UNTIL_TAG], cwd=repo, capture_output=True, text=True, timeout=60, env=env)
    assert done.returncode == 0, done.stdout + done.stderr
    seconds = time.monotonic() - started
    assert killed == [*STEPS[:6], "merge: pull request opened", "merge", "tag"]

    prs = [i for i in github.items.values() if i.is_pr]
    assert len(prs) == 1, prs
    pr = prs[0]
    assert (pr.head, pr.base, pr.state, pr.merged) == ("release/v1.1.0", "main", "closed", True)
    assert len(github.requests_to("POST", "/pulls")) == 1  # opened once, found again after the kill
    assert len(github.requests_to("PUT", r"/pulls/\d+/merge")) == 1
    assert pr.merge_commit_sha == git(origin, "rev-parse", "main")
    assert git(origin, "cat-file", "-t", "v1.1.0") == "tag"
    assert git(origin, "rev-parse", "v1.1.0^{commit}") == pr.merge_commit_sha
    assert git(origin, "show", "main:VERSION") == "1.1.0"
    assert git(origin, "show", "main:CHANGELOG.md").count("## [1.1.0]") == 1

    kinds = [r["kind"] for r in read_records(journal)]
    assert kinds.count("run_started") == 1 and kinds.count("run_resumed") == len(killed)
    print(f"{len(killed)} kills against the GitHub stand-in: {seconds:.1f} s")
