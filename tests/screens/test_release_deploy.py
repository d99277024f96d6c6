"""Release, deploy, smoke, verify and announcement screens over a tiny real repository.

The tiny repository has no environments: deploys, smoke tests and verification finish
``skipped`` and the wizard may go on. Runs against real environments are in
``test_walk.py`` (the demo sandbox).
"""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from textual.widgets import Button, Static
from ui_helpers import settle, walk_to_release

from iact_tui.app import IactApp
from iact_tui.engine.events import Event, StepStarted
from iact_tui.screens import AnnouncementScreen, DeployScreen, PrepScreen, ReleaseScreen, SmokeScreen, VerifyScreen
from iact_tui.widgets import CheckTable, CommandLog, ConfirmModal, MarkdownPreview, QuitModal

RELEASE_STEPS = ("branch", "bump", "changelog", "commit", "push", "merge", "tag")


async def test_release_runs_every_git_step_then_the_rest_skips(tiny_app: IactApp) -> None:
    async with tiny_app.run_test(size=(120, 40)) as pilot:
        await walk_to_release(tiny_app, pilot)
        screen = tiny_app.screen
        assert isinstance(screen, ReleaseScreen)
        assert set(screen.step_status) == set(RELEASE_STEPS)
        assert all(s in ("ok", "skipped") for s in screen.step_status.values()), screen.describe()
        table = screen.query_one("#release-steps", CheckTable)
        assert table.status_of("tag") == "ok"
        assert screen.query_one(CommandLog).received > 0
        assert not screen.can_go_back()
        await pilot.press("escape")
        assert tiny_app.screen is screen

        await pilot.press("enter")
        await settle(tiny_app, pilot)
        staging = tiny_app.screen
        assert isinstance(staging, DeployScreen) and staging.env == "staging"
        assert staging.step_status == {"deploy-staging": "skipped"}
        assert "Skipped" in str(staging.query_one("#step-status", Static).render())
        assert not staging.query_one("#continue", Button).disabled

        await pilot.press("enter")
        await settle(tiny_app, pilot)
        assert isinstance(tiny_app.screen, SmokeScreen)
        assert tiny_app.screen.step_status == {"smoke-staging": "skipped"}

        await pilot.press("enter")
        await settle(tiny_app, pilot)
        assert isinstance(tiny_app.screen, PrepScreen)
        assert tiny_app.screen.step_status == {"prep-production": "skipped"}  # no production: nothing to prepare

        await pilot.press("enter")
        await settle(tiny_app, pilot)
        production = tiny_app.screen
        assert isinstance(production, DeployScreen) and production.env == "production"
        assert production.step_status == {"deploy-production": "skipped"}  # not configured: no confirmation

        await pilot.press("enter")
        await settle(tiny_app, pilot)
        assert isinstance(tiny_app.screen, VerifyScreen)
        assert tiny_app.screen.is_ready()

        await pilot.press("enter")
        await settle(tiny_app, pilot)
        final = tiny_app.screen
        assert isinstance(final, AnnouncementScreen)
        assert final.step_status == {"announce": "ok"}, final.describe()
        assert final.query_one("#announcement", MarkdownPreview).source.strip()
        paths = str(final.query_one("#announcement-paths", Static).render())
        assert "journal.jsonl" in paths and "Saved to" in paths
        await pilot.press("enter")
        await pilot.pause()
    assert tiny_app.return_code == 0
    assert '"run_finished"' in tiny_app.release_run.journal_path.read_text(encoding="utf-8")


async def test_release_stops_at_failed_step_and_r_resumes_there(tiny_app: IactApp, tiny_config_path: Path) -> None:
    origin = tiny_config_path.parent.parent / "origin.git"
    hidden = origin.with_name("origin.moved")
    runs: list[str] = []
    real_run_step = tiny_app.release_run.run_step

    def spy(step_id: str) -> AsyncIterator[Event]:
        runs.append(step_id)
        if step_id == "push":
            origin.rename(hidden)  # the remote disappears just before the push
        return real_run_step(step_id)

    tiny_app.release_run.run_step = spy  # type: ignore[method-assign]
    async with tiny_app.run_test(size=(120, 40)) as pilot:
        await walk_to_release(tiny_app, pilot)
        screen = tiny_app.screen
        assert isinstance(screen, ReleaseScreen)
        assert screen.step_status["push"] == "failed", screen.describe()
        assert "merge" not in screen.step_status
        status = str(screen.query_one("#step-status", Static).render())
        assert "✘" in status and "Press r to retry" in status
        assert screen.query_one("#continue", Button).disabled
        hidden.rename(origin)
        tiny_app.release_run.run_step = real_run_step  # type: ignore[method-assign]
        before = list(runs)
        await pilot.press("r")
        await settle(tiny_app, pilot)
        assert screen.is_ready(), screen.describe()
        assert before[-1] == "push" and "branch" in before
        assert tiny_app.release_run.records["branch"].status == "ok"


