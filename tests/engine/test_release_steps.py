"""Engine: each release step on a real sandbox repository (bare origin on disk)."""

from __future__ import annotations

import subprocess
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest

from iact_tui import demo
from iact_tui.config import load_config
from iact_tui.engine.events import CheckUpdate, Event, OutputLine, StepFinished
from iact_tui.engine.run import ReleaseRun
from iact_tui.errors import VersionError

NewRun = Callable[..., Awaitable[ReleaseRun]]


def git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=repo, capture_output=True, text=True, check=True).stdout.strip()


async def run_step(run: ReleaseRun, step_id: str) -> tuple[list[Event], StepFinished]:
    events = [e async for e in run.run_step(step_id)]
    last = events[-1]
    assert isinstance(last, StepFinished)
    return events, last


async def test_versions_from_tags(quiet_sandbox: demo.Sandbox, tmp_path: Path) -> None:
    run = ReleaseRun(load_config(quiet_sandbox.config_path), state_dir=tmp_path / "state")
    info = await run.load_versions()
    assert info.current is not None and info.current.tag == "v1.3.2"
    assert run.candidates() == {"major": "2.0.0", "minor": "1.4.0", "patch": "1.3.3"}
    assert any(not t.startswith("v1") for t in info.ignored)
    assert [p.tag for p in info.prereleases] == ["v1.3.0-rc.1"]


async def test_preflight_passes_on_a_clean_sandbox(
    quiet_sandbox: demo.Sandbox, tmp_path: Path, cleared_run: NewRun
) -> None:
    run = await cleared_run(quiet_sandbox, checklist=False)
    events, done = await run_step(run, "preflight")
    assert done.status == "ok", done
    final = {e.check_id: e.status for e in events if isinstance(e, CheckUpdate)}
    assert final == {
        **dict.fromkeys(
            ["clean-tree", "main-branch", "up-to-date", "tag-free", "version-files", "tests", "coverage", "changelog"],
            "passed",
        ),
        "secrets": "skipped",  # the demo reads its one secret with a command, not from the environment
    }
    assert not run.checklist_complete()
    for check_id, _ in run.manual_checks():
        run.tick(check_id, True)
    assert run.checklist_complete()


async def test_preflight_failures_are_named(quiet_sandbox: demo.Sandbox, tmp_path: Path, cleared_run: NewRun) -> None:
    repo = quiet_sandbox.repo
    (repo / "README.md").write_text("edited\n")
    git(repo, "checkout", "-q", "-b", "topic")
    path = repo / "iact-release.toml"
    path.write_text(path.read_text().replace("coverage_min = 80", "coverage_min = 100"))
    run = await cleared_run(quiet_sandbox, checklist=False)
    events, done = await run_step(run, "preflight")
    assert done.status == "failed"
    details = {e.check_id: e.detail for e in events if isinstance(e, CheckUpdate) and e.status == "failed"}
    assert "uncommitted changes" in details["clean-tree"] and "README.md" in details["clean-tree"]
    assert "on branch 'topic'" in details["main-branch"]
    assert "below 100%" in details["coverage"]
    assert done.fix


async def test_release_steps_end_to_end_and_rerun_is_safe(
    quiet_sandbox: demo.Sandbox, tmp_path: Path, cleared_run: NewRun
) -> None:
    repo, origin = quiet_sandbox.repo, quiet_sandbox.origin
    run = await cleared_run(quiet_sandbox)
    body = "### Added\n\n- Edited by the operator\n"
    run.set_changelog(body)
    for step_id in ("branch", "bump", "changelog", "commit", "push", "merge", "tag"):
        _, done = await run_step(run, step_id)
        assert done.status == "ok", (step_id, done)
    assert git(origin, "cat-file", "-t", "v1.4.0") == "tag"
    assert git(origin, "rev-parse", "v1.4.0^{commit}") == git(origin, "rev-parse", "main")
    release_commit = git(origin, "rev-parse", "main^2")
    assert git(origin, "log", "-1", "--format=%s", release_commit) == "chore: prepare release v1.4.0"
    changed = set(git(origin, "diff-tree", "--no-commit-id", "--name-only", "-r", release_commit).splitlines())
    assert changed == {"iact/__init__.py", "pyproject.toml", "frontend/package.json", "CHANGELOG.md"}
    assert "- Edited by the operator" in git(origin, "show", "main:CHANGELOG.md")
    # A rerun of every step reuses what is there instead of failing or duplicating.
    for step_id in ("branch", "bump", "changelog", "commit", "push", "merge", "tag"):
        run.records[step_id].status = "pending"
    heads = git(origin, "show-ref")
    for step_id in ("changelog", "merge", "tag"):
        _, done = await run_step(run, step_id)
        assert done.status == "ok", (step_id, done)
    assert git(origin, "show-ref") == heads
    assert git(repo, "show", "main:CHANGELOG.md").count("## [1.4.0]") == 1


