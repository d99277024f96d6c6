"""Deploy screen guards: break another deploy's lock only by typing the host name; the maintenance choice."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from textual.widgets import Input, Static
from ui_helpers import git, settle

from iact_tui.app import IactApp, make_app
from iact_tui.config import load_config
from iact_tui.engine.events import Event, StepFinished, StepStarted
from iact_tui.errors import ConfirmationError
from iact_tui.screens import DeployScreen
from iact_tui.screens.deploy import BreakLockModal

HELD = {"path": "/srv/iact/.iact-deploy.lock", "owner": "alice@laptop", "since": "2026-11-29T01:02:03Z", "token": "t"}


@pytest.fixture
def staging_app(tiny_config_path: Path, tmp_path: Path) -> IactApp:
    with tiny_config_path.open("a", encoding="utf-8") as fh:
        fh.write('\n[environments.staging]\napp_dir = "."\nhealth_url = "http://127.0.0.1:9/api/health"\n')
    git(tiny_config_path.parent, "commit", "-q", "-am", "chore: add staging")
    return make_app(load_config(tiny_config_path), state_dir=tmp_path / "state", snapshot_mode=True)


async def test_a_held_lock_is_broken_only_with_the_host_name_typed(
    staging_app: IactApp, monkeypatch: pytest.MonkeyPatch
) -> None:
    run = staging_app.release_run
    attempts: list[str] = []

    async def held_then_ok(step_id: str) -> AsyncIterator[Event]:
        yield StepStarted(step_id, "Deploy to staging")
        yield StepFinished(step_id, "failed", "web1: deploy lock held by alice@laptop", "break it after typing web1")

    async def fake_break(env: str, host: str, typed: str) -> str:
        attempts.append(typed)
        if typed != host:
            raise ConfirmationError(f"you typed {typed!r}, not the host name {host!r}", "type the host's name")
        return f"{host}: the deploy lock of alice@laptop was removed; retry the deploy"

    monkeypatch.setattr(run, "run_step", held_then_ok)
    monkeypatch.setattr(run, "held_locks", lambda env: {"web1": HELD})
    monkeypatch.setattr(run, "break_deploy_lock", fake_break)
    async with staging_app.run_test(size=(120, 40)) as pilot:
        screen = DeployScreen(env="staging")
        staging_app.push_screen(screen)
        await settle(staging_app, pilot)
        assert screen.failure is not None
        await pilot.press("u")
        await settle(staging_app, pilot)
        modal = staging_app.screen
        assert isinstance(modal, BreakLockModal)
        await pilot.press(*"web2", "enter")
        await settle(staging_app, pilot)
        assert staging_app.screen is modal  # wrong name: refused, the dialog says why
        assert "not the host name 'web1'" in str(modal.query_one("#break-lock-error", Static).render())
        modal.query_one(Input).value = ""
        await pilot.press(*"web1", "enter")
        await settle(staging_app, pilot)
        assert staging_app.screen is screen
        assert attempts == ["web2", "web1"]
        assert screen.failure == ("the deploy lock on web1 was broken", "press r to retry the deploy")
        status = screen.query_one("#step-status", Static)
        assert str(status.render()).startswith("✔ the deploy lock on web1 was broken")
        assert "✘" not in str(status.render()) and status.has_class("-ok")


async def test_the_maintenance_choice_is_recorded(staging_app: IactApp, monkeypatch: pytest.MonkeyPatch) -> None:
    run = staging_app.release_run

    async def failed(step_id: str) -> AsyncIterator[Event]:
        yield StepStarted(step_id, "Deploy to staging")
        yield StepFinished(step_id, "failed", "staging: 'run migrations' exited 1", "fix it")

    monkeypatch.setattr(run, "run_step", failed)
    async with staging_app.run_test(size=(120, 40)) as pilot:
        screen = DeployScreen(env="staging")
        staging_app.push_screen(screen)
        await settle(staging_app, pilot)
        assert run.keeps_maintenance("staging") is False
        await pilot.press("m")
        await settle(staging_app, pilot)
        assert run.keeps_maintenance("staging") is True
        await pilot.press("m")
        await settle(staging_app, pilot)
        assert run.keeps_maintenance("staging") is False
        choices = [line for line in run.journal_path.read_text().splitlines() if '"maintenance_choice"' in line]
        assert len(choices) == 2 and '"keep_on_failure": true' in choices[0]
