"""``iact-tui run hotfix`` usage and exit codes, over the demo sandbox (local transport)."""

from __future__ import annotations

import subprocess

import pytest

from iact_tui import demo
from iact_tui.cli import main


def test_run_hotfix_needs_yes_and_a_hotfix_step(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["run", "hotfix"]) == 2
    assert "--yes" in capsys.readouterr().err
    assert main(["run", "hotfix", "--yes", "--until", "merge"]) == 2
    assert "merge is not a hotfix step" in capsys.readouterr().err
    assert main(["run", "release", "--bump", "patch", "--yes", "--until", "backport"]) == 2
    assert "backport is not a release step" in capsys.readouterr().err


def test_run_hotfix_until_branch_creates_it_from_production(
    quiet_sandbox: demo.Sandbox, capsys: pytest.CaptureFixture[str]
) -> None:
    config = str(quiet_sandbox.config_path)
    status = main(["run", "hotfix", "--yes", "--until", "hotfix-branch", "--config", config])
    out = capsys.readouterr().out
    assert status == 0, out
    assert "production runs v1.3.2 (read from the host); hotfix v1.3.3 on hotfix/v1.3.3" in out
    assert "iact-release.toml is not in v1.3.2's tree" in out
    branch = subprocess.run(
        ["git", "branch", "--show-current"], cwd=quiet_sandbox.repo, capture_output=True, text=True, check=True
    )
    assert branch.stdout.strip() == "hotfix/v1.3.3"


def test_run_hotfix_without_production_host_state_or_journal_exits_2(
    quiet_sandbox: demo.Sandbox, capsys: pytest.CaptureFixture[str]
) -> None:
    # production's checkout is moved off any tag: nothing says which release it runs
    app = quiet_sandbox.root / "production"
    subprocess.run(["git", "checkout", "-q", "--detach", "main"], cwd=app, check=True, capture_output=True)
    status = main(["run", "hotfix", "--yes", "--config", str(quiet_sandbox.config_path)])
    out = capsys.readouterr().out
    assert status == 2, out
    assert "what production runs is not known" in out and "nothing was changed" in out
