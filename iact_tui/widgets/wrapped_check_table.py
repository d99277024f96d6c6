"""WrappedCheckTable: checks with live status whose details wrap instead of being cut.

:class:`~iact_tui.widgets.CheckTable` keeps one line per check, which cuts a detail to
a few words on a 100-column terminal. Here each row grows to show its whole detail (the
figures of a verification), and the columns are fitted to the width at every render; on a
narrow terminal each detail goes under its label.
"""

from __future__ import annotations

from collections.abc import Callable

from rich.console import Console, ConsoleOptions, RenderResult
from rich.segment import Segment
from rich.table import Table
from rich.text import Text
from textual.widget import Widget

from iact_tui.widgets.check_table import _STYLE, STATUS_ICONS

#: Widest the check's label column gets, and the least it keeps when space is short.
LABEL_MAX = 34
LABEL_MIN = 14
#: Narrower than this (cells inside the border), each detail goes under its label and the
#: status word is left out (the icon ✔ ✘ ◌ – · says it).
STATUS_COLUMN_MIN_WIDTH = 80


class _FittedTable:
    """A Rich renderable that builds its table for the width it is rendered at.

    Asking the widget for its width in ``render`` (``content_region``) made Textual lay
    out the whole screen from inside the layout that asked for the table's height (the
    compositor's map is dirty then): 20-60 ms per update on the verification screen.
    Rich passes the width in ``options.max_width`` (the content width).

    The table's segments are kept per width in ``drawn`` (the widget's, emptied when a
    row changes): Textual renders it once to measure its height and again to paint it,
    and each render of the Rich table cost 3-5 ms on the event loop.
    """

    def __init__(self, build: Callable[[int], Table], drawn: dict[int, list[Segment]]) -> None:
        self._build = build
        self._drawn = drawn

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        width = options.max_width
        segments = self._drawn.get(width)
        if segments is None:
            segments = list(console.render(self._build(width), options))
            self._drawn[width] = segments
        yield from segments


class WrappedCheckTable(Widget):
    """A table of checks: icon, label, status and the whole detail, updated by check id.

    Not focusable: it shows state. Same updating interface as ``CheckTable``.

    Args:
        title: The border title.
        item_header: The label column's header.
    """

    can_focus = False

    DEFAULT_CSS = """
    WrappedCheckTable {
        height: auto;
        padding: 0 1;
        border: round $panel-lighten-2;
        border-title-color: $text-muted;
        border-subtitle-color: $text-muted;
        background: $surface;
    }
    """

    def __init__(
        self,
        *,
        title: str = "Checks",
        item_header: str = "Check",
        name: str | None = None,
        id: str | None = None,
        classes: str | None = None,
    ) -> None:
        super().__init__(name=name, id=id, classes=classes)
        self.border_title = title
        self.item_header = item_header
        #: Check id → ``(label, status, detail)``, in row order.
        self._rows: dict[str, tuple[str, str, str]] = {}
        #: The table drawn at each width since the rows last changed (see ``_FittedTable``).
        self._drawn: dict[int, list[Segment]] = {}

    def status_of(self, check_id: str) -> str | None:
        """The last status shown for ``check_id``, or ``None`` if it has no row."""
        row = self._rows.get(check_id)
        return row[1] if row else None

    def detail_of(self, check_id: str) -> str | None:
        """The detail shown for ``check_id``, or ``None`` if it has no row."""
        row = self._rows.get(check_id)
        return row[2] if row else None

    @property
    def statuses(self) -> dict[str, str]:
        """Check id → status, in row order."""
        return {check_id: status for check_id, (_, status, _) in self._rows.items()}

    def clear(self) -> None:
        """Remove every row."""
        self._rows.clear()
        self._changed()

    def update_check(self, check_id: str, label: str, status: str, detail: str = "") -> None:
        """Add the check's row, or update it in place.

        Args:
            check_id: Stable id (the row's key).
            label: Operator-facing name.
            status: ``pending``/``running``/``passed``/``failed``/``skipped``.
            detail: Evidence or the failure's reason, shown whole (wrapped).
        """
        self._rows[check_id] = (label, status, detail.strip())
        self._changed()

    def _changed(self) -> None:
        failed = sum(1 for _, status, _ in self._rows.values() if status == "failed")
        passed = sum(1 for _, status, _ in self._rows.values() if status == "passed")
        self.border_subtitle = f"{passed} passed · {failed} failed" if failed else f"{passed} passed" if passed else ""
        self._drawn.clear()
        self.refresh(layout=True)

    def notify_style_update(self) -> None:
        super().notify_style_update()
        self._drawn.clear()

    def render(self) -> _FittedTable:
        return _FittedTable(self._table, self._drawn)

    def _table(self, width: int) -> Table:
        """The table for ``width`` cells (the content width)."""
        width = max(width, 20)
        if width < STATUS_COLUMN_MIN_WIDTH:
            return self._stacked()
        longest = max((len(label) for label, _, _ in self._rows.values()), default=len(self.item_header))
        label_width = max(min(longest + 1, LABEL_MAX, width * 2 // 5), LABEL_MIN)
        # A label wraps at its spaces; a word longer than the column (a URL) would be cut
        # mid-word ("…/api/auth/l" / "ogin as demo"): the column gets its longest word,
        # up to half the width.
        longest_word = max((len(word) for label, _, _ in self._rows.values() for word in label.split()), default=0)
        label_width = max(label_width, min(longest_word + 1, width // 2))
        table = Table(box=None, expand=True, padding=(0, 1), pad_edge=False, show_edge=False, header_style="bold")
        table.add_column(" ", width=1, no_wrap=True)
        table.add_column(self.item_header, width=label_width, overflow="fold")
        table.add_column("Status", width=7, no_wrap=True)
        table.add_column("Detail", ratio=1, overflow="fold")
        for label, status, detail in self._rows.values():
            style = _STYLE.get(status, "")
            table.add_row(
                Text(STATUS_ICONS.get(status, "?"), style=style),
                Text(label),
                Text(status, style=style),
                Text(detail, style="red" if status == "failed" else "dim"),
            )
        return table

    def _stacked(self) -> Table:
        """Narrow: each check's label on its line, its detail below it, both the full width
        (side by side, a URL in the label would be folded into pieces)."""
        table = Table(box=None, expand=True, padding=(0, 1), pad_edge=False, show_edge=False, show_header=False)
        table.add_column(" ", width=1, no_wrap=True)
        table.add_column(self.item_header, ratio=1, overflow="fold")
        for label, status, detail in self._rows.values():
            style = _STYLE.get(status, "")
            cell = Text(label)
            if detail:
                cell.append("\n")
                cell.append(detail, style="red" if status == "failed" else "dim")
            table.add_row(Text(STATUS_ICONS.get(status, "?"), style=style), cell)
        return table
