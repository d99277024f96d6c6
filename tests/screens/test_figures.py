"""Check details with their figures: each figure shown once (smoke and verify screens)."""

from __future__ import annotations

from ui_helpers import settle

from iact_tui.app import IactApp
from iact_tui.engine.events import CheckUpdate
from iact_tui.screens import SmokeScreen
from iact_tui.screens.base import with_figures
from iact_tui.screens.smoke import figures
from iact_tui.screens.verify import verify_figures
from iact_tui.widgets import WrappedCheckTable


def test_a_figure_the_detail_already_says_is_not_repeated() -> None:
    detail = "200 OK in 104 ms, version 1.4.0"
    assert (
        with_figures(
            detail, verify_figures("health", {"status": 200, "elapsed_ms": 104.2, "version": "1.4.0"}).split(" · ")
        )
        == detail
    )
    assert with_figures("exited 0 in 0.3 s", ["exit 0"]) == "exited 0 in 0.3 s"
    assert with_figures("HTTP 200", ["HTTP 200", "95 ms"]) == "HTTP 200 (95 ms)"
    assert with_figures("", ["HTTP 200", "95 ms"]) == "HTTP 200 · 95 ms"
    assert with_figures("exited 1 in 0.3 s", ["exit 1", "2 attempts"]) == "exited 1 in 0.3 s (2 attempts)"


def test_smoke_details_show_each_figure_once() -> None:
    data = {"status_code": 200, "elapsed_ms": 104.0}
    assert with_figures("200 OK in 104 ms, version 1.4.0", figures(data).split(" · ")) == (
        "200 OK in 104 ms, version 1.4.0"
    )
    assert with_figures("login as demo", figures(data).split(" · ")) == "login as demo (HTTP 200 · 104 ms)"
    assert with_figures("exited 0 in 0.3 s", figures({"exit_status": 0}).split(" · ")) == "exited 0 in 0.3 s"


async def test_the_smoke_screen_shows_a_long_detail_whole(tiny_app: IactApp) -> None:
    reason = "expected 200, got 502 Bad Gateway; body: " + "upstream connect error or disconnect/reset " * 4
    async with tiny_app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        tiny_app.push_screen(SmokeScreen(env="staging"))
        await settle(tiny_app, pilot)
        screen = tiny_app.screen
        assert isinstance(screen, SmokeScreen)
        screen.on_check(CheckUpdate("smoke-staging", "login", "Login as demo", "failed", reason))
        await pilot.pause()
        table = screen.query_one(WrappedCheckTable)
        assert table.detail_of("login") == reason.strip()
        assert table.size.height > 5  # the row grew to show it
