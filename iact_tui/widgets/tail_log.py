"""TailLog: the monitor's merged log pane, a :class:`CommandLog` that colours its lines.

Lines are written as plain text in columns (see :func:`format_tail_line`): a one-cell
mark (``✗`` an error line, ``»`` a notice of the monitor, blank otherwise), the host,
the source, then the text. The pane's highlighter reads the mark when a line is
rendered (only the lines in view are), so error lines stand out at no cost per line
received, and the filter's text is highlighted in the lines shown. Batching, the bound,
the "N new lines" badge and the follow-tail that pauses on scroll-up are CommandLog's.
Search is left out: the monitor's filter takes its place.
"""

from __future__ import annotations

from typing import ClassVar

from rich.highlighter import Highlighter
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal
from textual.widgets import Input, Static

from iact_tui.widgets.command_log import MATCH_STYLE, CommandLog, SearchableLog

ERROR_MARK = "✗"
NOTICE_MARK = "»"
#: Rich styles of an error line, a notice, and the host column.
ERROR_STYLE = "bold red"
NOTICE_STYLE = "italic dim"
HOST_STYLE = "bold"


def fit_column(text: str, width: int) -> str:
    """``text`` padded to ``width`` cells, or cut with ``…``."""
    return text.ljust(width) if len(text) <= width else text[: width - 1] + "…"


def format_tail_line(
    host: str, source: str, text: str, *, error: bool = False, notice: bool = False, host_width: int, source_width: int
) -> str:
    """One line of the pane: mark, host and source in fixed-width columns, the text.

    Args:
        host: The host's name (cut with ``…`` past ``host_width``).
        source: The file, unit or ``monitor`` (cut past ``source_width``).
        text: The line.
        error: An error pattern matched it (mark ``✗``).
        notice: A notice of the monitor (mark ``»``).
        host_width: Cells of the host column.
        source_width: Cells of the source column.
    """
    mark = ERROR_MARK if error else NOTICE_MARK if notice else " "
    return f"{mark} {fit_column(host, host_width)}  {fit_column(source, source_width)}  {text}"


class _TailHighlighter(Highlighter):
    def __init__(self, lines: _TailLines) -> None:
        self.lines = lines

    def highlight(self, text: Text) -> None:
        plain = text.plain
        if plain.startswith(ERROR_MARK):
            text.stylize(ERROR_STYLE)
        elif plain.startswith(NOTICE_MARK):
            text.stylize(NOTICE_STYLE)
        width = self.lines.host_width
        if width:
            text.stylize(HOST_STYLE, 2, 2 + width)
        term = self.lines.term
        if term:
            body = 2 + width + 2
            haystack = plain if term != term.lower() else plain.lower()
            start = haystack.find(term, body)
            while start >= 0:
                text.stylize(MATCH_STYLE, start, start + len(term))
                start = haystack.find(term, start + len(term))


class _TailLines(SearchableLog):
    """The inner Log, highlighting always on (the highlighter only reads the line's mark)."""

    def __init__(self, *, max_lines: int | None = None, id: str | None = None) -> None:
        super().__init__(max_lines=max_lines, id=id)
        self.highlight = True
        self.host_width = 0
        self.term = ""
        self.highlighter = _TailHighlighter(self)

    def set_search(self, term: str, current_line: int | None) -> None:
        super().set_search(term, current_line)
        self.highlight = True


class TailLog(CommandLog, inherit_bindings=False):
    """The monitor's log pane (see the module docstring).

    Args:
        max_lines: Most lines kept (older ones are dropped from view).
        title: The border title.
    """

    BINDINGS: ClassVar[list[BindingType]] = [Binding("end", "follow", "Follow", show=False)]

    def compose(self) -> ComposeResult:
        yield _TailLines(max_lines=self.max_lines, id="command-log--lines")
        # CommandLog's search bar stays hidden (its parts are expected by CommandLog).
        with Horizontal(classes="command-log--search"):
            yield Input(id="command-log--term", disabled=True)
            yield Static("", classes="command-log--matches")
        yield Static("", classes="command-log--badge")

    def set_style(self, *, host_width: int, term: str) -> None:
        """Embolden ``host_width`` cells of host column and highlight ``term`` (empty: none)."""
        lines = self.query_one(_TailLines)
        lines.host_width = host_width
        lines.term = term
        lines.notify_style_update()
        lines.refresh()

    def action_search(self) -> None:
        """No search in this pane (the monitor's filter replaces it)."""
