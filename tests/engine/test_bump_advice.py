"""The bump the commits call for (Conventional Commits → SemVer) and the warning when a smaller one is chosen."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from iact_tui.config import load_config
from iact_tui.engine.run import ReleaseRun


def _git(cwd: Path, *args: str) -> None:
    subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True)


def _repo(tmp_path: Path, tag: str, subjects: list[str]) -> Path:
    repo = tmp_path / "repo"
    _git(tmp_path, "init", "-q", "-b", "main", str(repo))
    (repo / "iact-release.toml").write_text('[project]\nmain_branch = "main"\n', encoding="utf-8")
    _git(repo, "add", "-A")
    _git(repo, "commit", "-q", "-m", "feat: first release")
    _git(repo, "tag", tag)
    for subject in subjects:
        _git(repo, "commit", "-q", "--allow-empty", "-m", subject)
    return repo


@pytest.mark.parametrize(
    ("tag", "subjects", "bump", "warning"),
    [
        (
            "v1.3.2",
            ["feat(api)!: drop the v1 endpoints", "fix: typo"],
            "minor",
            "1 commit since v1.3.2 is marked breaking (first: 'feat(api)!: drop the v1 endpoints'); "
            "SemVer 2.0.0 §8 calls for MAJOR, but 1.4.0 is a MINOR release",
        ),
        ("v1.3.2", ["feat(api)!: drop the v1 endpoints"], "major", None),
        (
            "v1.3.2",
            ["feat: export", "feat: import"],
            "patch",
            "2 feat commits since v1.3.2: SemVer 2.0.0 §7 calls for MINOR, but 1.3.3 is a PATCH release",
        ),
        ("v1.3.2", ["feat: export"], "minor", None),
        (
            "v0.4.0",
            ["refactor!: new config format"],
            "patch",
            "1 commit since v0.4.0 is marked breaking (first: 'refactor!: new config format'); SemVer 2.0.0 §4 "
            "calls for at least MINOR while the major version is 0, but 0.4.1 is a PATCH release",
        ),
        ("v0.4.0", ["refactor!: new config format"], "minor", None),
        ("v1.3.2", ["docs: readme"], "patch", None),
    ],
)
async def test_bump_warning(tmp_path: Path, tag: str, subjects: list[str], bump: str, warning: str | None) -> None:
    repo = _repo(tmp_path, tag, subjects)
    run = ReleaseRun(load_config(repo / "iact-release.toml"), state_dir=tmp_path / "state")
    await run.load_versions()
    run.choose_bump(bump)
    assert run.bump_warning(await run.bump_suggestion()) == warning
