"""Hotfix end to end on the demo sandbox (local transport): production runs v1.3.2.

The hotfix branch is created from production's tag, the test commits the fix on it, and
the headless hotfix tags v1.3.3 on origin, deploys it straight to production, verifies
it and backports the fix and its changelog section into main. A conflicting main is
reported with the file and left untouched; a taken patch version is skipped.
"""

from __future__ import annotations

import io
import json
import subprocess
import urllib.request
from pathlib import Path

import pytest

from iact_tui import demo
from iact_tui.config import Config, HotfixConfig, load_config
from iact_tui.demo.history import VERSION_FILES
from iact_tui.engine.hotfix import HotfixRun, draft_fixed, fix_entry, hotfix_steps
from iact_tui.engine.journal import read_journal
from iact_tui.engine.steps.release_git import CommitStep, PushStep, TagStep
from iact_tui.headless import run_hotfix
from iact_tui.services import changelog

pytestmark = pytest.mark.e2e

MIDDLEWARE = "core/middleware.py"
DOC = '"""Maintenance mode: answer every request 503 while the flag file exists."""'


def git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=repo, capture_output=True, text=True, check=True).stdout.strip()


def health(url: str) -> dict[str, object]:
    with urllib.request.urlopen(url, timeout=10) as response:
        data: dict[str, object] = json.loads(response.read())
        return data


def commit_fix(repo: Path, path: str, old: str, new: str, subject: str) -> str:
    file = repo / path
    text = file.read_text()
    assert old in text
    file.write_text(text.replace(old, new, 1))
    git(repo, "commit", "-q", "-m", subject, "--", path)
    return git(repo, "rev-parse", "HEAD")


async def start_hotfix(box: demo.Sandbox, state: Path, config: Config) -> str:
    """``run hotfix --until hotfix-branch``: the branch from v1.3.2, checked out.

    The sandbox's iact-release.toml is on main only (not in v1.3.2), so the config is read
    before the branch is checked out.
    """
    out = io.StringIO()
    code = await run_hotfix(config, out=out, until="hotfix-branch", state_dir=state)
    assert code == 0, out.getvalue()
    assert "production runs v1.3.2 (read from the host); hotfix v1.3.3 on hotfix/v1.3.3" in out.getvalue()
    assert git(box.repo, "branch", "--show-current") == "hotfix/v1.3.3"
    assert git(box.repo, "rev-parse", "HEAD") == git(box.repo, "rev-parse", "v1.3.2^{commit}")
    return out.getvalue()


async def test_hotfix_reaches_production_and_main(sandbox: demo.Sandbox, tmp_path: Path) -> None:
    box, state = sandbox, tmp_path / "state"
    origin, production = box.origin, box.environments["production"]
    assert health(production)["version"] == "1.3.2"
    config = load_config(box.config_path)
    await start_hotfix(box, state, config)
    fix = commit_fix(
        box.repo,
        MIDDLEWARE,
        DOC,
        DOC.replace("exists.", "exists (Retry-After: 30 s)."),
        "fix(core): say how long clients should wait during maintenance",
    )

    out = io.StringIO()
    code = await run_hotfix(config, out=out, state_dir=state)
    text = out.getvalue()
    assert code == 0, text

    # origin: an annotated v1.3.3 on the hotfix branch's head, which holds the fix
    assert git(origin, "cat-file", "-t", "v1.3.3") == "tag"
    assert git(origin, "rev-parse", "v1.3.3^{commit}") == git(origin, "rev-parse", "refs/heads/hotfix/v1.3.3")
    assert git(origin, "log", "-1", "--format=%s", "v1.3.3") == "chore: prepare hotfix v1.3.3"
    git(origin, "merge-base", "--is-ancestor", fix, "v1.3.3")
    # production runs it, straight after the tag (no staging deploy)
    assert health(production)["version"] == "1.3.3"
    assert health(box.environments["staging"])["version"] == "1.3.2"
    assert "deploy-staging     skipped" in text
    # main holds the fix and the changelog section, with its own [Unreleased] entries kept
    git(origin, "merge-base", "--is-ancestor", fix, "main")
    log = git(origin, "show", "main:CHANGELOG.md")
    headings = [line for line in log.splitlines() if line.startswith("## ")]
    assert headings[0] == "## [Unreleased]" and headings[1].startswith("## [1.3.3] - ")
    assert headings[2].startswith("## [1.3.2]")
    section = log.split(headings[1], 1)[1].split("## [1.3.2]", 1)[0]
    assert "### Fixed" in section and "- **core:** Say how long clients should wait during maintenance" in section
    assert "`GET /api/projects` lists the projects by name." in log.split(headings[1], 1)[0]
    assert 'path("api/projects"' in git(origin, "show", "main:iact/urls.py")  # main's own work kept
    # the operator's clone is back on main, level with origin
    assert git(box.repo, "branch", "--show-current") == "main"
    assert git(box.repo, "rev-parse", "main") == git(origin, "rev-parse", "main")
    # the journal is a hotfix run's
    journal = Path(text.rsplit("journal: ", 1)[1].strip())
    records = read_journal(journal).records
    assert records[0]["kind"] == "run_started" and records[0]["flow"] == "hotfix"
    loaded = next(r for r in records if r["kind"] == "hotfix_loaded")
    assert (loaded["production"], loaded["version"], loaded["source"]) == ("v1.3.2", "1.3.3", "host")


