"""The command line: --version, --help, python -m, init."""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from iact_tui import __version__, cli
from iact_tui.config import load_config
from iact_tui.engine.run import ReleaseRun


def run(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "iact_tui", *args], capture_output=True, text=True, cwd=cwd, timeout=60
    )


def test_version_and_console_script() -> None:
    assert run("--version").stdout.strip() == f"iact-tui {__version__}"
    script = Path(sys.executable).parent / "iact-tui"
    done = subprocess.run([str(script), "--version"], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == f"iact-tui {__version__}"


def test_help_lists_every_command() -> None:
    out = run("--help").stdout
    for command in ("run release", "plan release", "init", "demo DIR", "--demo", "--config"):
        assert command in out
    assert "--until" in run("run", "--help").stdout


def test_bad_usage_exits_2() -> None:
    done = run("run", "release", "--bump", "huge", "--yes")
    assert done.returncode == 2 and "invalid choice" in done.stderr


def test_init_detects_the_repository_and_never_overwrites(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    (repo / "shop").mkdir(parents=True)
    (repo / "frontend").mkdir()
    (repo / "shop" / "__init__.py").write_text('__version__ = "2.1.0"\n')
    (repo / "pyproject.toml").write_text('[project]\nname = "shop"\nversion = "2.1.0"\n')
    (repo / "frontend" / "package.json").write_text('{"name": "shop", "version": "2.1.0"}\n')
    (repo / "CHANGES.md").write_text("# Changes\n")
    for args in (["init", "-q", "-b", "trunk"], ["add", "."], ["commit", "-qm", "feat: start"], ["tag", "2.1.0"]):
        subprocess.run(["git", *args], cwd=repo, check=True)
    done = run("init", cwd=repo)
    assert done.returncode == 0, done.stderr
    text = (repo / "iact-release.toml").read_text()
    data = tomllib.loads(text)
    assert data["project"]["main_branch"] == "trunk"
    assert data["project"]["tag_prefix"] == ""
    assert data["project"]["changelog"] == "CHANGES.md"
    assert data["project"]["version_files"] == ["frontend/package.json", "pyproject.toml", "shop/__init__.py"]
    assert "#" in text  # commented
    load_config(repo / "iact-release.toml")
    again = run("init", cwd=repo)
    assert again.returncode == 1 and "already exists" in again.stderr
    assert (repo / "iact-release.toml").read_text() == text


def _wizard_run(tmp_path: Path) -> ReleaseRun:
    repo = tmp_path / "wizard-repo"
    subprocess.run(["git", "init", "-q", "-b", "main", str(repo)], check=True)
    (repo / "iact-release.toml").write_text('[project]\nmain_branch = "main"\n')
    run = ReleaseRun(load_config(repo / "iact-release.toml"), state_dir=tmp_path / "state")
    run.state.version = "1.4.0"
    return run


def test_after_the_wizard_a_quit_before_the_end_is_not_success(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run = _wizard_run(tmp_path)
    for step_id in ("preflight", "branch", "bump", "changelog", "commit", "push", "merge", "tag", "deploy-staging",
                    "smoke-staging", "prep-production"):  # fmt: skip
        run.records[step_id].status = "ok"
    run.records["prep-production"].message = "production is ready to deploy"
    assert cli._after_wizard(run) == 1
    out = capsys.readouterr().out
    assert "stopped at prep-production: ok — production is ready to deploy" in out
    assert "v1.4.0 is tagged on origin; not done yet: deploy-production, verify, announce." in out
    assert "stopped part-way" not in out  # no deploy had started


def test_after_the_wizard_a_cancelled_deploy_is_named(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run = _wizard_run(tmp_path)
    for step_id in ("preflight", "branch", "bump", "changelog", "commit", "push", "merge", "tag"):
        run.records[step_id].status = "ok"
    run.records["deploy-staging"].status = "cancelled"
    run.records["deploy-staging"].message = "Deploy to staging: cancelled by the operator"
    assert cli._after_wizard(run) == 130
    out = capsys.readouterr().out
    assert "stopped at deploy-staging: cancelled — Deploy to staging: cancelled by the operator" in out
    assert "deploy-staging stopped part-way" in out
