"""CommandLog: the live, bounded, batched log pane of a step's command output.

Producers call :meth:`CommandLog.append` (or :meth:`CommandLog.append_output`), which
only appends to a bounded deque; a timer flushes the deque at ``FLUSH_HZ`` with a single
``Log.write_lines`` call (``Log.write_line`` costs milliseconds a call, see TESTING.md).
The view follows the tail only while it is scrolled to the end; otherwise a badge counts
the lines that arrived below. The full output lives in the run's journal on disk.
"""

from __future__ import annotations

from collections import deque

from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import Log, Static

#: How often the pending lines are written to the screen, in flushes per second.
FLUSH_HZ = 15.0


def format_output(text: str, stream: str = "stdout", host: str | None = None) -> str:
    """One output line as shown in the log: host tag, then a stream marker.

    ``Log`` is plain text, so streams are told apart by a prefix: ``! `` for stderr,
    ``» `` for a step's own narration (``info``), nothing for stdout; ``[host] `` first
    when the line came from an environment's host.
    """
    marker = {"stderr": "! ", "info": "» "}.get(stream, "")
    tag = f"[{host}] " if host else ""
    return f"{tag}{marker}{text}"


class CommandLog(Vertical):
    """A bounded ``Log`` fed in batches, with a "N new lines" badge when scrolled up.

    Args:
        max_lines: Most lines kept on screen (older ones are dropped; the journal keeps all).
        flush_hz: Flushes per second.
    """

    DEFAULT_CSS = """
    CommandLog {
        height: 1fr;
        min-height: 5;
        border: round $panel-lighten-2;
        border-title-color: $text-muted;
        background: $surface;
    }
    CommandLog > Log {
        height: 1fr;
        background: $surface;
        scrollbar-size-vertical: 1;
        scrollbar-background: $surface;
        scrollbar-corner-color: $surface;
    }
    CommandLog > .command-log--badge {
        dock: bottom;
        width: auto;
        height: 1;
        offset-x: 1;
        padding: 0 1;
        background: $accent;
        color: $text;
        display: none;
    }
    CommandLog > .command-log--badge.-visible {
        display: block;
    }
    """

    def __init__(
        self,
        *,
        max_lines: int = 10_000,
        flush_hz: float = FLUSH_HZ,
        title: str = "Output",
        name: str | None = None,
        id: str | None = None,
        classes: str | None = None,
    ) -> None:
        super().__init__(name=name, id=id, classes=classes)
        self.max_lines = max_lines
        self.flush_hz = flush_hz
        self.border_title = title
        # Only the newest max_lines can ever be shown, so older pending lines are dropped
        # before they cost a write (back-pressure without blocking the producer).
        self._pending: deque[str] = deque(maxlen=max_lines)
        self._received = 0
        self._unseen = 0

    def compose(self) -> ComposeResult:
        yield Log(max_lines=self.max_lines, auto_scroll=True, id="command-log--lines")
        yield Static("", classes="command-log--badge")

    def on_mount(self) -> None:
        self.set_interval(1.0 / self.flush_hz, self.flush, name="command-log-flush")

    @property
    def log_widget(self) -> Log:
        """The inner ``Log``."""
        return self.query_one("#command-log--lines", Log)

    @property
    def line_count(self) -> int:
        """Lines currently on screen (at most ``max_lines``)."""
        return self.log_widget.line_count

    @property
    def pending_count(self) -> int:
        """Lines appended but not yet flushed."""
        return len(self._pending)

    @property
    def received(self) -> int:
        """Lines appended since the log was created or cleared."""
        return self._received

    @property
    def unseen(self) -> int:
        """Lines written below the view while the operator was scrolled up."""
        return self._unseen

    def append(self, line: str) -> None:
        """Queue one line (cheap: a deque append; shown at the next flush)."""
        self._pending.append(line)
        self._received += 1

    def append_output(self, text: str, stream: str = "stdout", host: str | None = None) -> None:
        """Queue a command's output line with its host tag and stream marker."""
        self.append(format_output(text, stream, host))

    def flush(self) -> None:
        """Write every pending line in one ``write_lines`` call and update the badge."""
        log = self.log_widget
        at_end = log.is_vertical_scroll_end
        if self._pending:
            lines = list(self._pending)
            self._pending.clear()
            log.write_lines(lines)
            if not at_end:
                self._unseen += len(lines)
        if at_end or log.is_vertical_scroll_end:
            self._unseen = 0
        self._update_badge()

    def clear(self) -> None:
        """Drop everything shown and pending."""
        self._pending.clear()
        self._received = 0
        self._unseen = 0
        self.log_widget.clear()
        self._update_badge()

    def scroll_to_end(self) -> None:
        """Jump to the newest line and resume following the tail."""
        self.log_widget.scroll_end(animate=False, immediate=True, x_axis=False)
        self._unseen = 0
        self._update_badge()

    def _update_badge(self) -> None:
        badge = self.query_one(".command-log--badge", Static)
        if self._unseen:
            noun = "line" if self._unseen == 1 else "lines"
            badge.update(f"↓ {self._unseen:,} new {noun} · End to follow")
            badge.add_class("-visible")
        else:
            badge.remove_class("-visible")
