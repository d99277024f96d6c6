"""CheckTable: rows keyed by check id, updated in place."""

from __future__ import annotations

from textual.app import App, ComposeResult

from iact_tui.widgets import CheckTable


class TableApp(App[None]):
    def compose(self) -> ComposeResult:
        yield CheckTable(id="checks")


async def test_rows_are_added_once_and_updated_by_id() -> None:
    app = TableApp()
    async with app.run_test(size=(100, 30)) as pilot:
        table = app.query_one(CheckTable)
        table.update_check("health", "Health endpoint", "running")
        table.update_check("login", "Login", "pending")
        table.update_check("health", "Health endpoint", "passed", "HTTP 200\nsecond line")
        await pilot.pause()
        assert table.row_count == 2
        assert table.statuses == {"health": "passed", "login": "pending"}
        row = table.get_row("health")
        assert [str(c) for c in row] == ["✔", "Health endpoint", "passed", "HTTP 200"]
        table.update_check("login", "Login", "failed", "HTTP 401")
        assert table.status_of("login") == "failed"
        assert str(table.get_row("login")[0]) == "✘"
        assert table.status_of("missing") is None


async def test_a_warning_is_not_shown_as_passed_and_clear_forgets_the_rows() -> None:
    app = TableApp()
    async with app.run_test(size=(100, 30)) as pilot:
        table = app.query_one(CheckTable)
        table.update_check("migrate", "core back to zero", "warning", "1 operation(s) lose data")
        await pilot.pause()
        icon, _, status, detail = table.get_row("migrate")
        assert (str(icon), str(status)) == ("!", "warning")
        assert "yellow" in str(icon.style) and "yellow" in str(detail.style)
        table.clear()
        assert table.row_count == 0 and table.statuses == {}


async def test_an_update_that_changes_nothing_leaves_the_table_alone() -> None:
    # Any cell update makes a DataTable render every row again; the engine repeats updates.
    app = TableApp()
    async with app.run_test(size=(100, 30)) as pilot:
        table = app.query_one(CheckTable)
        table.update_check("health", "Health endpoint", "running")
        await pilot.pause()
        before = table._update_count
        table.update_check("health", "Health endpoint", "running")
        assert table._update_count == before
        table.update_check("health", "Health endpoint", "passed", "HTTP 200")
        assert table._update_count > before
        assert table.status_of("health") == "passed"
        table.clear()
        table.update_check("health", "Health endpoint", "passed", "HTTP 200")
        assert table.row_count == 1


def _shown(app: App[None]) -> str:
    import re
    from html import unescape

    return unescape(re.sub(r"<[^>]+>", "", app.export_screenshot())).replace("\xa0", " ")


async def test_a_long_label_beside_empty_details_is_shown_whole() -> None:
    app = TableApp()
    async with app.run_test(size=(100, 30)) as pilot:
        table = app.query_one(CheckTable)
        table.update_check("backup", "Database backed up", "pending")
        table.update_check("notice", "Stakeholders told of the maintenance window", "pending")
        await pilot.pause()
        assert "Stakeholders told of the maintenance window" in _shown(app)
        table.update_check("backup", "Database backed up", "passed", "dump of 12 MB, 3 s")
        await pilot.pause()
        shown = _shown(app)
        assert "Stakeholders told of the maintenance window" in shown
        assert "dump of 12 MB, 3 s" in shown  # the detail still fits


async def test_short_labels_keep_the_detail_its_width() -> None:
    app = TableApp()
    async with app.run_test(size=(100, 30)) as pilot:
        table = app.query_one(CheckTable)
        table.update_check("free", "Release tag and branch are free", "passed", "v0.3.0 and release/v0.3.0 are free")
        await pilot.pause()
        assert table.columns["label"].width == 34  # type: ignore[index]
        assert "v0.3.0 and release/v0.3.0 are free" in _shown(app)
