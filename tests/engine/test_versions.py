"""Engine: pre-release candidates and choices from a real repository's tags (git init + tags)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from iact_tui.config import load_config
from iact_tui.engine.run import ReleaseRun
from iact_tui.errors import VersionError

CONFIG = """\
[project]
main_branch = "main"
remote = "origin"
tag_prefix = "{prefix}"
changelog = "CHANGELOG.md"
{extra}
[checks]
tests = ""
coverage_report = ""
"""


def git(cwd: Path, *args: str) -> None:
    env = {
        **os.environ,
        "GIT_AUTHOR_NAME": "Test Operator",
        "GIT_AUTHOR_EMAIL": "operator@example.invalid",
        "GIT_COMMITTER_NAME": "Test Operator",
        "GIT_COMMITTER_EMAIL": "operator@example.invalid",
        "GIT_CONFIG_GLOBAL": os.devnull,
    }
    subprocess.run(["git", *args], cwd=cwd, env=env, check=True, capture_output=True, text=True)


async def make_run(
    tmp_path: Path, tags: list[str], *, prefix: str = "v", prerelease_id: str | None = None
) -> ReleaseRun:
    """A repository with one commit per tag (in order), and a run over it with versions loaded."""
    repo = tmp_path / "repo"
    git(tmp_path, "init", "-q", "-b", "main", str(repo))
    extra = f'prerelease_id = "{prerelease_id}"\n' if prerelease_id else ""
    (repo / "iact-release.toml").write_text(CONFIG.format(prefix=prefix, extra=extra), encoding="utf-8")
    (repo / "CHANGELOG.md").write_text("# Changelog\n\n## [Unreleased]\n", encoding="utf-8")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "feat: start")
    for tag in tags:
        git(repo, "commit", "-q", "--allow-empty", "-m", f"chore: {tag}")
        git(repo, "tag", tag)
    run = ReleaseRun(load_config(repo / "iact-release.toml"), state_dir=tmp_path / "state")
    await run.load_versions()
    return run


@pytest.mark.parametrize(
    ("tags", "prefix", "prerelease_id", "expected"),
    [
        pytest.param(
            ["v0.1.0", "v0.2.0-rc.1"],
            "v",
            None,
            {"next-pre": "0.2.0-rc.2", "promote": "0.2.0", "major-pre": "1.0.0-rc.1", "patch-pre": "0.1.1-rc.1"},
            id="rc-in-flight-default-identifier",
        ),
        pytest.param(
            ["v1.3.2"],
            "v",
            "beta",
            {"major-pre": "2.0.0-beta.1", "minor-pre": "1.4.0-beta.1", "patch-pre": "1.3.3-beta.1"},
            id="configured-beta",
        ),
        pytest.param(
            ["1.3.2", "1.4.0-beta.2"],
            "",
            "rc",
            {"next-pre": "1.4.0-rc.1", "promote": "1.4.0", "major-pre": "2.0.0-rc.1", "patch-pre": "1.3.3-rc.1"},
            id="prefix-empty-beta-to-rc",
        ),
        pytest.param(
            [],
            "v",
            None,
            {"major-pre": "1.0.0-rc.1", "minor-pre": "0.1.0-rc.1", "patch-pre": "0.0.1-rc.1"},
            id="no-tags",
        ),
    ],
)
async def test_prerelease_candidates_from_tags(
    tmp_path: Path, tags: list[str], prefix: str, prerelease_id: str | None, expected: dict[str, str]
) -> None:
    run = await make_run(tmp_path, tags, prefix=prefix, prerelease_id=prerelease_id)
    assert run.prerelease_candidates() == expected


async def test_candidates_stay_major_minor_patch(tmp_path: Path) -> None:
    run = await make_run(tmp_path, ["v0.1.0", "v0.2.0-rc.1"])
    assert run.candidates() == {"major": "1.0.0", "minor": "0.2.0", "patch": "0.1.1"}


async def test_choose_prerelease_sets_version_bump_and_journal(tmp_path: Path) -> None:
    run = await make_run(tmp_path, ["v0.1.0", "v0.2.0-rc.1"])
    assert run.choose_prerelease("next-pre") == "0.2.0-rc.2"
    assert (run.state.version, run.state.bump, run.ctx.tag) == ("0.2.0-rc.2", "next-pre", "v0.2.0-rc.2")
    assert run.choose_prerelease("promote") == "0.2.0"
    assert (run.state.version, run.state.bump) == ("0.2.0", "promote")
    journal = run.journal_path.read_text(encoding="utf-8")
    assert '"bump": "next-pre"' in journal and '"version": "0.2.0"' in journal


async def test_choose_prerelease_refuses_a_key_that_does_not_apply(tmp_path: Path) -> None:
    run = await make_run(tmp_path, ["v1.3.2"])
    with pytest.raises(VersionError) as caught:
        run.choose_prerelease("promote")
    assert "promote" in caught.value.what
    assert "major-pre, minor-pre, patch-pre" in caught.value.fix
    assert run.state.version == ""


async def test_prerelease_candidates_need_load_versions(tmp_path: Path) -> None:
    run = await make_run(tmp_path, ["v1.3.2"])
    run.ctx.versions = None
    with pytest.raises(RuntimeError):
        run.prerelease_candidates()
