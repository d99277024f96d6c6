"""Guards against releasing the wrong thing: a pre-written section, a downgrade, main moving mid-release.

Each case is a small real repository with a bare origin on disk; the release runs through
the engine with the tests check off.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

from iact_tui.config import load_config
from iact_tui.engine.events import CheckUpdate, StepFinished
from iact_tui.engine.run import ReleaseRun

CONFIG = """[project]
main_branch = "main"
version_files = ["VERSION"]

[checks]
tests = ""
coverage_report = ""
"""

CHANGELOG = """# Changelog

## [Unreleased]

### Added
- Export to CSV.

## [1.0.0] - 2026-01-05

### Added
- First release.
"""


def git(cwd: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, check=True).stdout.strip()


def make_repo(tmp_path: Path, *, changelog: str = CHANGELOG, tag: bool = True, version: str = "1.0.0") -> Path:
    origin, repo = tmp_path / "origin.git", tmp_path / "repo"
    git(tmp_path, "init", "-q", "--bare", "-b", "main", str(origin))
    git(tmp_path, "init", "-q", "-b", "main", str(repo))
    (repo / "iact-release.toml").write_text(CONFIG)
    (repo / "CHANGELOG.md").write_text(changelog)
    (repo / "VERSION").write_text(f"{version}\n")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "feat: first release")
    if tag:
        git(repo, "tag", "-a", "v1.0.0", "-m", "Release v1.0.0")
    git(repo, "commit", "-q", "--allow-empty", "-m", "feat: export to CSV")
    git(repo, "remote", "add", "origin", str(origin))
    git(repo, "push", "-q", "origin", "main", "--tags")
    git(repo, "branch", "-q", "--set-upstream-to=origin/main", "main")
    return repo


async def checklist(repo: Path, tmp_path: Path, bump: str = "minor") -> tuple[ReleaseRun, dict[str, CheckUpdate]]:
    run = ReleaseRun(load_config(repo / "iact-release.toml"), state_dir=tmp_path / "state")
    await run.load_versions()
    run.choose_bump(bump)
    for check_id, _ in run.manual_checks():
        run.tick(check_id, True)
    found: dict[str, CheckUpdate] = {}
    async for event in run.run_step("preflight"):
        if isinstance(event, CheckUpdate):
            found[event.check_id] = event
    return run, found


async def test_a_section_written_before_the_release_stops_the_checklist(tmp_path: Path) -> None:
    repo = make_repo(
        tmp_path,
        changelog=CHANGELOG.replace("## [Unreleased]\n", "## [Unreleased]\n\n## [1.1.0] - Unreleased\n"),
    )
    run, checks = await checklist(repo, tmp_path)
    assert checks["changelog"].status == "failed"
    assert checks["changelog"].detail.startswith(
        "CHANGELOG.md already has a [1.1.0] section, written before the release"
    )
    assert "move its entries under ## [Unreleased]" in checks["changelog"].detail
    assert run.records["preflight"].status == "failed"


async def test_a_version_below_the_files_is_refused(tmp_path: Path) -> None:
    """No tag was ever pushed: the tool would start at 0.1.0 while VERSION says 1.0.0."""
    repo = make_repo(tmp_path, tag=False)
    run, checks = await checklist(repo, tmp_path)
    assert run.state.version == "0.1.0"
    assert checks["version-files"].status == "failed"
    assert checks["version-files"].detail.startswith(
        "the new version 0.1.0 is below what the files hold (VERSION holds 1.0.0): the release would downgrade them"
    )
    assert checks["changelog"].status == "failed"
    assert checks["changelog"].detail.startswith("CHANGELOG.md already describes 1.0.0, above the new 0.1.0")
    assert (repo / "VERSION").read_text() == "1.0.0\n"


async def test_main_moving_during_the_release_stops_the_merge_until_it_is_in_the_release(tmp_path: Path) -> None:
    repo = make_repo(tmp_path)
    run, checks = await checklist(repo, tmp_path)
    assert run.records["preflight"].status == "ok", checks
    async for event in run.run_until("push"):
        if isinstance(event, StepFinished):
            assert event.status == "ok", event
    # A colleague merges into main while the release branch is out.
    other = tmp_path / "other"
    git(tmp_path, "clone", "-q", str(tmp_path / "origin.git"), str(other))
    git(other, "commit", "-q", "--allow-empty", "-m", "fix: concurrent change by a colleague")
    git(other, "push", "-q", "origin", "main")
    colleague = git(other, "rev-parse", "HEAD")
    origin_main = git(tmp_path / "origin.git", "rev-parse", "main")
    events = [e async for e in run.run_step("merge")]
    last = events[-1]
    assert isinstance(last, StepFinished) and last.status == "failed"
    assert last.message.startswith("origin/main moved since release/v1.1.0 was cut: 1 commit(s) would be released")
    assert f"{colleague[:10]} fix: concurrent change by a colleague" in last.message
    assert "git merge origin/main" in last.fix
    assert git(tmp_path / "origin.git", "rev-parse", "main") == origin_main  # nothing pushed
    # The operator brings the change into the release, then retries.
    git(repo, "checkout", "-q", "release/v1.1.0")
    git(repo, "merge", "-q", "--no-edit", "origin/main")
    events = [e async for e in run.run_step("merge")]
    assert isinstance(events[-1], StepFinished) and events[-1].status == "ok", events[-1]
    assert git(tmp_path / "origin.git", "merge-base", "--is-ancestor", colleague, "main") == ""
