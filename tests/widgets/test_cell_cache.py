"""CellCachedTable: a changed cell is drawn again, the others come from the cache."""

from __future__ import annotations

from typing import Any

import pytest
from textual.app import App, ComposeResult
from textual.widgets import DataTable

from iact_tui.engine.events import CommandUpdate
from iact_tui.widgets import CheckTable, DeployTable

T0 = 1_700_000_000.0


class TablesApp(App[None]):
    def compose(self) -> ComposeResult:
        yield CheckTable(id="checks")
        yield DeployTable(id="deploy", clock=lambda: T0)


def _count_draws(monkeypatch: pytest.MonkeyPatch) -> list[tuple[int, int]]:
    """Every cell Textual's DataTable draws from now on, as (row, column)."""
    drawn: list[tuple[int, int]] = []
    original = DataTable._render_cell

    def counting(self: DataTable[Any], row_index: int, column_index: int, *args: Any, **kwargs: Any) -> Any:
        drawn.append((row_index, column_index))
        return original(self, row_index, column_index, *args, **kwargs)

    monkeypatch.setattr(DataTable, "_render_cell", counting)
    return drawn


def _text(table: DataTable[Any]) -> str:
    return "\n".join(strip.text for strip in table.render_lines(table.region.reset_offset))


async def test_a_changed_check_draws_only_its_own_cells(monkeypatch: pytest.MonkeyPatch) -> None:
    app = TablesApp()
    async with app.run_test(size=(120, 40)) as pilot:
        table = app.query_one(CheckTable)
        for n in range(8):
            table.update_check(f"check-{n}", f"Check number {n}", "pending")
        await pilot.pause()
        _text(table)
        drawn = _count_draws(monkeypatch)
        table.update_check("check-3", "Check number 3", "failed", "it broke")
        await pilot.pause()  # the app paints the table
        shown = _text(table)
        # Status, icon and detail of that row changed; its label is the same text but a new
        # cell object (drawn again too). The other 7 rows and the header come from the cache.
        assert drawn and {row for row, _ in drawn} == {3}
        assert "it broke" in shown and "failed" in shown
        assert shown.count("pending") == 7


async def test_a_deploy_update_and_tick_draw_only_the_changed_cells(monkeypatch: pytest.MonkeyPatch) -> None:
    app = TablesApp()
    async with app.run_test(size=(120, 40)) as pilot:
        table = app.query_one(DeployTable)
        for index in range(6):
            table.update_command(CommandUpdate("deploy", "web1", index, f"step {index}", "steps", "pending", ts=T0))
        await pilot.pause()
        _text(table)
        drawn = _count_draws(monkeypatch)
        table.update_command(CommandUpdate("deploy", "web1", 2, "step 2", "steps", "running", ts=T0 - 3))
        await pilot.pause()
        shown = _text(table)
        assert drawn and {row for row, _ in drawn} <= {2}
        assert "running" in shown and "3s" in shown
        drawn.clear()
        table.clock = lambda: T0 + 5
        table.tick()
        await pilot.pause()
        shown = _text(table)
        assert drawn == [(2, 4)]  # the running row's elapsed cell only
        assert "8s" in shown


async def test_a_style_change_draws_everything_again(monkeypatch: pytest.MonkeyPatch) -> None:
    app = TablesApp()
    async with app.run_test(size=(120, 40)) as pilot:
        table = app.query_one(CheckTable)
        for n in range(3):
            table.update_check(f"check-{n}", f"Check number {n}", "passed")
        await pilot.pause()
        before = _text(table)
        drawn = _count_draws(monkeypatch)
        app.theme = "textual-light"
        await pilot.pause()
        assert _text(table) == before  # same text; every cell drawn in the new theme's colours
        assert {row for row, _ in drawn} >= {-1, 0, 1, 2}


async def test_a_deploy_update_repaints_its_rows_and_the_summary_line_only(monkeypatch: pytest.MonkeyPatch) -> None:
    """Textual's update_cell and border_subtitle repaint every line of the table; here the
    changed row (and the row the cursor left) and the bottom border are put together again."""
    app = TablesApp()
    async with app.run_test(size=(120, 40)) as pilot:
        table = app.query_one(DeployTable)
        for index in range(6):
            table.update_command(CommandUpdate("deploy", "web1", index, f"step {index}", "steps", "pending", ts=T0))
        await pilot.pause()
        assert _text(table).splitlines()[-1].count("0/6 done") == 1
        lines: list[int] = []
        original = DataTable._render_line

        def counting(self: DataTable[Any], y: int, *args: Any, **kwargs: Any) -> Any:
            lines.append(y)
            return original(self, y, *args, **kwargs)

        monkeypatch.setattr(DataTable, "_render_line", counting)
        table.update_command(CommandUpdate("deploy", "web1", 2, "step 2", "steps", "running", ts=T0 - 3))
        await pilot.pause()
        shown = _text(table).splitlines()
        assert lines and set(lines) <= {1, 3}, lines  # row 0 (the cursor left it) and row 2; header is y=0
        assert "0/6 done · 1 running" in shown[-1]  # the bottom border shows the new summary
        assert "running" in shown[4]  # top border, header, rows 0, 1, 2
        lines.clear()
        table.update_command(CommandUpdate("deploy", "web1", 2, "step 2", "steps", "ok", 1.5, ts=T0))
        await pilot.pause()
        assert "1/6 done" in _text(table).splitlines()[-1]
        assert "1 running" not in _text(table).splitlines()[-1]