async def test_backport_conflict_is_reported_and_main_left_untouched(
    quiet_sandbox: demo.Sandbox, tmp_path: Path
) -> None:
    box, state = quiet_sandbox, tmp_path / "state"
    origin = box.origin
    await start_hotfix(box, state, load_config(box.config_path))
    commit_fix(
        box.repo,
        MIDDLEWARE,
        DOC,
        DOC.replace("exists.", "exists (Retry-After: 30 s)."),
        "fix(core): say how long to wait",
    )
    # meanwhile main changed the same line
    git(box.repo, "checkout", "-q", "main")
    commit_fix(
        box.repo,
        MIDDLEWARE,
        DOC,
        DOC.replace("every request", "every request but the health check"),
        "docs(core): the health check answers in maintenance too",
    )
    git(box.repo, "push", "-q", "origin", "main")
    main_before = git(origin, "rev-parse", "main")

    run = HotfixRun(load_config(box.config_path), state_dir=state)
    await run.load()
    assert run.ctx.tag == "v1.3.3"
    events = [e async for e in run.run_until("tag")]
    assert run.records["tag"].status == "ok", [
        (k, r.status, r.message, r.fix) for k, r in run.records.items() if r.status != "pending"
    ]
    assert events
    finished = [e async for e in run.run_step("backport")][-1]
    assert finished.status == "failed"  # type: ignore[union-attr]
    # Only the conflict iact-tui cannot resolve is named; the changelog is said apart.
    assert "main (conflicts in core/middleware.py)" in run.records["backport"].message
    assert "section of CHANGELOG.md belongs there too" in run.records["backport"].fix
    assert "git merge --no-ff hotfix/v1.3.3" in run.records["backport"].fix
    assert git(origin, "rev-parse", "main") == main_before
    assert git(origin, "rev-parse", "v1.3.3^{commit}") == git(origin, "rev-parse", "refs/heads/hotfix/v1.3.3")
    assert git(box.repo, "status", "--porcelain") == ""
    assert len(git(box.repo, "worktree", "list").splitlines()) == 1  # the temporary worktree is gone
    run.journal.close()


async def test_no_fix_commit_fails_the_checks_and_changes_nothing(quiet_sandbox: demo.Sandbox, tmp_path: Path) -> None:
    box, state = quiet_sandbox, tmp_path / "state"
    config = load_config(box.config_path)
    await start_hotfix(box, state, config)
    out = io.StringIO()
    # nothing committed on the branch yet: the checks refuse before any change
    code = await run_hotfix(config, out=out, until="tag", state_dir=state)
    assert code == 1
    assert "has no commit since v1.3.2" in out.getvalue()
    assert git(box.origin, "tag", "--list", "v1.3.3") == ""


