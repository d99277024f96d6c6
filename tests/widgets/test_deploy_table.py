"""DeployTable: per host, per command status, live elapsed time, grouping and speed."""

from __future__ import annotations

import time

import pytest
from textual.app import App, ComposeResult

from iact_tui.engine.events import CommandUpdate
from iact_tui.widgets import DeployTable
from iact_tui.widgets.deploy_table import format_elapsed

T0 = 1_700_000_000.0


class TableApp(App[None]):
    def compose(self) -> ComposeResult:
        yield DeployTable(id="table", clock=lambda: T0)


def cmd(host: str, index: int, status: str, seconds: float = 0.0, detail: str = "", ts: float = T0) -> CommandUpdate:
    return CommandUpdate("deploy-staging", host, index, f"command {index}", "steps", status, seconds, detail, ts=ts)  # type: ignore[arg-type]


async def test_statuses_elapsed_and_detail_per_host_and_command() -> None:
    app = TableApp()
    async with app.run_test(size=(120, 30)) as pilot:
        table = app.query_one(DeployTable)
        for host in ("web1", "web2"):
            for index in range(3):
                table.update_command(cmd(host, index, "pending"))
        assert table.status_of("web1", 0) == "pending" and table.elapsed_of("web1", 0) == 0.0
        assert table.status_of("web3", 0) is None and table.elapsed_of("web3", 0) is None

        table.update_command(cmd("web1", 0, "running", ts=T0 - 3.6))
        assert table.elapsed_of("web1", 0) == pytest.approx(3.6)
        table.clock = lambda: T0 + 61.2
        assert table.elapsed_of("web1", 0) == pytest.approx(64.8)
        table.tick()
        assert str(table.get_cell("web1\x1f0", "elapsed")) == "1m04s"
        assert str(table.get_cell("web1\x1f0", "status")) == "running"

        table.update_command(cmd("web1", 0, "ok", seconds=2.04))
        table.update_command(cmd("web1", 1, "running"))
        table.update_command(cmd("web1", 1, "timed-out", seconds=30.0, detail="still waiting\nfor the lock"))
        table.update_command(cmd("web1", 2, "skipped"))
        assert table.elapsed_of("web1", 0) == 2.04
        assert str(table.get_cell("web1\x1f0", "elapsed")) == "2.0s"
        assert table.status_of("web1", 1) == "timed-out"
        assert str(table.get_cell("web1\x1f1", "icon")) == "✘"
        assert str(table.get_cell("web1\x1f1", "detail")) == "still waiting"  # first line only
        assert table.detail_of("web1", 1) == "still waiting\nfor the lock"
        assert str(table.get_cell("web1\x1f2", "elapsed")) == "–"
        assert table.counts() == {"ok": 1, "timed-out": 1, "skipped": 1, "pending": 3}
        assert table.summary() == "1/6 done · 1 timed-out · 1 skipped"
        # The host is named on its first row only (rows are grouped per host).
        assert [str(table.get_cell(f"{h}\x1f{i}", "host")) for h in ("web1", "web2") for i in range(3)] == [
            "web1",
            "",
            "",
            "web2",
            "",
            "",
        ]
        table.reset()
        assert table.rows_in_order() == [] and table.row_count == 0 and table.summary() == ""
        await pilot.pause()


async def test_rows_group_per_host_when_announced_command_by_command() -> None:
    app = TableApp()
    async with app.run_test(size=(120, 30)):
        table = app.query_one(DeployTable)
        for index in range(3):
            for host in ("web1", "web2"):
                table.update_command(cmd(host, index, "pending"))
        assert table.rows_in_order() == [(h, i, "pending") for h in ("web1", "web2") for i in range(3)]
        assert table.hosts == ("web1", "web2")
        # The table's own row order matches.
        assert [str(table.get_row_at(r)[1]) for r in range(6)] == ["web1", "", "", "web2", "", ""]


async def test_only_running_rows_tick_and_only_when_the_text_changes() -> None:
    app = TableApp()
    async with app.run_test(size=(120, 30)):
        table = app.query_one(DeployTable)
        for index in range(12):
            table.update_command(cmd("web1", index, "ok" if index < 5 else "pending", seconds=1.0))
        table.update_command(cmd("web1", 5, "running"))
        updated: list[tuple[object, object]] = []
        original = table.update_cell

        def spy(row_key, column_key, value, *, update_width=False):  # type: ignore[no-untyped-def]
            updated.append((row_key, column_key))
            return original(row_key, column_key, value, update_width=update_width)

        table.update_cell = spy  # type: ignore[method-assign]
        table.clock = lambda: T0 + 0.4
        table.tick()
        assert updated == []  # still "0s"
        table.clock = lambda: T0 + 1.1
        table.tick()
        assert updated == [("web1\x1f5", "elapsed")]


async def test_ten_hosts_by_twelve_commands_stay_fast() -> None:
    app = TableApp()
    async with app.run_test(size=(120, 30)) as pilot:
        table = app.query_one(DeployTable)
        hosts = [f"web{n}" for n in range(10)]
        started = time.perf_counter()
        for index in range(12):  # announced command by command: the worst order
            for host in hosts:
                table.update_command(cmd(host, index, "pending"))
        for host in hosts:
            for index in range(12):
                table.update_command(cmd(host, index, "running"))
                table.tick()
                table.update_command(cmd(host, index, "ok", seconds=0.1))
        elapsed = time.perf_counter() - started
        await pilot.pause()
        assert table.counts() == {"ok": 120}
        # 120 rows and 360 updates: a small fraction of a second (a generous bound).
        assert elapsed < 1.0, elapsed


def test_elapsed_format() -> None:
    assert format_elapsed(3.24) == "3.2s"
    assert format_elapsed(3.94, running=True) == "3s"
    assert format_elapsed(125) == "2m05s"
    assert format_elapsed(3725) == "1h02m"
