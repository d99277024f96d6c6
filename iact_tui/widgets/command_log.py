"""CommandLog: the live, bounded, batched log pane of a step's command output.

Producers call :meth:`CommandLog.append` (or :meth:`CommandLog.append_output`), which
only appends to a bounded deque; a timer flushes the deque at ``FLUSH_HZ`` with a single
``Log.write_lines`` call (``Log.write_line`` costs milliseconds a call, see TESTING.md).
The view follows the tail only while it is scrolled to the end; otherwise a badge counts
the lines that arrived below, and the lines in view stay put even when the oldest lines
are dropped. The full output lives in the run's journal on disk.

Search (``/`` or ``ctrl+f``) looks through the lines the pane holds: every match is
highlighted while the search is open, the view jumps to the current one, and the search
bar says "match i of N" or "no match". New lines are matched as they are flushed (only
while a search is open), so searching never rescans the pane or slows the stream.
"""

from __future__ import annotations

import bisect
from collections import deque
from collections.abc import Callable
from typing import ClassVar

from rich.cells import cell_len
from rich.highlighter import Highlighter
from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.strip import Strip
from textual.widgets import Input, Log, Static

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


#: Rich styles of a search match, and of the current one.
MATCH_STYLE = "black on yellow"
CURRENT_MATCH_STYLE = "bold black on dark_orange"


def matcher(term: str) -> Callable[[str], bool]:
    """A line predicate for ``term``: case-insensitive unless the term has a capital (smart case)."""
    if term != term.lower():
        return lambda line: term in line
    return lambda line: term in line.lower()


def _one_line_each(lines: list[str]) -> list[str]:
    """``lines`` with embedded line breaks split and empty lines kept as a space.

    Log splits every written line again and drops empty ones; after this, one line
    written is one line shown, so the log can count lines. The usual case (no breaks,
    no empty lines) is checked with C-speed string operations only.
    """
    if "" not in lines and len("\n".join(lines).splitlines()) == len(lines):
        return lines
    return [part or " " for line in lines for part in (line.splitlines() or ("",))]


class _TermHighlighter(Highlighter):
    """Highlights the search term in the line :class:`SearchableLog` is rendering."""

    def __init__(self, log: SearchableLog) -> None:
        self.log = log

    def highlight(self, text: Text) -> None:
        term = self.log.search_term
        if not term:
            return
        plain = text.plain if term != term.lower() else text.plain.lower()
        style = CURRENT_MATCH_STYLE if self.log.rendering_line == self.log.current_line else MATCH_STYLE
        start = plain.find(term)
        while start >= 0:
            text.stylize(style, start, start + len(term))
            start = plain.find(term, start + len(term))


class SearchableLog(Log):
    """A ``Log`` that highlights a search term, and the current match's line more strongly.

    Rendering is unchanged (and free) while no term is set: Log's highlighter only runs
    when ``highlight`` is on.
    """

    def __init__(self, *, max_lines: int | None = None, id: str | None = None) -> None:
        super().__init__(highlight=False, max_lines=max_lines, auto_scroll=True, id=id)
        self.search_term = ""
        #: The current match's line (index into ``lines``), or ``None``.
        self.current_line: int | None = None
        #: The line being rendered (for the highlighter).
        self.rendering_line = -1
        self.highlighter = _TermHighlighter(self)

    def _update_size(self, updates: int, lines: list[str]) -> None:  # type: ignore[override]
        """Widen the virtual size for ``lines``, here rather than in Log's thread worker.

        Log measures new lines in a thread; its pure-Python loop holds the GIL and, during
        a stream, doubled the time keys took to be answered (benchmarks/deploy_stream.py).
        Measured here it costs about a millisecond per 10,000 lines: ``len`` for ASCII
        lines without tabs (one cell per character), Rich's ``cell_len`` otherwise.
        """
        if not lines:
            return
        width = max(
            len(line) if line.isascii() and "\t" not in line else cell_len(self._process_line(line)) for line in lines
        )
        self._update_maximum_width(updates, width)

    def set_search(self, term: str, current_line: int | None) -> None:
        """Highlight ``term`` (empty: none) and mark ``current_line`` as the current match."""
        self.search_term = term
        self.current_line = current_line
        self.highlight = bool(term)
        self.refresh()

    def render_line(self, y: int) -> Strip:
        self.rendering_line = int(self.scroll_offset.y) + y
        return super().render_line(y)