async def test_next_free_patch_skips_a_taken_version(quiet_sandbox: demo.Sandbox, tmp_path: Path) -> None:
    box = quiet_sandbox
    git(box.repo, "tag", "-a", "v1.3.3", "-m", "someone else's", "main")
    git(box.repo, "push", "-q", "origin", "v1.3.3")
    git(box.repo, "tag", "-d", "v1.3.3")  # only on the remote
    git(box.repo, "push", "-q", "origin", "main:refs/heads/hotfix/v1.3.4")  # not from v1.3.2
    run = HotfixRun(load_config(box.config_path), state_dir=tmp_path / "state")
    await run.load()
    assert (run.production_tag, run.source) == ("v1.3.2", "host")
    assert (run.state.version, run.branch) == ("1.3.5", "hotfix/v1.3.5")
    assert any("1.3.3 is taken (its tag exists)" in n for n in run.notes)
    assert any("1.3.4 is taken (hotfix/v1.3.4 exists and was not cut from v1.3.2" in n for n in run.notes)
    run.journal.close()


def test_fixed_section_from_fix_subjects_is_written_like_a_release_draft() -> None:
    subject = "fix(api): reject empty project names"
    assert fix_entry(subject) == "**api:** Reject empty project names"
    assert (
        changelog.draft_section_body("", [changelog.Commit("a", subject)])
        == "### Fixed\n\n- " + fix_entry(subject) + "\n"
    )
    assert fix_entry("Handle empty names") == "Handle empty names"
    assert fix_entry("test: cover empty names") == "Cover empty names"  # left out of a release, kept in a hotfix
    body = draft_fixed([("b", "fix: second"), ("a", "fix(x)!: first")])
    assert body == "### Fixed\n\n- **BREAKING:** **x:** First\n- Second\n"


def test_hotfix_steps_have_their_own_titles() -> None:
    titles = {step.id: step.title for step in hotfix_steps()}
    assert (titles["commit"], titles["push"], titles["tag"]) == ("Commit hotfix", "Push hotfix branch", "Tag hotfix")
    assert not any("release" in title.lower() for title in titles.values())
    assert (CommitStep().title, PushStep().title, TagStep().title) == (
        "Commit release",
        "Push release branch",
        "Tag release",
    )  # the release's own steps keep theirs


async def test_cherry_pick_backport_brings_the_fix_and_the_section_only(
    quiet_sandbox: demo.Sandbox, tmp_path: Path
) -> None:
    box, state = quiet_sandbox, tmp_path / "state"
    config = load_config(box.config_path)
    config = config.model_copy(update={"hotfix": HotfixConfig(backport="cherry-pick")})
    await start_hotfix(box, state, config)
    fix = commit_fix(box.repo, MIDDLEWARE, DOC, DOC.replace("exists.", "exists (Retry-After: 30 s)."), "fix: say it")
    run = HotfixRun(config, state_dir=state)
    await run.load()
    _ = [e async for e in run.run_until("tag")]
    assert run.records["tag"].status == "ok"
    finished = [e async for e in run.run_step("backport")][-1]
    assert run.records["backport"].status == "ok", finished
    origin = box.origin
    body = git(origin, "log", "-3", "--format=%s%n%b", "main")
    assert "docs(changelog): v1.3.3 (hotfix)" in body and f"(cherry picked from commit {fix})" in body
    assert "(Retry-After: 30 s)" in git(origin, "show", f"main:{MIDDLEWARE}")
    assert "## [1.3.3] - " in git(origin, "show", "main:CHANGELOG.md")
    # main's version files (1.3.2) are raised to the hotfix's version in a follow-up commit
    assert versions_on(origin, "main") == dict.fromkeys(VERSION_FILES, "1.3.3")
    assert git(origin, "log", "-1", "--format=%s", "main") == "chore: version files at 1.3.3 after hotfix v1.3.3"
    assert git(box.repo, "branch", "--show-current") == "main"
    run.journal.close()


def versions_on(origin: Path, ref: str) -> dict[str, str]:
    """The version each of the sandbox's version files holds at ``ref`` on origin."""
    text = {path: git(origin, "show", f"{ref}:{path}") for path in VERSION_FILES}
    return {
        "iact/__init__.py": text["iact/__init__.py"].split('__version__ = "', 1)[1].split('"', 1)[0],
        "pyproject.toml": text["pyproject.toml"].split('\nversion = "', 1)[1].split('"', 1)[0],
        "frontend/package.json": json.loads(text["frontend/package.json"])["version"],
    }