async def test_unexpected_worker_error_marks_step_failed_and_retryable(tiny_app: IactApp) -> None:
    calls = 0
    real_run_step = tiny_app.release_run.run_step

    async def broken(step_id: str) -> AsyncIterator[Event]:
        nonlocal calls
        calls += 1
        if calls == 1:
            yield StepStarted(step_id, "Pre-release checklist")
            raise RuntimeError("disk on fire")
        async for event in real_run_step(step_id):
            yield event

    tiny_app.release_run.run_step = broken  # type: ignore[method-assign]
    async with tiny_app.run_test(size=(120, 40)) as pilot:
        from ui_helpers import walk_to_checklist

        await walk_to_checklist(tiny_app, pilot)
        screen = tiny_app.screen
        assert screen.step_status == {"preflight": "failed"}  # type: ignore[attr-defined]
        status = str(screen.query_one("#step-status", Static).render())
        assert "RuntimeError: disk on fire" in status and "Traceback" not in status
        await pilot.press("r")
        await settle(tiny_app, pilot)
        assert screen.step_status == {"preflight": "ok"}  # type: ignore[attr-defined]


async def test_production_asks_for_the_typed_version(tiny_app: IactApp, monkeypatch: pytest.MonkeyPatch) -> None:
    run = tiny_app.release_run
    run.state.version = "0.2.0"
    started: list[str] = []

    async def fake_run_step(step_id: str) -> AsyncIterator[Event]:
        started.append(step_id)
        async for event in _no_events():
            yield event

    monkeypatch.setattr(run, "needs_confirmation", lambda step_id: step_id == "deploy-production")
    monkeypatch.setattr(run, "run_step", fake_run_step)
    async with tiny_app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        tiny_app.push_screen(DeployScreen(env="production"))
        await pilot.pause()
        await pilot.pause()
        assert isinstance(tiny_app.screen, ConfirmModal)
        await pilot.press(*"0.1.9", "enter")
        await pilot.pause()
        assert isinstance(tiny_app.screen, ConfirmModal)  # wrong: stays
        assert started == []
        await pilot.press(*"v0.2.0", "enter")  # the tag works too
        await settle(tiny_app, pilot)
        assert isinstance(tiny_app.screen, DeployScreen)
        assert started == ["deploy-production"]
        assert run.state.confirmations == {"deploy-production": "v0.2.0"}


async def test_cancelled_confirmation_can_be_retried(tiny_app: IactApp, monkeypatch: pytest.MonkeyPatch) -> None:
    run = tiny_app.release_run
    run.state.version = "0.2.0"
    monkeypatch.setattr(run, "needs_confirmation", lambda step_id: step_id == "deploy-production")
    async with tiny_app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        tiny_app.push_screen(DeployScreen(env="production"))
        await pilot.pause()
        await pilot.press("escape")
        await pilot.pause()
        screen = tiny_app.screen
        assert isinstance(screen, DeployScreen)
        assert "not confirmed" in str(screen.query_one("#step-status", Static).render())
        await pilot.press("r")
        await pilot.pause()
        assert isinstance(tiny_app.screen, ConfirmModal)


async def test_quit_while_a_step_runs_asks_first(tiny_app: IactApp, monkeypatch: pytest.MonkeyPatch) -> None:
    import asyncio

    gate = asyncio.Event()

    async def slow(step_id: str) -> AsyncIterator[Event]:
        yield StepStarted(step_id, "Deploy to staging")
        await gate.wait()

    monkeypatch.setattr(tiny_app.release_run, "run_step", slow)
    async with tiny_app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        tiny_app.push_screen(DeployScreen(env="staging"))
        await pilot.pause()
        await pilot.pause()
        await pilot.press("q")
        await pilot.pause()
        assert isinstance(tiny_app.screen, QuitModal)
        await pilot.press("escape")
        await pilot.pause()
        assert isinstance(tiny_app.screen, DeployScreen)
        await pilot.press("q")
        await pilot.pause()
        await pilot.press("y")
        await pilot.pause()
    assert tiny_app.return_code == 0


async def _no_events() -> AsyncIterator[Event]:
    return
    yield  # pragma: no cover


def test_sandbox_origin_helper_is_not_needed() -> None:
    assert shutil.which("git")
