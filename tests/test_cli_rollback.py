"""``iact-tui run rollback`` exit codes, over the demo sandbox's production (local transport)."""

from __future__ import annotations

import asyncio
import io
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from iact_tui import demo, headless
from iact_tui.cli import main
from iact_tui.config import load_config
from iact_tui.engine import report
from iact_tui.engine.events import CheckUpdate, Event
from iact_tui.engine.journal import read_journal
from iact_tui.engine.rollback import RollbackRun
from iact_tui.errors import VersionError


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
    # The refused run ended: history says it stopped before any step, not "unfinished".
    journal = Path(out.split("journal: ", 1)[1].split()[0])
    summary = report.summarize(read_journal(journal).records, journal.parent.name, journal.parent)
    assert summary.result == "stopped before any step", summary.result
    assert main(["run", "rollback", "--to", "v1.3.2", "--yes", "--config", config]) == 2
    assert "already runs v1.3.2" in capsys.readouterr().out


def test_run_rollback_goes_back_and_verifies(sandbox: demo.Sandbox, capsys: pytest.CaptureFixture[str]) -> None:
    status = main(["run", "rollback", "--to", "1.3.1", "--yes", "--config", str(sandbox.config_path)])
    out = capsys.readouterr().out
    assert status == 0, out
    assert "rolled back from v1.3.2 to v1.3.1; v1.3.2 marked bad" in out
    # --yes ticks the items verified by hand, and says so: nobody looked
    assert out.count(": ticked in advance by --yes (nobody looked)") == 2, out
    # the last lines say what production runs now, not only the steps' names
    assert "production runs v1.3.1 (1 host: production), rolled back from v1.3.2\njournal:" in out, out
    # v1.3.2 is now marked bad: it is refused as a target.
    assert main(["run", "rollback", "--to", "1.3.2", "--yes", "--config", str(sandbox.config_path)]) == 2
    assert "marked bad" in capsys.readouterr().out


def test_run_rollback_after_a_rollback_lists_the_older_tags(
    sandbox: demo.Sandbox, capsys: pytest.CaptureFixture[str]
) -> None:
    """After going back to v1.3.1 (v1.3.2 marked bad), the journal knows only v1.3.1: the
    refusal and a run without --to still list the older release tags git holds."""
    config = str(sandbox.config_path)
    assert main(["run", "rollback", "--to", "1.3.1", "--yes", "--config", config]) == 0
    capsys.readouterr()
    assert main(["run", "rollback", "--to", "1.3.2", "--yes", "--config", config]) == 2
    out = capsys.readouterr().out
    assert "marked bad" in out
    assert "v1.3.0 (release tag in git" in out, out
    assert "v1.3.2" not in out.split("give one of:")[1]
    assert main(["run", "rollback", "--yes", "--config", config]) == 2
    captured = capsys.readouterr()
    assert "--to TAG" in captured.err
    listing = captured.out
    assert "production runs v1.3.1" in listing, listing
    assert "v1.3.0" in listing and "v1.2.0" in listing and "v1.3.2" not in listing.split("targets")[1], listing
    assert "nothing was changed" in listing


def test_run_rollback_without_a_target_says_there_is_none(
    quiet_sandbox: demo.Sandbox, capsys: pytest.CaptureFixture[str]
) -> None:
    """Nothing older than what runs: it says so plainly and what to do."""
    run = RollbackRun(load_config(quiet_sandbox.config_path), record=False)
    asyncio.run(run.load())
    # As if production ran the oldest release: nothing older to go back to.
    run.current_version, run.current_tag = "1.0.0", "v1.0.0"
    assert run.targets() == []
    with pytest.raises(VersionError) as refused:
        run.choose_target("1.0.0")
    assert refused.value.fix.startswith("there is no release older than v1.0.0"), refused.value.fix
    assert "backup" in refused.value.fix


async def test_the_headless_printer_shows_a_warning_check() -> None:
    async def events() -> AsyncIterator[Event]:
        yield CheckUpdate(
            "rollback-plan",
            "migrate:production:core",
            "core back to zero on production",
            "warning",
            "1 operation(s) lose data",
        )

    out = io.StringIO()
    await headless._stream(out, events(), [])
    assert out.getvalue() == "      ! core back to zero on production: 1 operation(s) lose data\n"
