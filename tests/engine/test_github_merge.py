"""The merge step with ``forge.kind = "github"``: release PR, checks, merge, main at the merge commit.

A real repository with a bare origin on disk, and the GitHub stand-in on loopback; when the
stand-in merges, the merge is made for real in the bare origin (as GitHub merges on its
side), so the tag step tags the very commit GitHub reported.
"""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest
from support.github_fake import TOKEN, GitHubFake

from iact_tui.config import load_config
from iact_tui.engine.events import OutputLine, StepFinished
from iact_tui.engine.run import ReleaseRun

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


def git(cwd: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, check=True).stdout.strip()


def make_repo(tmp_path: Path, api_url: str) -> Path:
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
    return repo


def merge_for_real(github: GitHubFake, origin: Path, tmp_path: Path) -> None:
    """Make the stand-in's merge a real merge commit in the bare origin."""
    original = github._merge_pull

    def merge(query: dict[str, str], body: Any, n: str) -> tuple[int, Any, dict[str, str]]:
        status, answer, headers = original(query, body, n)
        item = github.items[int(n)]
        work = tmp_path / f"github-merge-{n}"
        git(tmp_path, "clone", "-q", str(origin), str(work))
        git(
            work,
            "merge",
            "-q",
            "--no-ff",
            "-m",
            f"Merge pull request #{n} from acme/{item.head}",
            f"origin/{item.head}",
        )
        git(work, "push", "-q", "origin", "main")
        sha = git(work, "rev-parse", "HEAD")
        item.merge_commit_sha = sha
        github.branches[item.base] = sha
        return status, {**answer, "sha": sha}, headers

    github._merge_pull = merge  # type: ignore[method-assign]


async def test_release_merged_through_a_pull_request(
    github: GitHubFake, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GITHUB_TOKEN", TOKEN)
    repo = make_repo(tmp_path, github.api_url)
    merge_for_real(github, tmp_path / "origin.git", tmp_path)
    run = ReleaseRun(load_config(repo / "iact-release.toml"), state_dir=tmp_path / "state")
    await run.load_versions()
    run.choose_bump("minor")
    for check_id, _ in run.manual_checks():
        run.tick(check_id, True)
    async for event in run.run_until("push"):
        if isinstance(event, StepFinished):
            assert event.status == "ok", event
    head = git(repo, "rev-parse", "release/v1.1.0")
    github.add_branch("release/v1.1.0", head)  # the push reached GitHub
    github.add_check_run(head, "ci / test", status="in_progress")
    lines: list[str] = []
    finished: StepFinished | None = None
    async for event in run.run_step("merge"):
        if isinstance(event, OutputLine):
            lines.append(event.text)
            if "waiting for" in event.text:
                github.set_check_run(head, "ci / test", "completed", "success")
        elif isinstance(event, StepFinished):
            finished = event
    assert finished is not None and finished.status == "ok", (finished, lines)
    [create] = github.requests_to("POST", "/pulls")
    assert create.authorization == f"Bearer {TOKEN}"
    assert create.json is not None and create.json["title"] == "Release v1.1.0"
    assert (create.json["head"], create.json["base"]) == ("release/v1.1.0", "main")
    assert "## Changelog" in create.json["body"] and "## Rollback plan" in create.json["body"]
    [labels] = github.requests_to("POST", "/issues/1/labels")
    assert labels.json == {"labels": ["release", "deploy"]}
    [merge] = github.requests_to("PUT", "/pulls/1/merge")
    assert merge.json == {"merge_method": "merge", "sha": head}
    assert any(line.startswith("PR #1: waiting for") for line in lines)
    origin_main = git(tmp_path / "origin.git", "rev-parse", "main")
    assert finished.data["commit"] == origin_main == git(repo, "rev-parse", "main")
    # The tag goes on GitHub's merge commit.
    async for event in run.run_step("tag"):
        if isinstance(event, StepFinished):
            assert event.status == "ok", event
    assert git(tmp_path / "origin.git", "rev-parse", "v1.1.0^{commit}") == origin_main
    assert TOKEN not in run.journal_path.read_text()


async def test_a_failing_check_stops_the_merge_with_its_name(
    github: GitHubFake, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GITHUB_TOKEN", TOKEN)
    repo = make_repo(tmp_path, github.api_url)
    run = ReleaseRun(load_config(repo / "iact-release.toml"), state_dir=tmp_path / "state")
    await run.load_versions()
    run.choose_bump("minor")
    for check_id, _ in run.manual_checks():
        run.tick(check_id, True)
    async for _ in run.run_until("push"):
        pass
    head = git(repo, "rev-parse", "release/v1.1.0")
    github.add_branch("release/v1.1.0", head)
    github.add_check_run(head, "ci / lint", status="completed", conclusion="failure")
    events = [e async for e in run.run_step("merge")]
    last = events[-1]
    assert isinstance(last, StepFinished) and last.status == "failed"
    assert "ci / lint" in last.message
    assert github.requests_to("PUT", r"/pulls/\d+/merge") == []  # nothing merged
    assert git(tmp_path / "origin.git", "rev-parse", "main") == git(repo, "rev-parse", "origin/main")


async def test_checklist_asks_github_about_prs_issues_and_ci(
    github: GitHubFake, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GITHUB_TOKEN", TOKEN)
    repo = make_repo(tmp_path, github.api_url)
    config = repo / "iact-release.toml"
    config.write_text(config.read_text() + 'blocking_pr_label = "release-1.1"\n')
    git(repo, "commit", "-qam", "chore: block on labelled PRs")
    git(repo, "push", "-q", "origin", "main")
    pr = github.add_pr("feature/export", title="Export to CSV", labels=["release-1.1"])
    issue = github.add_issue("Login broken on Safari", labels=["critical"])
    main_sha = github.branches["main"]
    github.add_check_run(main_sha, "ci / test", status="completed", conclusion="failure")
    run = ReleaseRun(load_config(config), state_dir=tmp_path / "state")
    await run.load_versions()
    run.choose_bump("minor")
    assert [c for c, _ in run.manual_checks()] == ["docs-updated"]  # GitHub answers the other two
    run.tick("docs-updated", True)
    from iact_tui.engine.events import CheckUpdate

    found: dict[str, CheckUpdate] = {}
    async for event in run.run_step("preflight"):
        if isinstance(event, CheckUpdate):
            found[event.check_id] = event
    assert found["forge-prs"].status == "failed"
    assert found["forge-prs"].detail.startswith("1 open pull request(s) labelled 'release-1.1': ")
    assert f"#{pr.number} Export to CSV" in found["forge-prs"].detail
    assert found["forge-issues"].status == "failed" and "Login broken on Safari" in found["forge-issues"].detail
    assert found["forge-ci"].status == "failed" and "ci / test" in found["forge-ci"].detail
    assert not run.checklist_complete()
    pr.state, issue.state = "closed", "closed"
    github.set_check_run(main_sha, "ci / test", "completed", "success")
    async for event in run.run_step("preflight"):
        if isinstance(event, CheckUpdate):
            found[event.check_id] = event
    assert {found[c].status for c in ("forge-prs", "forge-issues", "forge-ci")} == {"passed"}
    assert run.checklist_complete()
    assert all(r.authorization == f"Bearer {TOKEN}" for r in github.requests)
