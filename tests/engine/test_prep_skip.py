"""Typed confirmations: skipping the production backup needs the version typed as well as
a reason; a wrong typed version never lets the production deploy or the rollback run."""

from __future__ import annotations

import io
import json
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest

from iact_tui import demo
from iact_tui.config import load_config
from iact_tui.engine.events import StepFinished
from iact_tui.engine.rollback import RollbackRun
from iact_tui.engine.run import ReleaseRun
from iact_tui.errors import ConfirmationError
from iact_tui.headless import run_release

NewRun = Callable[..., Awaitable[ReleaseRun]]


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
        until="prep-production",  # --yes answers only for the steps the run reaches
        out=out,
        skip={"backup": "snapshot at 02:00", "notice": "told them"},
    )
    text = out.getvalue()
    assert "has no database backup" not in text, text
    journal = next(Path(line.split(": ", 1)[1]) for line in text.splitlines() if line.startswith("journal: "))
    records = [json.loads(line) for line in journal.read_text().splitlines()]
    skipped = {r["item"]: r["reason"] for r in records if r["kind"] == "prep_skip_requested"}
    assert skipped == {"backup": "snapshot at 02:00", "notice": "told them"}, (status, text)


async def test_a_wrong_typed_version_never_lets_the_production_deploy_run(
    quiet_sandbox: demo.Sandbox, cleared_run: NewRun
) -> None:
    run = await cleared_run(quiet_sandbox)  # the checklist passed: only the typed version is missing
    version = run.state.version
    for typed in ("1.3.2", "", "1.4", f"{version}.0", "v", f" v{version}x"):
        assert not run.confirm("deploy-production", typed)
    assert "deploy-production" not in run.state.confirmations
    events = [e async for e in run.run_step("deploy-production")]
    done = events[-1]
    assert isinstance(done, StepFinished) and done.status == "failed"
    assert f"type the version {version}" in done.message


async def test_a_wrong_typed_target_never_lets_the_rollback_run(quiet_sandbox: demo.Sandbox, tmp_path: Path) -> None:
    run = RollbackRun(load_config(quiet_sandbox.config_path), state_dir=tmp_path / "state")
    await run.load()
    run.choose_target("1.1.0")
    plan = [e async for e in run.run_step("rollback-plan")][-1]
    assert isinstance(plan, StepFinished) and plan.status == "ok", plan
    for typed in ("1.3.2", "v1.3.2", "", "1.1", "1.1.0.0", "v"):  # 1.3.2: what runs now
        assert not run.confirm(run.deploy_step_id, typed)
    done = [e async for e in run.run_step(run.deploy_step_id)][-1]
    assert isinstance(done, StepFinished) and done.status == "failed"
    assert "type the target version 1.1.0" in done.message
    run.journal.close()
