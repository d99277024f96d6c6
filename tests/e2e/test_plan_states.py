"""`iact-tui plan release --bump minor` on a real sandbox put into each pre-flight failure state.

Each case breaks a fresh sandbox clone with real git commands, runs the CLI as a
subprocess and expects exit 1 with the reason and its fix (`→ ...`), no traceback, and
nothing changed in the repository (HEAD, branches, tags, status; the fetch only moves
remote-tracking refs). The good and the untracked-only repositories exit 0.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from iact_tui import demo

pytestmark = pytest.mark.e2e


def git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=repo, capture_output=True, text=True, check=True).stdout.strip()


def plan(cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "iact_tui", "plan", "release", "--bump", "minor"],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
        env=os.environ.copy(),
    )


def snapshot(repo: Path) -> tuple[str, ...]:
    """What plan must leave alone: HEAD, local branches and tags, the status, the remotes' config."""
    return (
        git(repo, "rev-parse", "HEAD"),
        git(repo, "symbolic-ref", "-q", "--short", "HEAD") if _attached(repo) else "(detached)",
        git(repo, "for-each-ref", "--format=%(refname) %(objectname)", "refs/heads", "refs/tags"),
        git(repo, "status", "--porcelain", "--untracked-files=all"),
        git(repo, "remote", "-v"),
        str(git(repo, "rev-parse", "--is-shallow-repository")),
    )


def _attached(repo: Path) -> bool:
    return subprocess.run(["git", "symbolic-ref", "-q", "HEAD"], cwd=repo, capture_output=True).returncode == 0


def other_clone(box: demo.Sandbox, tmp_path: Path) -> Path:
    """A colleague's clone of the sandbox origin, to push from."""
    other = tmp_path / "other"
    git(tmp_path, "clone", "-q", str(box.origin), str(other))
    return other


def commit(repo: Path, name: str) -> None:
    (repo / name).write_text(f"{name}\n")
    git(repo, "add", name)
    git(repo, "commit", "-qm", f"feat: {name}")


# -- the states: each takes the sandbox and returns the folder to run plan in ---------------

Setup = Callable[[demo.Sandbox, Path], Path]


def dirty_tracked_file(box: demo.Sandbox, tmp_path: Path) -> Path:
    path = box.repo / "iact" / "__init__.py"
    path.write_text(path.read_text() + "# local edit\n")
    return box.repo


def detached_head(box: demo.Sandbox, tmp_path: Path) -> Path:
    git(box.repo, "-c", "advice.detachedHead=false", "checkout", "-q", "--detach", "HEAD")
    return box.repo


def other_branch(box: demo.Sandbox, tmp_path: Path) -> Path:
    git(box.repo, "checkout", "-q", "-b", "feature/x")
    return box.repo


def behind_origin(box: demo.Sandbox, tmp_path: Path) -> Path:
    other = other_clone(box, tmp_path)
    commit(other, "theirs.txt")
    git(other, "push", "-q", "origin", "main")
    return box.repo


def diverged(box: demo.Sandbox, tmp_path: Path) -> Path:
    behind_origin(box, tmp_path)
    commit(box.repo, "ours.txt")
    return box.repo


def stale_local_tag(box: demo.Sandbox, tmp_path: Path) -> Path:
    # A local-only v1.4.0 becomes "the current release": the plan is for v1.5.0 and refused.
    git(box.repo, "tag", "v1.4.0")
    return box.repo


def tag_on_origin_only(box: demo.Sandbox, tmp_path: Path) -> Path:
    other = other_clone(box, tmp_path)
    git(other, "tag", "-a", "v1.4.0", "-m", "someone else's release")
    git(other, "push", "-q", "origin", "v1.4.0")
    return box.repo


def branch_on_origin(box: demo.Sandbox, tmp_path: Path) -> Path:
    other = other_clone(box, tmp_path)
    git(other, "push", "-q", "origin", "main:refs/heads/release/v1.4.0")
    return box.repo


def stale_local_branch(box: demo.Sandbox, tmp_path: Path) -> Path:
    git(box.repo, "branch", "release/v1.4.0", "HEAD~1")
    return box.repo


def shallow_clone(box: demo.Sandbox, tmp_path: Path) -> Path:
    shallow = tmp_path / "shallow"
    git(tmp_path, "clone", "-q", "--depth", "1", box.origin.resolve().as_uri(), str(shallow))
    return shallow


def no_tags(box: demo.Sandbox, tmp_path: Path) -> Path:
    git(box.repo, "tag", "-d", *git(box.repo, "tag").split())
    return box.repo


