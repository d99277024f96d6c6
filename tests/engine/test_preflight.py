"""Pre-flight: the repository checks (shallow, no tags, unreachable remote, stale refs) and coverage reading.

Every case runs on a real repository (the demo sandbox, or a tiny project measured by a
real `python -m coverage run`).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from iact_tui import demo
from iact_tui.config import load_config
from iact_tui.engine.events import CheckUpdate, StepFinished
from iact_tui.engine.run import ReleaseRun
from iact_tui.engine.steps import preflight
from iact_tui.engine.steps.preflight import CheckFailed, GitChecks, read_coverage
from iact_tui.errors import IactError


def git(cwd: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, text=True).stdout.strip()


async def new_run(config_path: Path, tmp_path: Path, bump: str = "minor") -> ReleaseRun:
    run = ReleaseRun(load_config(config_path), state_dir=tmp_path / "state")
    await run.load_versions()
    run.choose_bump(bump)
    return run


# -- coverage --------------------------------------------------------------------------

SCRIPT = """\
def pick(x):
    if x:
        return 1
    return 2


pick(1)
"""


@pytest.fixture
def measured(tmp_path: Path) -> Path:
    """A tiny project measured by coverage.py: 5 statements, 4 run (80%); .coverage and coverage.xml."""
    project = tmp_path / "project"
    project.mkdir()
    (project / "script.py").write_text(SCRIPT)
    for args in (["run", "script.py"], ["xml", "-o", "coverage.xml"]):
        subprocess.run([sys.executable, "-m", "coverage", *args], cwd=project, check=True, capture_output=True)
    return project


def test_coverage_from_a_coverage_py_data_file_matches_the_cobertura_report(measured: Path) -> None:
    from_data = read_coverage(measured / ".coverage", measured)
    from_xml = read_coverage(measured / "coverage.xml", measured)
    assert from_data == pytest.approx(80.0)
    assert from_xml == pytest.approx(80.0)


def test_coverage_data_honours_the_projects_coverage_settings(measured: Path) -> None:
    # `exclude_lines` in .coveragerc drops the unrun `return 2` from the count: 4 of 4.
    (measured / ".coveragerc").write_text("[report]\nexclude_lines =\n    return 2\n")
    assert read_coverage(measured / ".coverage", measured) == pytest.approx(100.0)


def test_coverage_data_without_the_coverage_package_is_a_clear_error(
    measured: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "coverage", None)  # import coverage -> ImportError
    with pytest.raises(IactError, match="coverage package is not installed") as caught:
        read_coverage(measured / ".coverage", measured)
    assert "pip install coverage" in caught.value.fix and "coverage xml" in caught.value.fix
    # Cobertura XML needs no coverage package.
    assert read_coverage(measured / "coverage.xml", measured) == pytest.approx(80.0)


def test_coverage_data_whose_sources_are_gone_is_a_clear_error(measured: Path) -> None:
    (measured / "script.py").unlink()
    with pytest.raises(IactError, match=r"coverage\.py cannot report .*\.coverage") as caught:
        read_coverage(measured / ".coverage", measured)
    assert "coverage xml" in caught.value.fix


@pytest.mark.parametrize(
    ("content", "message"),
    [(None, "does not exist"), (b"not xml at all", "is not XML"), (b"<report/>", "is not a Cobertura report")],
)
def test_bad_coverage_reports_are_named(tmp_path: Path, content: bytes | None, message: str) -> None:
    path = tmp_path / "coverage.xml"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(IactError, match=message) as caught:
        read_coverage(path)
    assert caught.value.fix


async def test_preflight_reads_coverage_py_data_named_in_the_config(
    quiet_sandbox: demo.Sandbox, tmp_path: Path
) -> None:
    config = load_config(quiet_sandbox.config_path)
    checks = config.checks.model_copy(update={"coverage_report": ".coverage", "coverage_min": 1.0})
    run = ReleaseRun(config.model_copy(update={"checks": checks}), state_dir=tmp_path / "state")
    await run.load_versions()
    run.choose_bump("minor")
    events = [e async for e in run.run_step("preflight")]
    updates = {e.check_id: e for e in events if isinstance(e, CheckUpdate) and e.status != "running"}
    assert updates["coverage"].status == "passed", updates["coverage"]
    assert updates["coverage"].detail.startswith("line coverage ")
    last = events[-1]
    assert isinstance(last, StepFinished) and last.status == "ok", last


# -- repository checks -----------------------------------------------------------------


async def test_repository_checks_pass_on_a_good_clone_and_change_nothing(
    quiet_sandbox: demo.Sandbox, tmp_path: Path
) -> None:
    repo = quiet_sandbox.repo
    run = await new_run(quiet_sandbox.config_path, tmp_path)
    refs = git(repo, "for-each-ref", "refs/heads", "refs/tags")
    results = await run.check_repository()
    assert [r.check_id for r in results] == list(preflight.GIT_CHECKS)
    assert [r.status for r in results] == ["passed"] * 4, results
    assert git(repo, "for-each-ref", "refs/heads", "refs/tags") == refs


async def test_a_shallow_clone_is_refused_with_unshallow(quiet_sandbox: demo.Sandbox, tmp_path: Path) -> None:
    shallow = tmp_path / "shallow"
    git(tmp_path, "clone", "-q", "--depth", "1", quiet_sandbox.origin.resolve().as_uri(), str(shallow))
    run = await new_run(shallow / "iact-release.toml", tmp_path)
    with pytest.raises(CheckFailed, match="the clone is shallow") as caught:
        await GitChecks(run.ctx).up_to_date()
    assert caught.value.fix == "run `git fetch --unshallow origin`"


async def test_no_tags_while_the_remote_has_them_is_refused(quiet_sandbox: demo.Sandbox, tmp_path: Path) -> None:
    repo = quiet_sandbox.repo
    git(repo, "tag", "-d", *git(repo, "tag").split())
    run = await new_run(quiet_sandbox.config_path, tmp_path)
    assert run.state.version == "0.1.0"  # what the missing tags would make of it
    checks = GitChecks(run.ctx)
    with pytest.raises(CheckFailed, match=r"the clone has no tags but origin has \d+") as caught:
        await checks.up_to_date()
    assert "git fetch --tags origin" in caught.value.fix and "choose the version again" in caught.value.fix


async def test_no_tags_anywhere_is_fine(tmp_path: Path, quiet_sandbox: demo.Sandbox) -> None:
    repo = quiet_sandbox.repo
    git(repo, "tag", "-d", *git(repo, "tag").split())
    for tag in git(quiet_sandbox.origin, "tag").split():
        git(quiet_sandbox.origin, "tag", "-d", tag)
    run = await new_run(quiet_sandbox.config_path, tmp_path)
    assert await GitChecks(run.ctx).up_to_date() == "level with origin/main"


async def test_an_unreachable_remote_is_named_with_its_url_and_the_fix(
    quiet_sandbox: demo.Sandbox, tmp_path: Path
) -> None:
    repo = quiet_sandbox.repo
    git(repo, "remote", "set-url", "origin", str(tmp_path / "missing.git"))
    run = await new_run(quiet_sandbox.config_path, tmp_path)
    results = {r.check_id: r for r in await run.check_repository()}
    up = results["up-to-date"]
    assert up.status == "failed" and up.error is not None
    assert up.error.what.startswith(f"cannot reach remote origin ({tmp_path / 'missing.git'}): ")
    assert "does not appear to be a git repository" in up.error.what
    assert "git remote set-url origin URL" in up.error.fix
    # the remote half of tag-free is not checked, rather than failing a second time
    assert results["tag-free"].status == "skipped"
    assert results["clean-tree"].status == results["main-branch"].status == "passed"


async def test_a_missing_remote_names_the_command_to_add_it(quiet_sandbox: demo.Sandbox, tmp_path: Path) -> None:
    git(quiet_sandbox.repo, "remote", "remove", "origin")
    run = await new_run(quiet_sandbox.config_path, tmp_path)
    with pytest.raises(IactError, match="no remote named 'origin'") as caught:
        await GitChecks(run.ctx).up_to_date()
    assert "git remote add origin URL" in caught.value.fix
    setup = await run.check_setup()
    assert [p.fix for p in setup] == [caught.value.fix]


async def test_release_tag_created_locally_after_choosing_is_refused(
    quiet_sandbox: demo.Sandbox, tmp_path: Path
) -> None:
    run = await new_run(quiet_sandbox.config_path, tmp_path)
    git(quiet_sandbox.repo, "tag", "v1.4.0")
    with pytest.raises(CheckFailed, match=r"tag v1\.4\.0 exists locally") as caught:
        await GitChecks(run.ctx).tag_free()
    assert "`git tag -d v1.4.0`" in caught.value.fix


async def test_the_current_release_tag_missing_on_the_remote_is_refused(
    quiet_sandbox: demo.Sandbox, tmp_path: Path
) -> None:
    git(quiet_sandbox.repo, "tag", "v1.4.0")  # local only: it becomes "the current release"
    run = await new_run(quiet_sandbox.config_path, tmp_path)
    assert run.ctx.tag == "v1.5.0"
    with pytest.raises(CheckFailed, match=r"tag v1\.4\.0, the latest release here, is not on origin") as caught:
        await GitChecks(run.ctx).tag_free()
    assert "git push origin v1.4.0" in caught.value.fix and "git tag -d v1.4.0" in caught.value.fix


async def test_preflight_reports_each_failure_with_what_and_fix(quiet_sandbox: demo.Sandbox, tmp_path: Path) -> None:
    repo = quiet_sandbox.repo
    git(repo, "-c", "advice.detachedHead=false", "checkout", "-q", "--detach")
    git(repo, "remote", "set-url", "origin", "/nonexistent")
    run = await new_run(quiet_sandbox.config_path, tmp_path)
    events = [e async for e in run.run_step("preflight")]
    failed = {e.check_id: e.detail for e in events if isinstance(e, CheckUpdate) and e.status == "failed"}
    assert failed["main-branch"] == "HEAD is detached (no branch is checked out); run `git checkout main`"
    assert failed["up-to-date"].startswith("cannot reach remote origin (/nonexistent): ")
    assert "git remote set-url origin URL" in failed["up-to-date"]
    last = events[-1]
    assert isinstance(last, StepFinished) and last.status == "failed"
    # The step's fix says each failure's reason and fix in full (a table cell may cut them).
    assert "main-branch: HEAD is detached (no branch is checked out) → run `git checkout main`" in last.fix
    assert "up-to-date: cannot reach remote origin (/nonexistent)" in last.fix
    assert last.fix.endswith("; then run the checklist again")


# -- secrets the later steps read --------------------------------------------------------


async def test_secrets_the_later_steps_read_are_checked_before_the_release(
    quiet_sandbox: demo.Sandbox, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A `$env:` header, a login password_env and the notify webhook_env are named when
    unset — in the checklist and in `plan`'s setup check — and never their values."""
    config = quiet_sandbox.config_path
    text = config.read_text()
    text = text.replace('skip_reason = "demo: no stakeholders to tell"', 'webhook_env = "IACT_T_WEBHOOK"')
    text += (
        "\n[[environments.production.smoke.checks]]\n"
        'name = "api"\nurl = "http://127.0.0.1:9/api"\n'
        'headers = { Authorization = "Bearer $env:IACT_T_TOKEN", X-Literal = "$$env:NOT_A_REF" }\n'
    )
    config.write_text(text)
    git(config.parent, "commit", "-qam", "chore: secrets")
    git(config.parent, "push", "-q", "origin", "main")
    monkeypatch.setenv("IACT_T_TOKEN", "t0ken-value")
    monkeypatch.delenv("IACT_T_WEBHOOK", raising=False)
    monkeypatch.delenv("NOT_A_REF", raising=False)

    run = await new_run(config, tmp_path)
    names, errors = preflight.missing_secrets(run.config, {"IACT_T_TOKEN": "x"})
    assert names == ["IACT_T_TOKEN", "IACT_T_WEBHOOK"]  # the demo's login uses a password_command
    assert [e.what for e in errors] == [
        "[notify] webhook_env names the environment variable IACT_T_WEBHOOK, which is unset or empty"
    ]
    assert "start iact-tui again" in errors[0].fix
    assert [e.what for e in await run.check_setup()] == [errors[0].what]

    events = [e async for e in run.run_step("preflight")]
    [secrets] = [e for e in events if isinstance(e, CheckUpdate) and e.check_id == "secrets" and e.status == "failed"]
    assert "IACT_T_WEBHOOK" in secrets.detail and "t0ken-value" not in run.journal_path.read_text()

    monkeypatch.setenv("IACT_T_WEBHOOK", "http://127.0.0.1:9/hook")
    events = [e async for e in run.run_step("preflight")]
    [secrets] = [e for e in events if isinstance(e, CheckUpdate) and e.check_id == "secrets" and e.status == "passed"]
    assert secrets.detail == "2 set: IACT_T_TOKEN, IACT_T_WEBHOOK"
