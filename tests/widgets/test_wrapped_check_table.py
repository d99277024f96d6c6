"""WrappedCheckTable: each change builds and draws the Rich table once, not once to
measure its height and once more to paint it."""

from __future__ import annotations

import pytest
from textual.app import App, ComposeResult

from iact_tui.widgets import WrappedCheckTable


class TableApp(App[None]):
    def compose(self) -> ComposeResult:
        yield WrappedCheckTable(id="checks", item_header="Check")


async def test_a_change_builds_the_table_once_per_width(monkeypatch: pytest.MonkeyPatch) -> None:
    app = TableApp()
    async with app.run_test(size=(120, 30)) as pilot:
        table = app.query_one(WrappedCheckTable)
        widths: list[int] = []
        build = table._table

        def counting(width: int) -> object:
            widths.append(width)
            return build(width)

        monkeypatch.setattr(table, "_table", counting)
        table.update_check("health", "Health", "passed", "HTTP 200 in 7 ms, version 1.4.0")
        table.update_check("errors", "Error rate", "failed", "3 of 20 requests failed " * 8)
        await pilot.pause()
        assert len(widths) == 1  # measured and painted from one build
        shown = "\n".join(strip.text for strip in table.render_lines(table.region.reset_offset))
        assert "Health" in shown and "Error rate" in shown
        assert table.outer_size.height >= 6  # the long detail wraps over several lines

        widths.clear()
        table.update_check("health", "Health", "failed", "HTTP 503")
        await pilot.pause()
        assert len(widths) == 1
        shown = "\n".join(strip.text for strip in table.render_lines(table.region.reset_offset))
        assert "HTTP 503" in shown and "HTTP 200" not in shown


async def test_a_url_in_a_label_is_not_cut_mid_word() -> None:
    app = TableApp()
    async with app.run_test(size=(120, 30)) as pilot:
        table = app.query_one(WrappedCheckTable)
        url = "http://127.0.0.1:59665/api/auth/login"
        table.update_check("login", f"POST {url} as demo", "passed", "login as 'demo': 200 in 31 ms")
        table.update_check("health", "Health", "passed", "HTTP 200 in 7 ms, version 1.4.0")
        await pilot.pause()
        shown = "\n".join(strip.text for strip in table.render_lines(table.region.reset_offset))
        assert url in shown, shown
        assert "login as 'demo': 200 in 31 ms" in shown, shown