def remote_missing(box: demo.Sandbox, tmp_path: Path) -> Path:
    git(box.repo, "remote", "remove", "origin")
    return box.repo


def remote_unreachable(box: demo.Sandbox, tmp_path: Path) -> Path:
    git(box.repo, "remote", "set-url", "origin", "/nonexistent/origin.git")
    return box.repo


def remote_removed_file_url(box: demo.Sandbox, tmp_path: Path) -> Path:
    gone = tmp_path / "gone.git"
    git(tmp_path, "clone", "-q", "--bare", str(box.origin), str(gone))
    git(box.repo, "remote", "set-url", "origin", gone.as_uri())
    git(box.repo, "fetch", "-q", "origin")
    subprocess.run(["rm", "-rf", str(gone)], check=True)
    return box.repo


def unpushed_release_merge(box: demo.Sandbox, tmp_path: Path) -> Path:
    """An earlier run merged release/v1.4.0 into main, but the push of main was refused."""
    repo = box.repo
    git(repo, "checkout", "-q", "-b", "release/v1.4.0")
    git(repo, "commit", "-q", "--allow-empty", "-m", "chore: prepare release v1.4.0")
    git(repo, "push", "-q", "origin", "release/v1.4.0")
    git(repo, "checkout", "-q", "main")
    git(repo, "merge", "-q", "--no-ff", "-m", "Merge branch 'release/v1.4.0'", "release/v1.4.0")
    return repo


def _dynamic_pyproject(box: demo.Sandbox, table: str) -> Path:
    path = box.repo / "pyproject.toml"
    text = path.read_text().replace('version = "1.3.2"\n', 'dynamic = ["version"]\n') + table
    path.write_text(text)
    git(box.repo, "commit", "-qam", "build: the version comes from elsewhere")
    git(box.repo, "push", "-q", "origin", "main")
    return box.repo


def version_from_the_git_tag(box: demo.Sandbox, tmp_path: Path) -> Path:
    return _dynamic_pyproject(box, "\n[tool.setuptools_scm]\n")


def released_everything(box: demo.Sandbox, tmp_path: Path) -> Path:
    """A release made v1.4.0 from main's head: no commits since, no [Unreleased] entries."""
    repo = box.repo
    path = repo / "CHANGELOG.md"
    path.write_text(path.read_text().replace("## [Unreleased]\n", "## [Unreleased]\n\n## [1.4.0] - 2026-11-29\n", 1))
    git(repo, "commit", "-qam", "chore: prepare release v1.4.0")
    git(repo, "tag", "-a", "v1.4.0", "-m", "Release v1.4.0")
    git(repo, "push", "-q", "origin", "main", "v1.4.0")
    return repo


@dataclass(frozen=True)
class State:
    setup: Setup
    reason: str
    fix: str


STATES = {
    "dirty-tree": State(dirty_tracked_file, "uncommitted changes: iact/__init__.py", "→ commit or stash them"),
    "detached-head": State(detached_head, "HEAD is detached", "→ run `git checkout main`"),
    "other-branch": State(other_branch, "on branch 'feature/x', not 'main'", "→ run `git checkout main`"),
    "behind": State(behind_origin, "main is 1 commit(s) behind origin/main", "→ run `git pull --ff-only`"),
    "diverged": State(
        diverged, "main has diverged from origin/main (1 ahead, 1 behind)", "→ reconcile them first (e.g. `git pull"
    ),
    "tag-local": State(
        stale_local_tag,
        "tag v1.4.0, the latest release here, is not on origin",
        "→ `git push origin v1.4.0` if it was released, else `git tag -d v1.4.0`",
    ),
    "tag-on-origin": State(
        tag_on_origin_only, "tag v1.4.0 exists on origin", "→ `git push origin :refs/tags/v1.4.0` if it is stale"
    ),
    "branch-on-origin": State(
        branch_on_origin,
        "branch release/v1.4.0 exists on origin",
        "→ `git push origin --delete release/v1.4.0` if it is a leftover",
    ),
    "branch-local": State(
        stale_local_branch, "branch release/v1.4.0 exists locally at", "→ `git branch -D release/v1.4.0`"
    ),
    "shallow": State(shallow_clone, "the clone is shallow", "→ run `git fetch --unshallow origin`"),
    "no-tags": State(no_tags, "the clone has no tags but origin has 9", "→ run `git fetch --tags origin`"),
    "remote-missing": State(
        remote_missing, "the repository has no remote named 'origin'", "→ add it with `git remote add origin URL`"
    ),
    "remote-unreachable": State(
        remote_unreachable,
        "cannot reach remote origin (/nonexistent/origin.git): '/nonexistent/origin.git' does not appear to be a git repository",
        "→ check the network and the URL (`git remote -v`; fix it with `git remote set-url origin URL`)",
    ),
    "unpushed-release-merge": State(
        unpushed_release_merge,
        "main holds the release merge of v1.4.0 (",
        "→ once origin accepts it, push it (`git push origin main`) and tag it (`git tag -a v1.4.0 -m 'Release v1.4.0'",
    ),
    "version-from-the-git-tag": State(
        version_from_the_git_tag,
        'pyproject.toml: the version is dynamic (dynamic = ["version"]) and comes from the git tag',
        "→ remove pyproject.toml from version_files: the release's annotated tag sets that version",
    ),
    "nothing-to-release": State(
        released_everything,
        "nothing to release: no commits since the last tag and no [Unreleased] entries",
        "→ merge the changes first, or add entries under [Unreleased]",
    ),
    "remote-file-url-removed": State(
        remote_removed_file_url, "cannot reach remote origin (file://", "→ check the network and the URL"
    ),
}


