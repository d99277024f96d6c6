"""CommandLog search, and the tail that stays put while the operator reads."""

from __future__ import annotations

from textual.app import App, ComposeResult
from textual.widgets import Input, Static

from iact_tui.widgets import CommandLog
from iact_tui.widgets.command_log import CURRENT_MATCH_STYLE, MATCH_STYLE


class LogApp(App[None]):
    def __init__(self, flush_hz: float = 15.0) -> None:
        super().__init__()
        self.flush_hz = flush_hz

    def compose(self) -> ComposeResult:
        yield CommandLog(max_lines=100, flush_hz=self.flush_hz, id="log")


def fill(log: CommandLog, start: int, stop: int) -> None:
    for n in range(start, stop):
        log.append(f"line {n}" + (" ERROR disk full" if n % 10 == 3 else ""))
    log.flush()


async def test_search_counts_jumps_and_wraps() -> None:
    app = LogApp()
    async with app.run_test(size=(80, 24)) as pilot:
        log = app.query_one(CommandLog)
        fill(log, 0, 60)
        await pilot.press("slash")  # the Log has the focus
        assert log.search_open and isinstance(app.focused, Input)
        await pilot.press(*"error")  # no capital: case-insensitive
        assert log.match_count == 6
        # Following the tail, the newest match in view is chosen.
        assert log.search_status == "match 6 of 6" and log.current_match_line == "line 53 ERROR disk full"
        assert not log.following  # reading a match pauses the tail
        await pilot.press("enter")
        assert log.search_status == "match 1 of 6"  # wrapped to the oldest
        await pilot.press("down")
        assert log.current_match_line == "line 13 ERROR disk full"
        await pilot.press("up", "up")
        assert log.search_status == "match 6 of 6"
        matches = log.query_one(".command-log--matches", Static)
        assert str(matches.render()) == "match 6 of 6"

        # The current match is in view, its term highlighted more strongly than others.
        inner = log.log_widget
        local = inner.lines.index("line 53 ERROR disk full")
        top = int(inner.scroll_offset.y)
        assert top <= local < top + inner.scrollable_content_region.height
        strip = inner.render_line(local - top)
        styles = {str(seg.style) for seg in strip if "ERROR" in seg.text}
        assert any("dark_orange" in s for s in styles), styles
        other = inner.lines.index("line 43 ERROR disk full")
        if top <= other:
            styles = {str(seg.style) for seg in inner.render_line(other - top) if "ERROR" in seg.text}
            assert any("yellow" in s for s in styles), styles
        assert MATCH_STYLE != CURRENT_MATCH_STYLE

        # New lines are matched as they arrive, without rescanning.
        fill(log, 60, 70)
        assert log.match_count == 7 and log.search_status == "match 6 of 7"

        await pilot.press("escape")
        assert not log.search_open
        await pilot.press("n")  # the term is kept: n / N go on from the log
        assert log.search_status == "match 7 of 7"
        await pilot.press("N")
        assert log.search_status == "match 6 of 7"


async def test_matches_leave_with_the_lines_the_pane_drops() -> None:
    app = LogApp()
    async with app.run_test(size=(80, 24)) as pilot:
        log = app.query_one(CommandLog)
        fill(log, 0, 100)
        log.open_search()
        log.search("ERROR")  # a capital: case-sensitive
        assert log.match_count == 10
        log.search("Error")
        assert log.search_status == "no match"
        log.search("ERROR")
        fill(log, 100, 150)  # drops lines 0..49 (max_lines=100)
        assert log.match_count == 10  # 5 left the pane, 5 arrived
        assert log.log_widget.lines[0] == "line 50"
        await pilot.pause()


async def test_a_scrolled_up_view_stays_on_its_lines_when_the_pane_is_full() -> None:
    app = LogApp()
    async with app.run_test(size=(80, 24)) as pilot:
        log = app.query_one(CommandLog)
        inner = log.log_widget
        fill(log, 0, 100)
        await pilot.pause()
        assert log.following
        inner.scroll_to(y=40, animate=False, immediate=True)
        await pilot.pause()
        assert not log.following
        assert inner.lines[40] == "line 40"
        fill(log, 100, 130)  # 30 more: the 30 oldest leave
        await pilot.pause()
        top = int(inner.scroll_offset.y)
        assert inner.lines[top] == "line 40"  # the same line is still at the top of the view
        assert log.unseen == 30
        inner.scroll_end(animate=False, immediate=True)  # reaching the end resumes following
        await pilot.pause()
        assert log.following and log.unseen == 0


async def test_following_survives_the_pane_getting_shorter() -> None:
    app = LogApp(flush_hz=0.001)  # flushed by the test only
    async with app.run_test(size=(80, 24)) as pilot:
        log = app.query_one(CommandLog)
        fill(log, 0, 10)  # fits: nothing to scroll
        await pilot.pause()
        log.styles.height = 6  # e.g. a table above the log grew
        await pilot.pause()
        assert not log.log_widget.is_vertical_scroll_end
        log.flush()  # the next timer tick
        assert log.log_widget.is_vertical_scroll_end and log.following


async def test_blank_and_multi_line_output_count_as_lines() -> None:
    app = LogApp()
    async with app.run_test(size=(80, 24)):
        log = app.query_one(CommandLog)
        log.append("first")
        log.append("")
        log.append("two\nlines")
        log.flush()
        assert list(log.log_widget.lines) == ["first", " ", "two", "lines"]
        log.open_search()
        log.search("lines")
        assert log.current_match_line == "lines"
