"""CommandLog: bounded, batched writes and the "new lines" badge."""

from __future__ import annotations

from textual.app import App, ComposeResult
from textual.widgets import Log, Static

from iact_tui.widgets import CommandLog, format_output


class LogApp(App[None]):
    def compose(self) -> ComposeResult:
        yield CommandLog(max_lines=10_000, id="log")


async def test_append_only_queues_and_flush_writes_once() -> None:
    app = LogApp()
    async with app.run_test(size=(100, 30)) as pilot:
        log = app.query_one(CommandLog)
        calls: list[int] = []
        inner = log.query_one(Log)
        original = inner.write_lines

        def counting(lines, scroll_end=None):  # type: ignore[no-untyped-def]
            lines = list(lines)
            calls.append(len(lines))
            return original(lines, scroll_end)

        inner.write_lines = counting  # type: ignore[method-assign]
        for n in range(50_000):
            log.append(f"line {n}")
        # Appends only queue; the bounded queue keeps the newest max_lines.
        assert log.received == 50_000
        assert log.pending_count == 10_000
        log.flush()
        assert calls == [10_000]
        assert log.line_count == 10_000
        assert inner.lines[-1] == "line 49999"
        assert inner.lines[0] == "line 40000"
        # More output never grows the pane beyond max_lines.
        for n in range(50_000, 65_000):
            log.append(f"line {n}")
        log.flush()
        assert log.line_count == 10_000
        assert inner.lines[-1] == "line 64999"
        await pilot.pause()


async def test_timer_flushes_without_an_explicit_call() -> None:
    app = LogApp()
    async with app.run_test(size=(100, 30)) as pilot:
        log = app.query_one(CommandLog)
        log.append("hello")
        while log.pending_count:
            await pilot.pause()
        assert log.log_widget.lines[-1] == "hello"


async def test_follows_tail_at_end_and_badges_when_scrolled_up() -> None:
    app = LogApp()
    async with app.run_test(size=(100, 30)) as pilot:
        log = app.query_one(CommandLog)
        badge = log.query_one(".command-log--badge", Static)
        for n in range(200):
            log.append(f"line {n}")
        log.flush()
        await pilot.pause()
        assert log.log_widget.is_vertical_scroll_end
        assert log.unseen == 0
        assert not badge.has_class("-visible")

        log.log_widget.scroll_home(animate=False, immediate=True)
        await pilot.pause()
        for n in range(7):
            log.append(f"late {n}")
        log.flush()
        await pilot.pause()
        assert log.unseen == 7
        assert badge.has_class("-visible")
        assert "7 new lines" in str(badge.render())
        assert log.log_widget.scroll_y == 0  # did not jump to the tail

        log.scroll_to_end()
        await pilot.pause()
        assert log.unseen == 0
        assert not badge.has_class("-visible")


def test_streams_and_hosts_are_told_apart() -> None:
    assert format_output("ok") == "ok"
    assert format_output("boom", "stderr") == "! boom"
    assert format_output("deploying", "info") == "» deploying"
    assert format_output("boom", "stderr", "staging") == "[staging] ! boom"
