"""``iact-tui run rollback`` exit codes, over the demo sandbox's production (local transport)."""

from __future__ import annotations

import pytest

from iact_tui import demo
from iact_tui.cli import main


def test_run_rollback_needs_to_and_yes(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["run", "rollback", "--yes"]) == 2
    assert "--to TAG" in capsys.readouterr().err
    assert main(["run", "rollback", "--to", "v1.0.0"]) == 2


def test_run_rollback_refuses_an_unknown_or_newer_target(
    quiet_sandbox: demo.Sandbox, capsys: pytest.CaptureFixture[str]
) -> None:
    config = str(quiet_sandbox.config_path)
    assert main(["run", "rollback", "--to", "v9.9.9", "--yes", "--config", config]) == 2
    out = capsys.readouterr().out
    assert "no tag v9.9.9" in out and "nothing was changed" in out
    assert main(["run", "rollback", "--to", "v1.3.2", "--yes", "--config", config]) == 2
    assert "already runs v1.3.2" in capsys.readouterr().out


def test_run_rollback_goes_back_and_verifies(sandbox: demo.Sandbox, capsys: pytest.CaptureFixture[str]) -> None:
    status = main(["run", "rollback", "--to", "1.3.1", "--yes", "--config", str(sandbox.config_path)])
    out = capsys.readouterr().out
    assert status == 0, out
    assert "rolled back from v1.3.2 to v1.3.1; v1.3.2 marked bad" in out
    # v1.3.2 is now marked bad: it is refused as a target.
    assert main(["run", "rollback", "--to", "1.3.2", "--yes", "--config", str(sandbox.config_path)]) == 2
    assert "marked bad" in capsys.readouterr().out
