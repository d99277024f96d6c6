"""SIGHUP and SIGTERM reaching the wizard: it stops as a confirmed quit does, without a
dialog (nobody is at the closed terminal), so a running step is cancelled and cleans up
(a deploy runs its post commands) before the run's end is journaled (found by the
operator trial: closing the terminal mid-deploy killed iact-tui on the spot and left
staging in maintenance mode). The real deploy's clean-up on these signals is shown by
tests/e2e/test_hangup.py; here, the wizard's part."""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import AsyncIterator

import pytest

from iact_tui.app import IactApp
from iact_tui.engine.events import Event, StepStarted
from iact_tui.screens import DeployScreen
from iact_tui.widgets import QuitModal


@pytest.mark.parametrize("signum", [signal.SIGHUP, signal.SIGTERM], ids=["SIGHUP", "SIGTERM"])
async def test_a_signal_mid_step_cancels_it_lets_it_clean_up_then_ends_the_run(
    tiny_app: IactApp, monkeypatch: pytest.MonkeyPatch, signum: signal.Signals
) -> None:
    started, cleaned = asyncio.Event(), asyncio.Event()

    async def slow(step_id: str) -> AsyncIterator[Event]:
        yield StepStarted(step_id, "Deploy to staging")
        started.set()
        try:
            await asyncio.sleep(60)
        finally:
            await asyncio.sleep(0.2)  # the post commands take a moment
            cleaned.set()

    monkeypatch.setattr(tiny_app.release_run, "run_step", slow)
    async with tiny_app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        tiny_app.push_screen(DeployScreen(env="staging"))
        await asyncio.wait_for(started.wait(), 10)
        os.kill(os.getpid(), signum)
        await asyncio.wait_for(cleaned.wait(), 10)
        for _ in range(50):
            if not tiny_app.is_running:
                break
            await asyncio.sleep(0.05)
        assert not isinstance(tiny_app.screen, QuitModal)
    assert tiny_app.stopped_by == signum.name
    assert tiny_app.return_code == 0 and tiny_app._finished  # the run's end journaled (finish_and_exit)


async def test_a_signal_on_welcome_quits_and_ends_the_run(tiny_app: IactApp) -> None:
    async with tiny_app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        os.kill(os.getpid(), signal.SIGTERM)
        for _ in range(50):
            if not tiny_app.is_running:
                break
            await asyncio.sleep(0.05)
    assert tiny_app.stopped_by == "SIGTERM"
    assert tiny_app.return_code == 0
    # Nothing happened in the run: its folder is removed as at a quit.
    assert not tiny_app.release_run.run_dir.exists()
