"""Skipping the production backup needs the version typed as well as a reason."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from iact_tui import demo
from iact_tui.config import load_config
from iact_tui.engine.run import ReleaseRun
from iact_tui.errors import ConfirmationError
from iact_tui.headless import run_release


def _records(run: ReleaseRun) -> list[dict[str, object]]:
    return [json.loads(line) for line in run.journal_path.read_text().splitlines()]


async def test_a_backup_skip_without_the_typed_version_is_refused(quiet_sandbox: demo.Sandbox, tmp_path: Path) -> None:
    run = ReleaseRun(load_config(quiet_sandbox.config_path), state_dir=tmp_path / "state")
    with pytest.raises(ConfirmationError, match="needs the version typed"):
        run.skip_prep_item("production", "backup", "snapshot at 02:00")  # no version chosen yet
    await run.load_versions()
    version = run.choose_bump("minor")
    for typed in ("", "9.9.9", "v" + version + "x", "v"):
        with pytest.raises(ConfirmationError, match="needs the version typed") as info:
            run.skip_prep_item("production", "backup", "snapshot at 02:00", typed=typed)
        assert version in info.value.fix
    assert "production:backup-skip" not in run.state.prep
    run.skip_prep_item("production", "backup", "snapshot at 02:00", typed=run.ctx.tag)
    assert run.state.prep["production:backup-skip"] == "snapshot at 02:00"
    run.skip_prep_item("production", "notice", "told them")  # the notice needs no version
    run.skip_prep_item("staging", "backup", "a throwaway copy")  # staging needs no confirmation
    accepted = [r["accepted"] for r in _records(run) if r.get("step") == "prep-production:backup-skip"]
    assert accepted == [False, False, False, False, False, True]


async def test_headless_skip_backup_counts_as_typed_with_yes(quiet_sandbox: demo.Sandbox, tmp_path: Path) -> None:
    path = quiet_sandbox.config_path
    path.write_text("\n".join(ln for ln in path.read_text().splitlines() if "skip_reason" not in ln) + "\n")
    out = io.StringIO()
    status = await run_release(
        load_config(path),
        bump="minor",
        version_text=None,
        until="preflight",
        out=out,
        skip={"backup": "snapshot at 02:00", "notice": "told them"},
    )
    text = out.getvalue()
    assert "has no database backup" not in text, text
    journal = next(Path(line.split(": ", 1)[1]) for line in text.splitlines() if line.startswith("journal: "))
    records = [json.loads(line) for line in journal.read_text().splitlines()]
    skipped = {r["item"]: r["reason"] for r in records if r["kind"] == "prep_skip_requested"}
    assert skipped == {"backup": "snapshot at 02:00", "notice": "told them"}, (status, text)
