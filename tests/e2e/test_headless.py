"""Headless end to end: `iact-tui demo DIR`, then `iact-tui run release` from the sandbox repo.

Drives the installed console script as a subprocess against a real sandbox (bare origin,
clone, the Django sample site served on loopback for staging and production).
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import tomllib
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e

CLI = [sys.executable, "-m", "iact_tui"]


def cli(*args: str, cwd: Path, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*CLI, *args], cwd=cwd, capture_output=True, text=True, timeout=timeout, env=os.environ.copy()
    )


def git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=repo, capture_output=True, text=True, check=True).stdout.strip()


def health(url: str) -> dict[str, object]:
    with urllib.request.urlopen(url, timeout=10) as response:
        data: dict[str, object] = json.loads(response.read())
        return data


@pytest.fixture
def built(tmp_path: Path) -> Iterator[Path]:
    root = tmp_path / "demo"
    done = cli("demo", str(root), cwd=tmp_path, timeout=180)
    try:
        assert done.returncode == 0, done.stderr
        yield root
    finally:
        cli("demo", str(root), "--stop", cwd=tmp_path)


def test_demo_then_headless_minor_release(built: Path) -> None:
    repo, origin = built / "repo", built / "origin.git"
    config = tomllib.loads((repo / "iact-release.toml").read_text())
    urls = {name: env["health_url"] for name, env in config["environments"].items()}
    assert health(urls["production"])["version"] == "1.3.2"

    done = cli("run", "release", "--bump", "minor", "--yes", cwd=repo)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "release v1.4.0: 1.3.2 → 1.4.0 (minor)" in done.stdout

    # origin: an annotated tag on main's head
    assert git(origin, "cat-file", "-t", "v1.4.0") == "tag"
    assert git(origin, "rev-parse", "v1.4.0^{commit}") == git(origin, "rev-parse", "main")
    # main carries the bumped version in all three files
    assert '__version__ = "1.4.0"' in git(origin, "show", "main:iact/__init__.py")
    assert re.search(r'^version = "1\.4\.0"$', git(origin, "show", "main:pyproject.toml"), re.M)
    assert json.loads(git(origin, "show", "main:frontend/package.json"))["version"] == "1.4.0"
    # the new changelog section sits directly above the previous release
    headings = [line for line in git(origin, "show", "main:CHANGELOG.md").splitlines() if line.startswith("## ")]
    assert headings[0] == "## [Unreleased]"
    assert re.fullmatch(r"## \[1\.4\.0\] - \d{4}-\d{2}-\d{2}", headings[1])
    assert headings[2].startswith("## [1.3.2]")
    # both environments report the new version
    for env in ("staging", "production"):
        assert health(urls[env])["version"] == "1.4.0", env
    assert "announcement:" in done.stdout


def test_until_stops_after_the_named_step(built: Path) -> None:
    repo, origin = built / "repo", built / "origin.git"
    done = cli("run", "release", "--bump", "patch", "--yes", "--until", "push", cwd=repo)
    assert done.returncode == 0, done.stdout + done.stderr
    assert git(origin, "rev-parse", "--verify", "refs/heads/release/v1.3.3")
    assert git(origin, "tag", "--list", "v1.3.3") == ""
    assert re.search(r"merge\s+pending", done.stdout)
    # --yes answered only what this run reached: a resume in the wizard must still ask for
    # the production confirmation, the rollback plan's acknowledgement and the ticks.
    journal = next(Path(os.environ["XDG_STATE_HOME"]).glob("iact-tui/runs/*/journal.jsonl"))
    kinds = {json.loads(line)["kind"] for line in journal.read_text().splitlines()}
    assert not kinds & {"confirmation", "rollback_plan_acknowledged", "verify_tick", "prep_skip_requested"}, kinds


def test_plan_prints_every_action_and_changes_nothing(built: Path) -> None:
    repo, origin = built / "repo", built / "origin.git"
    before = (git(repo, "status", "--porcelain"), git(origin, "show-ref"))
    done = cli("plan", "release", "--bump", "minor", cwd=repo)
    assert done.returncode == 0, done.stderr
    for fragment in (
        "git checkout -b release/v1.4.0",
        "manage.py migrate --noinput",
        "@production",
        "GET http://127.0.0.1:",
        "nothing was changed",
    ):
        assert fragment in done.stdout, fragment
    assert (git(repo, "status", "--porcelain"), git(origin, "show-ref")) == before


# -- bad input: clear message, the documented exit status, nothing changed ---------------


def test_missing_config_exits_2(tmp_path: Path) -> None:
    done = cli("run", "release", "--bump", "minor", "--yes", cwd=tmp_path)
    assert done.returncode == 2
    assert "no iact-release.toml found" in done.stderr and "iact-tui init" in done.stderr
    assert "Traceback" not in done.stderr


def test_invalid_config_value_exits_2_naming_key_and_line(built: Path) -> None:
    repo = built / "repo"
    path = repo / "iact-release.toml"
    path.write_text(path.read_text().replace("coverage_min = 80", "coverage_min = 800"))
    before = git(built / "origin.git", "show-ref")
    done = cli("run", "release", "--bump", "minor", "--yes", cwd=repo)
    assert done.returncode == 2
    line = next(i for i, text in enumerate(path.read_text().splitlines(), 1) if text.startswith("coverage_min"))
    assert f"iact-release.toml:{line}: checks.coverage_min" in done.stderr
    assert "Traceback" not in done.stderr
    assert git(built / "origin.git", "show-ref") == before


def test_dirty_tree_exits_1_and_changes_nothing(built: Path) -> None:
    repo = built / "repo"
    (repo / "iact" / "__init__.py").write_text((repo / "iact" / "__init__.py").read_text() + "# local edit\n")
    before = (git(repo, "rev-parse", "HEAD"), git(repo, "branch", "--list"), git(built / "origin.git", "show-ref"))
    done = cli("run", "release", "--bump", "minor", "--yes", cwd=repo)
    assert done.returncode == 1
    assert "uncommitted changes: iact/__init__.py" in done.stdout
    assert "failed at preflight" in done.stdout
    assert (
        git(repo, "rev-parse", "HEAD"),
        git(repo, "branch", "--list"),
        git(built / "origin.git", "show-ref"),
    ) == before


def test_tag_taken_on_origin_exits_1_and_changes_nothing(built: Path, tmp_path: Path) -> None:
    repo, origin = built / "repo", built / "origin.git"
    other = tmp_path / "other"
    subprocess.run(["git", "clone", "-q", str(origin), str(other)], check=True)
    git(other, "tag", "-a", "v1.4.0", "-m", "someone else's release")
    git(other, "push", "-q", "origin", "v1.4.0")
    before = (git(repo, "rev-parse", "HEAD"), git(repo, "branch", "--list"), git(origin, "show-ref"))
    done = cli("run", "release", "--bump", "minor", "--yes", cwd=repo)
    assert done.returncode == 1
    assert "tag v1.4.0 exists on origin" in done.stdout
    assert (git(repo, "rev-parse", "HEAD"), git(repo, "branch", "--list"), git(origin, "show-ref")) == before


def test_run_without_yes_is_bad_usage(built: Path) -> None:
    done = cli("run", "release", "--bump", "minor", cwd=built / "repo")
    assert done.returncode == 2 and "--yes" in done.stderr


def test_ctrl_c_during_a_deploy_runs_the_post_commands_and_exits_130(built: Path) -> None:
    repo = built / "repo"
    path = repo / "iact-release.toml"
    text = path.read_text()
    path.write_text(
        text.replace(
            '{ name = "fetch tags", run = "git fetch --tags --force {remote}" },',
            '{ name = "slow step", run = "echo started-slow; sleep 30" },\n    { name = "fetch tags", run = "git fetch --tags --force {remote}" },',
            1,
        )
    )
    git(repo, "commit", "-qam", "chore: a slow staging step")
    git(repo, "push", "-q", "origin", "main")
    config = tomllib.loads(path.read_text())
    proc = subprocess.Popen(
        [*CLI, "run", "release", "--bump", "minor", "--yes"],
        cwd=repo,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert proc.stdout is not None
    lines: list[str] = []
    for line in proc.stdout:
        lines.append(line)
        if line.rstrip().endswith("] started-slow"):  # its output, not the "$ echo started-slow" announce
            proc.send_signal(signal.SIGINT)
            break
    rest, _ = proc.communicate(timeout=60)
    output = "".join(lines) + rest
    assert proc.returncode == 130, output
    assert "slow step stopped: cancelled by the operator" in output
    assert "maintenance mode off" in output
    assert "cancelled at deploy-staging" in output
    assert "Traceback" not in output
    assert health(config["environments"]["staging"]["health_url"])["status"] == "ok"  # not 503


def test_ctrl_c_with_the_output_reader_gone_still_runs_the_post_commands(built: Path) -> None:
    """`iact-tui run ... | tee log` and Ctrl+C: tee dies with the same SIGINT; the run must not."""
    repo = built / "repo"
    path = repo / "iact-release.toml"
    text = path.read_text()
    path.write_text(
        text.replace(
            '{ name = "fetch tags", run = "git fetch --tags --force {remote}" },',
            '{ name = "slow step", run = "echo started-slow; sleep 30.0831" },\n'
            '    { name = "fetch tags", run = "git fetch --tags --force {remote}" },',
            1,
        )
    )
    git(repo, "commit", "-qam", "chore: a slow staging step")
    git(repo, "push", "-q", "origin", "main")
    config = tomllib.loads(path.read_text())
    proc = subprocess.Popen(
        [*CLI, "run", "release", "--bump", "minor", "--yes"],
        cwd=repo,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert proc.stdout is not None
    for line in proc.stdout:
        if line.rstrip().endswith("] started-slow"):  # its output, not the "$ echo started-slow" announce
            break
    proc.stdout.close()  # the reader goes away first, as tee does
    proc.send_signal(signal.SIGINT)
    assert proc.wait(timeout=60) == 130
    assert health(config["environments"]["staging"]["health_url"])["status"] == "ok"  # maintenance is off
    assert subprocess.run(["pgrep", "-f", "sleep 30.0831"], capture_output=True).returncode == 1


def test_a_prep_nobody_can_answer_is_refused_before_anything_changes(built: Path) -> None:
    repo = built / "repo"
    path = repo / "iact-release.toml"
    text = path.read_text()
    text = "\n".join(line for line in text.splitlines() if "skip_reason" not in line) + "\n"
    path.write_text(text)
    git(repo, "commit", "-qam", "chore: no recorded reasons")
    git(repo, "push", "-q", "origin", "main")
    before = git(repo, "for-each-ref")
    done = subprocess.run(
        [*CLI, "run", "release", "--bump", "minor", "--yes"], cwd=repo, capture_output=True, text=True
    )
    assert done.returncode == 2, done.stdout + done.stderr
    assert "✘ [environments.production] has no database backup" in done.stdout
    assert "--skip-backup REASON" in done.stdout and "--skip-notice REASON" in done.stdout
    assert "nothing was changed" in done.stdout
    assert git(repo, "for-each-ref") == before
    planned = subprocess.run([*CLI, "plan", "release", "--bump", "minor"], cwd=repo, capture_output=True, text=True)
    assert planned.returncode == 1 and "has no database backup" in planned.stdout
