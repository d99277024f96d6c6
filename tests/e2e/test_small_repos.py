"""Headless releases of small real repositories (bare origin + clone), no environments."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e

CONFIG = """\
[project]
version_files = ["mod.py"]

[checks]
tests = ""
coverage_report = ""
"""


def git(cwd: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, text=True).stdout.strip()


def make_repo(root: Path, tag: str, changelog: bytes | None) -> tuple[Path, Path]:
    origin, repo = root / "origin.git", root / "repo"
    git(root, "init", "-q", "--bare", "-b", "main", str(origin))
    git(root, "clone", "-q", str(origin), str(repo))
    (repo / "iact-release.toml").write_text(CONFIG)
    (repo / "mod.py").write_text('__version__ = "1.2.3"\n')
    if changelog is not None:
        (repo / "CHANGELOG.md").write_bytes(changelog)
    git(repo, "add", ".")
    git(repo, "commit", "-qm", "chore: start")
    git(repo, "tag", "-a", tag, "-m", tag)
    (repo / "fix.txt").write_text("fixed\n")
    git(repo, "add", ".")
    git(repo, "commit", "-qm", "fix: a bug")
    git(repo, "push", "-q", "origin", "main", "--tags")
    return origin, repo


def release(repo: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "iact_tui", "run", "release", "--yes", *args],
        cwd=repo,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_a_repo_without_a_changelog_gets_one_in_the_release_commit(tmp_path: Path) -> None:
    origin, repo = make_repo(tmp_path, "v1.2.3+build.5", None)
    done = release(repo, "--bump", "patch")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "holds 1.2.3, not" not in done.stdout  # build metadata is not a version mismatch
    files = git(origin, "show", "--name-only", "--format=", "main^2").splitlines()
    assert sorted(files) == ["CHANGELOG.md", "mod.py"]
    assert "- A bug" in git(origin, "show", "main:CHANGELOG.md")
    assert git(repo, "status", "--porcelain") == ""
    announcement = Path(done.stdout.split("announcement: ")[1].splitlines()[0]).read_text()
    assert "was released on" in announcement and "did not deploy it to production" in announcement


def test_a_changelog_keeps_its_byte_order_mark(tmp_path: Path) -> None:
    text = (
        "\ufeff# Changelog\r\n\r\n## [Unreleased]\r\n\r\n## [1.2.3] - 2024-01-01\r\n\r\n### Added\r\n\r\n- First.\r\n"
    )
    _, repo = make_repo(tmp_path, "v1.2.3", text.encode("utf-8"))
    done = release(repo, "--bump", "minor")
    assert done.returncode == 0, done.stdout + done.stderr
    data = (repo / "CHANGELOG.md").read_bytes()
    assert data.startswith(b"\xef\xbb\xbf# Changelog\r\n")
    assert b"## [1.3.0] - " in data and b"\n" not in data.replace(b"\r\n", b"")


def test_an_empty_version_override_is_bad_usage(tmp_path: Path) -> None:
    _, repo = make_repo(tmp_path, "v1.2.3", None)
    done = release(repo, "--version-override", "")
    assert done.returncode == 2, done.stdout + done.stderr
    assert "Traceback" not in done.stdout + done.stderr
    assert "SemVer" in done.stdout