class CommandLog(Vertical):
    """A bounded ``Log`` fed in batches, with a "N new lines" badge when scrolled up, and search.

    Bindings (while the focus is inside the log): ``/`` and ``ctrl+f`` search, ``n`` and
    ``N`` the next and previous match, ``end`` follow the tail again. In the search bar,
    ``enter``/``down`` go to the next (newer) match, ``up`` the previous one, ``escape``
    closes the bar. Screens add the same actions to their own bindings through
    :meth:`open_search`, :meth:`next_match`, :meth:`previous_match` and :meth:`scroll_to_end`.

    Args:
        max_lines: Most lines kept on screen (older ones are dropped; the journal keeps all).
        flush_hz: Flushes per second.
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("slash", "search", "Search"),
        Binding("ctrl+f", "search", "Search", show=False),
        Binding("n", "next_match", "Next match", show=False),
        Binding("N", "previous_match", "Previous match", show=False),
        Binding("end", "follow", "Follow", show=False),
        Binding("escape", "close_search", "Close search", show=False),
        # Reached from the search bar (the focused Log scrolls with its own up/down).
        Binding("down", "next_match", "Next match", show=False),
        Binding("up", "previous_match", "Previous match", show=False),
    ]

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
    CommandLog > .command-log--search {
        dock: top;
        height: 1;
        display: none;
        background: $panel;
    }
    CommandLog > .command-log--search.-open {
        display: block;
    }
    CommandLog > .command-log--search > Input {
        width: 1fr;
        height: 1;
        border: none;
        padding: 0 1;
        background: $panel;
    }
    CommandLog > .command-log--search > .command-log--matches {
        width: auto;
        height: 1;
        padding: 0 1;
        color: $text-muted;
    }
    CommandLog > .command-log--search > .command-log--matches.-none {
        color: $error;
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
        self._received_at_flush = 0
        self._unseen = 0
        #: Lines ever written to the inner Log; minus its line count, the lines it dropped.
        self._written = 0
        self._term = ""
        self._matches: list[int] = []  # absolute line numbers (see _written), ascending
        self._current: int | None = None  # absolute line number of the current match
        self._search_open = False
        self._follow = True

    def compose(self) -> ComposeResult:
        yield SearchableLog(max_lines=self.max_lines, id="command-log--lines")
        with Horizontal(classes="command-log--search"):
            yield Input(placeholder="Search the output (⏎/↓ next · ↑ previous · esc close)", id="command-log--term")
            yield Static("", classes="command-log--matches")
        yield Static("", classes="command-log--badge")

    def on_mount(self) -> None:
        self.set_interval(1.0 / self.flush_hz, self.flush, name="command-log-flush")
        self.watch(self.log_widget, "scroll_y", self._scrolled, init=False)

    @property
    def log_widget(self) -> SearchableLog:
        """The inner ``Log``."""
        return self.query_one("#command-log--lines", SearchableLog)

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

    def extend(self, lines: list[str]) -> None:
        """Queue many formatted lines at once (only the newest ``max_lines`` are kept)."""
        self._pending.extend(lines)
        self._received += len(lines)

    @property
    def following(self) -> bool:
        """Whether the view follows the tail.

        Kept as state, not read from the scroll position: the pane changes height while
        a deploy runs (a table above it grows), which moves "the end" away from a view
        that was following. Scrolling up pauses it; reaching the end resumes it.
        """
        return self._follow

    def _scrolled(self, old: float, new: float) -> None:
        """The log scrolled (the operator, a search jump, or a layout change)."""
        log = self.log_widget
        if log.is_vertical_scroll_end:
            if not self._follow or self._unseen:
                self._follow = True
                self._unseen = 0
                self._update_badge()
        elif new < old:
            self._follow = False

    def flush(self) -> None:
        """Write every pending line in one ``write_lines`` call and update the badge.

        While the operator is scrolled up, the lines in view stay in view even when the
        pane is full and its oldest lines are dropped.
        """
        log = self.log_widget
        received_at_flush, self._received_at_flush = self._received_at_flush, self._received
        if self._pending:
            # Split here (Log would) so one queued line is one counted line; Log drops
            # empty lines, so a blank output line is kept as a space.
            lines = _one_line_each(list(self._pending))
            self._pending.clear()
            before = len(log.lines)
            scroll_y = log.scroll_offset.y
            follow = self._follow
            log.write_lines(lines, scroll_end=False)
            self._written += len(lines)
            dropped = before + len(lines) - len(log.lines)
            if follow:
                log.scroll_end(animate=False, immediate=True, x_axis=False)
            else:
                # Every line that arrived below the view, including any dropped unshown.
                self._unseen += max(len(lines), self._received - received_at_flush)
                if dropped:
                    log.scroll_to(y=max(0, scroll_y - dropped), animate=False, immediate=True)
            if self._term:
                self._match_new(len(lines))
        elif self._follow and not log.is_vertical_scroll_end:
            # The pane changed height (a table above it grew): stay on the tail.
            log.scroll_end(animate=False, immediate=True, x_axis=False)
        self._update_badge()

    def clear(self) -> None:
        """Drop everything shown and pending."""
        self._pending.clear()
        self._received = 0
        self._received_at_flush = 0
        self._unseen = 0
        self._written = 0
        self._matches.clear()
        self._current = None
        self.log_widget.clear()
        self._show_search()
        self._update_badge()

    # -- search ------------------------------------------------------------------------

    @property
    def search_term(self) -> str:
        """The term being searched for (empty: no search)."""
        return self._term

    @property
    def search_open(self) -> bool:
        """Whether the search bar is shown."""
        return self._search_open

    @property
    def match_count(self) -> int:
        """Lines in the pane that match the search term."""
        self._drop_gone_matches()
        return len(self._matches)

    @property
    def match_position(self) -> int | None:
        """1-based position of the current match among the matches, or ``None``."""
        self._drop_gone_matches()
        if self._current is None:
            return None
        i = bisect.bisect_left(self._matches, self._current)
        return i + 1 if i < len(self._matches) and self._matches[i] == self._current else None

    @property
    def current_match_line(self) -> str | None:
        """The text of the current match's line, or ``None``."""
        local = self._local(self._current)
        return None if local is None else self.log_widget.lines[local]

    @property
    def search_status(self) -> str:
        """What the search bar says: ``match 2 of 5``, ``5 matches`` or ``no match``."""
        if not self._term:
            return ""
        count = self.match_count
        if not count:
            return "no match"
        position = self.match_position
        if position is None:
            return f"{count} match" + ("" if count == 1 else "es")
        return f"match {position} of {count}"

    def open_search(self) -> None:
        """Show the search bar and focus it (the last term is kept, selected)."""
        self._search_open = True
        self._show_search()
        term_input = self.query_one("#command-log--term", Input)
        term_input.focus()
        term_input.select_all()

    def close_search(self) -> None:
        """Hide the search bar and its highlights; the view stays where it is."""
        self._search_open = False
        self._show_search()
        self.log_widget.focus()

    def search(self, term: str) -> None:
        """Search the pane for ``term`` and jump to the newest match at or above the view's
        bottom line (the latest error, when following the tail).

        Args:
            term: The text to find; case-insensitive unless it has a capital letter.
        """
        self._term = term
        self._current = None
        self._matches = []
        if term:
            hit = matcher(term)
            offset = self._written - len(self.log_widget.lines)
            self._matches = [offset + i for i, line in enumerate(self.log_widget.lines) if hit(line)]
            if self._matches:
                log = self.log_widget
                bottom = offset + int(log.scroll_offset.y) + max(log.scrollable_content_region.height, 1) - 1
                position = bisect.bisect_right(self._matches, bottom) - 1
                self._jump(self._matches[max(position, 0)])
                return
        self._show_search()

    def next_match(self) -> None:
        """Go to the next (newer) match, wrapping to the oldest."""
        self._step(+1)

    def previous_match(self) -> None:
        """Go to the previous (older) match, wrapping to the newest."""
        self._step(-1)

    def _step(self, direction: int) -> None:
        if not self._term:
            return
        if not self._search_open:
            self._search_open = True
        self._drop_gone_matches()
        if not self._matches:
            self._show_search()
            return
        if self._current is None:
            target = self._matches[-1] if direction < 0 else self._matches[0]
        elif direction > 0:
            i = bisect.bisect_right(self._matches, self._current)
            target = self._matches[i % len(self._matches)]
        else:
            i = bisect.bisect_left(self._matches, self._current) - 1
            target = self._matches[i]  # -1 wraps to the newest
        self._jump(target)

    def _jump(self, line: int) -> None:
        """Make absolute line ``line`` the current match and scroll it to the middle."""
        self._current = line
        local = self._local(line)
        if local is not None:
            log = self.log_widget
            height = max(log.scrollable_content_region.height, 1)
            log.scroll_to(y=max(0, local - height // 2), animate=False, immediate=True)
            # Reading a match: the tail stops following (End resumes), even on the last page.
            self._follow = False
        self._show_search()

    def _local(self, line: int | None) -> int | None:
        """Index in the Log's lines of absolute line ``line``, or ``None`` if dropped."""
        if line is None:
            return None
        local = line - (self._written - len(self.log_widget.lines))
        return local if 0 <= local < len(self.log_widget.lines) else None

    def _drop_gone_matches(self) -> None:
        first = self._written - len(self.log_widget.lines)
        if self._matches and self._matches[0] < first:
            del self._matches[: bisect.bisect_left(self._matches, first)]

    def _match_new(self, count: int) -> None:
        """Match the ``count`` lines just written (only while a term is set)."""
        lines = self.log_widget.lines
        hit = matcher(self._term)
        start = max(0, len(lines) - count)
        base = self._written - len(lines)
        self._matches.extend(base + i for i in range(start, len(lines)) if hit(lines[i]))
        self._drop_gone_matches()
        self._show_search()

    def _show_search(self) -> None:
        """Update the bar, the highlights and the match count."""
        bar = self.query_one(".command-log--search", Horizontal)
        bar.set_class(self._search_open, "-open")
        status = self.query_one(".command-log--matches", Static)
        text = self.search_status if self._search_open else ""
        status.update(text)
        status.set_class(text == "no match", "-none")
        term = self._term if self._search_open else ""
        self.log_widget.set_search(term, self._local(self._current))

    @on(Input.Changed, "#command-log--term")
    def _term_changed(self, event: Input.Changed) -> None:
        event.stop()
        self.search(event.value)

    @on(Input.Submitted, "#command-log--term")
    def _term_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.next_match()

    # -- actions -----------------------------------------------------------------------

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "close_search":
            return self._search_open
        if action in ("next_match", "previous_match"):
            return bool(self._term)
        return True

    def action_search(self) -> None:
        """Open the search bar."""
        self.open_search()

    def action_next_match(self) -> None:
        """Next match."""
        self.next_match()

    def action_previous_match(self) -> None:
        """Previous match."""
        self.previous_match()

    def action_close_search(self) -> None:
        """Close the search bar."""
        self.close_search()

    def action_follow(self) -> None:
        """Jump to the newest line and follow the tail again."""
        self.scroll_to_end()

    def scroll_to_end(self) -> None:
        """Jump to the newest line and resume following the tail."""
        self.log_widget.scroll_end(animate=False, immediate=True, x_axis=False)
        self._follow = True
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
