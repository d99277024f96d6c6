"""The footer offers ``⏎ Continue`` only when Enter would go on (a dimmed key read as
available in a terminal without colour, and in ``tmux capture-pane``)."""

from __future__ import annotations

import pytest
from test_verify_screen import open_verify, production_app, scripted_verify, verify_events
from textual.widgets._footer import FooterKey
from ui_helpers import settle

from iact_tui.app import IactApp
from iact_tui.screens import PrepScreen

__all__ = ["production_app"]  # the fixture, shared with the verify screen's tests


def footer_keys(app: IactApp) -> list[str]:
    return [key.key for key in app.screen.query(FooterKey)]


async def test_no_continue_in_the_footer_after_a_failed_step_until_the_retry_passed(
    production_app: IactApp, monkeypatch: pytest.MonkeyPatch
) -> None:
    run = production_app.release_run
    monkeypatch.setattr(run, "run_step", scripted_verify(run, verify_events(health_ok=False), verify_events()))
    async with production_app.run_test(size=(120, 40)) as pilot:
        screen = await open_verify(production_app, pilot)
        assert screen.step_status == {"verify": "failed"}
        assert "enter" not in footer_keys(production_app) and "r" in footer_keys(production_app)
        await pilot.press("r")
        await settle(production_app, pilot)
        assert "enter" not in footer_keys(production_app)  # passed, but nothing ticked by hand yet
        for check_id in ("verified-by-hand", "metrics-normal"):
            screen.query_one(f"#verify-tick-{check_id}").focus()
            await pilot.press("space")
        await pilot.pause()
        assert "enter" in footer_keys(production_app)


async def test_no_continue_in_the_footer_of_the_prep_before_the_plan_is_acknowledged(
    production_app: IactApp,
) -> None:
    async with production_app.run_test(size=(120, 40)) as pilot:
        await settle(production_app, pilot)
        production_app.push_screen(PrepScreen(env="production"))
        await settle(production_app, pilot)
        assert not production_app.screen.is_ready()  # type: ignore[attr-defined]
        assert "enter" not in footer_keys(production_app)