async def test_push_rejected_by_origin_fails_with_the_remote_reason(
    quiet_sandbox: demo.Sandbox, tmp_path: Path, cleared_run: NewRun
) -> None:
    repo, origin = quiet_sandbox.repo, quiet_sandbox.origin
    run = await cleared_run(quiet_sandbox)
    for step_id in ("branch", "bump", "changelog", "commit", "push"):
        _, done = await run_step(run, step_id)
        assert done.status == "ok", done
    # Someone else moves main on origin: the merge's push must be refused, not reported done.
    other = tmp_path / "other"
    subprocess.run(["git", "clone", "-q", str(origin), str(other)], check=True)
    (other / "late.txt").write_text("late\n")
    git(other, "add", "late.txt")
    git(other, "commit", "-qm", "fix: a late fix")
    hook = origin / "hooks" / "pre-receive"
    hook.write_text("#!/bin/sh\necho 'main is frozen for the release' >&2\nexit 1\n")
    hook.chmod(0o755)
    _, done = await run_step(run, "merge")
    assert done.status == "failed"
    assert "refused" in done.message and "main" in done.message
    assert done.fix
    hook.unlink()
    _, done = await run_step(run, "merge")
    assert done.status == "ok", done
    assert run.records["merge"].status == "ok"
    del repo


async def test_tag_on_another_commit_is_an_error_naming_both(
    quiet_sandbox: demo.Sandbox, tmp_path: Path, cleared_run: NewRun
) -> None:
    repo = quiet_sandbox.repo
    run = await cleared_run(quiet_sandbox, "patch")
    git(repo, "tag", "-a", "v1.3.3", "-m", "stale", "HEAD~1")
    for step_id in ("branch", "bump", "changelog", "commit", "push", "merge"):
        _, done = await run_step(run, step_id)
        assert done.status == "ok", done
    _, done = await run_step(run, "tag")
    assert done.status == "failed"
    stale = git(repo, "rev-parse", "v1.3.3^{commit}")[:10]
    head = git(repo, "rev-parse", "main")[:10]
    assert stale in done.message and head in done.message


async def test_steps_refuse_without_a_version(quiet_sandbox: demo.Sandbox, tmp_path: Path) -> None:
    run = ReleaseRun(load_config(quiet_sandbox.config_path), state_dir=tmp_path / "state")
    _, done = await run_step(run, "branch")
    assert done.status == "failed" and "no version chosen" in done.message


async def test_journal_records_inputs_and_results(
    quiet_sandbox: demo.Sandbox, tmp_path: Path, cleared_run: NewRun
) -> None:
    from iact_tui.engine.journal import read_journal

    run = await cleared_run(quiet_sandbox)
    run.tick("docs-updated", True)
    await run_step(run, "branch")
    kinds = [r["kind"] for r in read_journal(run.journal_path).records]
    assert kinds[0] == "run_started"
    for kind in ("version_chosen", "tick", "step_started", "step_finished"):
        assert kind in kinds
    assert run.journal_path.is_relative_to(tmp_path / "state")


@pytest.mark.parametrize("typed", ["1.4.0", "v1.4.0"])
async def test_production_needs_the_typed_version(
    quiet_sandbox: demo.Sandbox, tmp_path: Path, typed: str, cleared_run: NewRun
) -> None:
    run = await cleared_run(quiet_sandbox)
    assert run.needs_confirmation("deploy-production")
    assert not run.needs_confirmation("deploy-staging")
    _, done = await run_step(run, "deploy-production")
    assert done.status == "failed" and "type the version" in done.message
    assert not run.confirm("deploy-production", "1.3.2")
    assert run.confirm("deploy-production", typed)