async def test_backport_raises_lower_version_files_and_skips_finished_release_branches(
    quiet_sandbox: demo.Sandbox, tmp_path: Path
) -> None:
    """main's version files end at the hotfix's version (here main's own edit next to
    ``__version__`` conflicts with the hotfix's bump, so the merge keeps main's file); an
    open release branch keeps its higher version; a finished release branch (merged into
    main and tagged) is left alone and reported."""
    box, state = quiet_sandbox, tmp_path / "state"
    origin = box.origin
    config = load_config(box.config_path)
    await start_hotfix(box, state, config)
    commit_fix(box.repo, MIDDLEWARE, DOC, DOC.replace("exists.", "exists (Retry-After: 30 s)."), "fix: say it")
    git(box.repo, "checkout", "-q", "main")
    commit_fix(
        box.repo, "iact/__init__.py", '__version__ = "1.3.2"', '__version__ = "1.3.2"  # bumped by iact-tui', "c"
    )
    git(box.repo, "push", "-q", "origin", "main")
    # a finished release branch (merged into main, tagged) and an open one (not merged, untagged)
    git(box.repo, "push", "-q", "origin", "v1.3.0^{commit}:refs/heads/release/v1.3.0")
    git(box.repo, "checkout", "-q", "-b", "release/v1.4.0", "main")
    for path in VERSION_FILES:
        file = box.repo / path
        file.write_text(file.read_text().replace('"1.3.2"', '"1.4.0"', 1))
    git(box.repo, "commit", "-q", "-am", "chore: prepare release v1.4.0")
    git(box.repo, "push", "-q", "origin", "release/v1.4.0")
    finished_before = git(origin, "rev-parse", "release/v1.3.0")
    git(box.repo, "checkout", "-q", "hotfix/v1.3.3")

    run = HotfixRun(config, state_dir=state)
    await run.load()
    _ = [e async for e in run.run_until("tag")]
    assert run.records["tag"].status == "ok"
    finished = [e async for e in run.run_step("backport")][-1]
    record = run.records["backport"]
    assert record.status == "ok", finished
    # main: the hotfix's version in every version file, and its changelog section
    assert versions_on(origin, "main") == dict.fromkeys(VERSION_FILES, "1.3.3")
    assert "## [1.3.3] - " in git(origin, "show", "main:CHANGELOG.md")
    assert "(Retry-After: 30 s)" in git(origin, "show", f"main:{MIDDLEWARE}")
    subjects = git(origin, "log", "-3", "--format=%s", "main").splitlines()
    assert "chore: version files at 1.3.3 after hotfix v1.3.3" in subjects
    # the open release branch: the fix and the section, its higher version kept
    assert versions_on(origin, "release/v1.4.0") == dict.fromkeys(VERSION_FILES, "1.4.0")
    assert "(Retry-After: 30 s)" in git(origin, "show", f"release/v1.4.0:{MIDDLEWARE}")
    assert "## [1.3.3] - " in git(origin, "show", "release/v1.4.0:CHANGELOG.md")
    # the finished one: untouched, reported as skipped
    assert git(origin, "rev-parse", "release/v1.3.0") == finished_before
    assert set(record.data["targets"]) == {"main", "release/v1.4.0"}
    assert "merged into main" in record.data["skipped"]["release/v1.3.0"]
    assert "skipped release/v1.3.0" in record.message
    assert "release/v1.3.0: skipped (finished release: merged into main, tagged v1.3.0)" in run.summary_lines()
    run.journal.close()


async def test_summary_says_the_empty_branch_was_deleted(quiet_sandbox: demo.Sandbox, tmp_path: Path) -> None:
    box = quiet_sandbox
    run = HotfixRun(load_config(box.config_path), state_dir=tmp_path / "state")
    try:
        await run.load()
        assert await run.remember_branch() == "main"
        async for _ in run.run_until("hotfix-branch"):
            pass
        assert run.records["hotfix-branch"].status == "ok"
        said = await run.leave(delete_branch=True)
        assert "deleted hotfix/v1.3.3" in said
        assert git(box.repo, "branch", "--list", "hotfix/v1.3.3") == ""
        head, where = run.summary_lines()[:2]
        assert head == "Hotfix v1.3.3: hotfix/v1.3.3 created, then deleted (no commit, never pushed); nothing released"
        assert where.endswith("on hotfix/v1.3.3 (deleted)")
    finally:
        run.journal.close()
