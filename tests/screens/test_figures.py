"""Check details with their figures: each figure shown once (smoke and verify screens)."""

from __future__ import annotations

from iact_tui.screens.base import with_figures
from iact_tui.screens.smoke import figures
from iact_tui.screens.verify import verify_figures


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