async def test_release_steps_wait_for_the_checklist_of_this_version(
    quiet_sandbox: demo.Sandbox, tmp_path: Path, cleared_run: NewRun
) -> None:
    run = await cleared_run(quiet_sandbox, "minor", checklist=False)
    _, done = await run_step(run, "branch")
    assert done.status == "failed" and "checklist has not passed for v1.4.0" in done.message
    run = await cleared_run(quiet_sandbox, "minor")
    assert run.checklist_complete()
    run.choose_bump("patch")  # another version: the checklist must run again
    assert not run.checklist_complete()
    assert run.records["preflight"].status == "pending"
    _, done = await run_step(run, "branch")
    assert done.status == "failed" and "v1.3.3" in done.message
    assert (
        subprocess.run(
            ["git", "branch", "--list", "release/*"], cwd=quiet_sandbox.repo, capture_output=True, text=True
        ).stdout
        == ""
    )


async def test_version_is_fixed_once_the_release_started(
    quiet_sandbox: demo.Sandbox, tmp_path: Path, cleared_run: NewRun
) -> None:
    run = await cleared_run(quiet_sandbox)
    await run_step(run, "branch")
    with pytest.raises(VersionError, match="already started"):
        run.choose_bump("patch")


async def test_branch_refuses_a_dirty_tree_and_an_empty_changelog_before_changing_anything(
    quiet_sandbox: demo.Sandbox, tmp_path: Path, cleared_run: NewRun
) -> None:
    repo = quiet_sandbox.repo
    run = await cleared_run(quiet_sandbox)
    (repo / "pyproject.toml").write_text((repo / "pyproject.toml").read_text() + "# LOCAL DEBUG HACK\n")
    _, done = await run_step(run, "branch")
    assert done.status == "failed" and "uncommitted changes: pyproject.toml" in done.message
    git(repo, "checkout", "--", "pyproject.toml")
    run.set_changelog("### Added\n\n")
    _, done = await run_step(run, "branch")
    assert done.status == "failed" and "no entries" in done.message
    assert git(repo, "branch", "--list", "release/*") == ""
    run.set_changelog("### Added\n\n- Something\n")
    _, done = await run_step(run, "branch")
    assert done.status == "ok"


async def test_a_release_merged_but_never_tagged_is_named_with_the_commands_to_finish_it(
    quiet_sandbox: demo.Sandbox, tmp_path: Path, cleared_run: NewRun
) -> None:
    run = await cleared_run(quiet_sandbox, "patch")
    for step_id in ("branch", "bump", "changelog", "commit", "push", "merge"):
        _, done = await run_step(run, step_id)
        assert done.status == "ok", done
    # The run stopped before the tag (like `--until merge`); a new run for the same version:
    git(quiet_sandbox.repo, "checkout", "-q", "main")
    again = await cleared_run(quiet_sandbox, "patch", checklist=False)
    events, done = await run_step(again, "preflight")
    assert done.status == "failed"
    detail = next(
        e.detail for e in events if isinstance(e, CheckUpdate) and e.check_id == "tag-free" and e.status == "failed"
    )
    assert "already holds 'chore: prepare release v1.3.3'" in detail
    assert "git tag -a v1.3.3" in detail and "git push origin v1.3.3" in detail


async def test_a_changelog_without_unreleased_is_written_with_a_warning(
    quiet_sandbox: demo.Sandbox, tmp_path: Path, cleared_run: NewRun
) -> None:
    repo = quiet_sandbox.repo
    path = repo / "CHANGELOG.md"
    path.write_text("# Release notes\n\n## 1.3.2\n\n- The last one.\n")
    git(repo, "commit", "-qam", "docs: free-form release notes")
    git(repo, "push", "-q", "origin", "main")
    run = await cleared_run(quiet_sandbox)
    for step_id in ("branch", "bump"):
        _, done = await run_step(run, step_id)
        assert done.status == "ok", done
    events, done = await run_step(run, "changelog")
    assert done.status == "ok", done
    warnings = [e.text for e in events if isinstance(e, OutputLine) and e.text.startswith("⚠")]
    assert warnings == [
        "⚠ CHANGELOG.md does not follow Keep a Changelog 1.1.0: it has no '## [Unreleased]' heading: "
        "the new section and an empty [Unreleased] go above the first '## ' heading"
    ]
    text = path.read_text()
    assert text.index("## [Unreleased]") < text.index("## [1.4.0]") < text.index("## 1.3.2")
