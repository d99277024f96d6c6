"""CheckTable: checks (checklist, smoke, verification, release steps) with live status."""

from __future__ import annotations

from typing import Self

from rich.cells import cell_len
from rich.text import Text
from textual.geometry import Spacing
from textual.widgets.data_table import RowDoesNotExist

from iact_tui.widgets.cell_cache import CellCachedTable

#: Status → icon. Statuses are the engine's check and step statuses.
STATUS_ICONS: dict[str, str] = {
    "pending": "·",
    "running": "◌",
    "passed": "✔",
    "ok": "✔",
    "warning": "!",
    "failed": "✘",
    "skipped": "–",
    "cancelled": "■",
    "interrupted": "■",
}

_STYLE = {
    "pending": "dim",
    "running": "bold cyan",
    "passed": "bold green",
    "ok": "bold green",
    "warning": "bold yellow",
    "failed": "bold red",
    "skipped": "yellow",
    "cancelled": "yellow",
    "interrupted": "bold red",
}


_DETAIL_STYLE = {"warning": "yellow", "failed": "red", "interrupted": "red"}

#: The label column's width, unless a longer label fits beside the details.
LABEL_WIDTH = 34
#: The least the detail column keeps when a long label widens the label column.
DETAIL_MIN_WIDTH = 20


def _cell(text: str, status: str) -> Text:
    return Text(text, style=_STYLE.get(status, ""), no_wrap=True, overflow="ellipsis")


class CheckTable(CellCachedTable):
    """A table of checks: icon, label, status and detail, updated by check id.

    Not focusable: it shows state; the operator acts with bindings and buttons.
    """

    can_focus = False

    DEFAULT_CSS = """
    CheckTable {
        height: auto;
        overflow-x: hidden;
        max-height: 14;
        border: round $panel-lighten-2;
        border-title-color: $text-muted;
        background: $surface;
    }
    """

    COLUMNS: tuple[tuple[str, str, int | None], ...] = (
        ("icon", " ", 1),
        ("label", "Check", LABEL_WIDTH),
        ("status", "Status", 11),  # "interrupted"
        ("detail", "Detail", None),
    )

    def __init__(
        self,
        *,
        title: str = "Checks",
        item_header: str = "Check",
        name: str | None = None,
        id: str | None = None,
        classes: str | None = None,
    ) -> None:
        super().__init__(name=name, id=id, classes=classes, show_cursor=False, zebra_stripes=False, cursor_type="none")
        self.border_title = title
        self.item_header = item_header
        self._statuses: dict[str, str] = {}
        #: The status whose first row :meth:`scroll_to_first` keeps in view on a resize.
        self._kept_in_view = ""
        #: Check id → the ``(label, status, detail)`` its row shows.
        self._shown: dict[str, tuple[str, str, str]] = {}

    def on_mount(self) -> None:
        for key, label, width in self.COLUMNS:
            self.add_column(self.item_header if key == "label" else label, key=key, width=width or 20)
        self._fit_detail()

    def on_resize(self) -> None:
        # A scroll asked for at another size (before the layout settled, on a loaded
        # machine) is done again at this one.
        if self._kept_in_view:
            self.call_after_refresh(self.scroll_to_first, self._kept_in_view)
        self._fit_detail()

    def _fit_detail(self) -> None:
        """Fit the label and detail columns to the width the fixed columns leave.

        The label column is :data:`LABEL_WIDTH` wide, or as wide as the longest label while
        the detail column keeps :data:`DETAIL_MIN_WIDTH` (``Stakeholders told of the
        maintenance window`` beside empty details was cut to ``…maintena…``): a label names
        the check, a detail's end can be read in the log. The detail column takes the rest.
        Repaints only when a width changes.
        """
        width = self.scrollable_content_region.width
        label = self.columns.get("label")  # type: ignore[call-overload]
        detail = self.columns.get("detail")  # type: ignore[call-overload]
        if width <= 0 or label is None or detail is None:
            return
        fixed = sum(w or 0 for key, _, w in self.COLUMNS if key not in ("label", "detail"))
        room = width - fixed - 2 * self.cell_padding * len(self.COLUMNS)  # label + detail
        longest_label = max((cell_len(text) for text, _, _ in self._shown.values()), default=0)
        label_width = max(LABEL_WIDTH, min(longest_label, room - DETAIL_MIN_WIDTH))
        detail_width = max(10, room - label_width)
        if (label.width, detail.width, label.auto_width, detail.auto_width) == (
            label_width,
            detail_width,
            False,
            False,
        ):
            return
        label.width, detail.width = label_width, detail_width
        label.auto_width = detail.auto_width = False
        self._require_update_dimensions = True
        self.refresh()

    def status_of(self, check_id: str) -> str | None:
        """The last status shown for ``check_id``, or ``None`` if it has no row."""
        return self._statuses.get(check_id)

    @property
    def statuses(self) -> dict[str, str]:
        """Check id → status, in row order."""
        return dict(self._statuses)

    def scroll_to_first(self, status: str) -> bool:
        """Scroll the rows (the header stays) so the first row with ``status`` is in view,
        when the table is too short to show every row.

        Args:
            status: A status as given to :meth:`update_check` (e.g. ``"failed"``).

        Returns:
            Whether a row has that status.
        """
        self._kept_in_view = status
        check_id = next((c for c, s in self._statuses.items() if s == status), None)
        if check_id is None:
            return False
        try:
            index = self.get_row_index(check_id)
        except RowDoesNotExist:
            return False
        header = self.header_height if self.show_header else 0
        self.scroll_to_region(
            self._get_row_region(index), spacing=Spacing(header, 0, 0, 0), animate=False, force=True, immediate=True
        )
        return True

    def clear(self, columns: bool = False) -> Self:
        """Remove every row (and, with ``columns``, the columns), forgetting their statuses.

        Args:
            columns: Remove the columns too.

        Returns:
            The table.
        """
        self._statuses.clear()
        self._shown.clear()
        return super().clear(columns)

    def update_check(self, check_id: str, label: str, status: str, detail: str = "") -> None:
        """Add the check's row, or update it in place.

        Args:
            check_id: Stable id (the row key).
            label: Operator-facing name.
            status: ``pending``/``running``/``passed``/``warning``/``failed``/``skipped``
                (or a step status: ``ok``/``cancelled``).
            detail: Evidence, the warning or the failure's reason; only the first line
                fits the row (yellow for a warning, red for a failure).
        """
        first_line = detail.strip().splitlines()[0] if detail.strip() else ""
        self._statuses[check_id] = status
        if self._shown.get(check_id) == (label, status, first_line):
            return  # any cell update re-renders every row of a DataTable (and this one's lines)
        self._shown[check_id] = (label, status, first_line)
        icon = STATUS_ICONS.get(status, "?")
        cells = {
            "icon": _cell(icon, status),
            "label": Text(label, no_wrap=True, overflow="ellipsis"),
            "status": _cell(status, status),
            "detail": Text(first_line, style=_DETAIL_STYLE.get(status, "dim"), no_wrap=True, overflow="ellipsis"),
        }
        try:
            self.get_row_index(check_id)
        except RowDoesNotExist:
            self.add_row(*(cells[key] for key, _, _ in self.COLUMNS), key=check_id)
        else:
            for key, value in cells.items():
                self.update_cell(check_id, key, value)
        self._fit_detail()  # a longer label may widen its column (repaints only then)