@pytest.mark.parametrize("name", list(STATES))
def test_plan_refuses_with_the_reason_and_the_fix(name: str, quiet_sandbox: demo.Sandbox, tmp_path: Path) -> None:
    state = STATES[name]
    repo = state.setup(quiet_sandbox, tmp_path)
    before, origin_before = snapshot(repo), git(quiet_sandbox.origin, "show-ref")
    done = plan(repo)
    output = done.stdout + done.stderr
    assert done.returncode == 1, output
    assert state.reason in done.stdout, output
    assert state.fix in done.stdout, output
    assert "Traceback" not in output
    assert "nothing was changed" in done.stdout
    assert snapshot(repo) == before
    assert git(quiet_sandbox.origin, "show-ref") == origin_before


def test_plan_of_a_good_repository_exits_0(quiet_sandbox: demo.Sandbox) -> None:
    repo = quiet_sandbox.repo
    before = snapshot(repo)
    done = plan(repo)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "plan for release v1.4.0" in done.stdout
    assert "✔ Up to date with the remote: level with origin/main" in done.stdout
    assert "✔ Release tag and branch are free: v1.4.0 and release/v1.4.0 are free" in done.stdout
    assert "✘" not in done.stdout and "Traceback" not in done.stderr
    # No servers run: both health probes warn; the exit status stays 0 but the last line says so.
    assert done.stdout.rstrip().splitlines()[-1] == (
        "nothing was changed (a fetch only updated the remote-tracking refs); "
        "2 probe warning(s) (marked !): they do not stop the release, but look at them first"
    )
    assert snapshot(repo) == before


def test_untracked_files_alone_are_listed_not_fatal(quiet_sandbox: demo.Sandbox) -> None:
    repo = quiet_sandbox.repo
    (repo / "notes.txt").write_text("scratch\n")
    before = snapshot(repo)
    done = plan(repo)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "✔ Working tree is clean: clean (untracked, not released: notes.txt)" in done.stdout
    assert "nothing was changed" in done.stdout
    assert snapshot(repo) == before


def test_plan_follows_a_dynamic_version_and_shows_what_each_file_holds(quiet_sandbox: demo.Sandbox) -> None:
    """Transitions come from the files: a followed pyproject.toml, a package.json that lags behind."""
    repo = _dynamic_pyproject(quiet_sandbox, '\n[tool.setuptools.dynamic]\nversion = {attr = "iact.__version__"}\n')
    package = repo / "frontend" / "package.json"
    package.write_text(package.read_text().replace('"version": "1.3.2"', '"version": "1.3.1"', 1))
    git(repo, "commit", "-qam", "fix: the frontend's version lagged")
    git(repo, "push", "-q", "origin", "main")
    done = plan(repo)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "      - file: iact/__init__.py: version 1.3.2 → 1.4.0\n" in done.stdout
    assert "      - file: frontend/package.json: version 1.3.1 → 1.4.0\n" in done.stdout
    assert "pyproject.toml: version" not in done.stdout  # it holds no version: iact/__init__.py stands for it
    assert "git commit -m 'chore: prepare release v1.4.0' -- iact/__init__.py frontend/package.json CHANGELOG.md" in (
        done.stdout
    )
