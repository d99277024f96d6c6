"""A ``DataTable`` that draws again only the cells whose value changed.

Textual's ``DataTable`` keys every cache (cells, rows, lines) on one counter that each
``update_cell``, ``add_row`` and ``clear`` bumps: one changed cell drew every cell of the
table again through Rich (padding, styles, ``App.console_options``), 7-28 ms a frame for
the deploy table's 13 lines while a deploy ran, each a stall of the UI's event loop.
:class:`CellCachedTable` keeps each drawn cell with the value object it drew: a cell
whose value is still the same object (the tables put a new ``Text`` in a cell they
change) is taken from there. Everything else about the drawing (styles, widths, cursor
and hover, the row's place and height) is part of the key, and the cache is dropped
whenever Textual drops its own (a style, size or theme change).

``update_cell`` (without ``update_width``) also repaints only the cell's row, and
:meth:`CellCachedTable.set_subtitle` only the bottom border: Textual's repaint the whole
table, so every visible line was put together again on each change (2-10 ms a frame while
a deploy ran).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from rich.text import Text
from textual.geometry import Region
from textual.widgets import DataTable
from textual.widgets.data_table import CellDoesNotExist, ColumnKey, RowKey

if TYPE_CHECKING:
    from rich.segment import Segment
    from rich.style import Style

#: Cells kept at most (a recipe of tens of commands on a few hosts, six columns, a style or
#: two each); past that the cache starts afresh.
CACHED_CELLS = 4096


class CellCachedTable(DataTable[Text]):
    """A ``DataTable`` of ``Text`` cells that draws again only the cells whose value
    changed (see the module's docstring). Same interface as ``DataTable``."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        # Before DataTable.__init__, which clears the caches.
        #: Key of a drawn cell → (the value object it drew, its lines).
        self._drawn_cells: dict[tuple[object, ...], tuple[object, list[list[Segment]]]] = {}
        #: Cells drawn through Textual (a miss here), for the tests.
        self.cells_drawn = 0
        self._subtitle_text = ""
        super().__init__(*args, **kwargs)

    def update_cell(
        self, row_key: RowKey | str, column_key: ColumnKey | str, value: Text, *, update_width: bool = False
    ) -> None:
        """``DataTable.update_cell`` that repaints only the cell's row (a column's width
        does not change without ``update_width``, so no other line can).

        Raises:
            CellDoesNotExist: No such row or column.
        """
        if update_width:
            super().update_cell(row_key, column_key, value, update_width=True)
            return
        row = RowKey(row_key) if isinstance(row_key, str) else row_key
        column = ColumnKey(column_key) if isinstance(column_key, str) else column_key
        if row not in self._row_locations or column not in self._column_locations:
            raise CellDoesNotExist(f"No cell exists for row_key={row_key!r}, column_key={column_key!r}.")
        self._data[row][column] = value
        self._update_count += 1  # Textual's own line cache keys on it
        index = self._row_locations.get(row)
        if index is not None:
            self.refresh_row(index)

    def set_subtitle(self, text: str) -> None:
        """Show ``text`` (console markup) in the bottom border, repainting only that line.

        ``Widget.border_subtitle``'s setter repaints the whole widget, even for the same
        text; this stores the subtitle as that setter does, and only when it changed.
        """
        if text == self._subtitle_text:
            return
        self._subtitle_text = text
        if not text:
            self.border_subtitle = None
            return
        self._border_subtitle = self.render_str(text).expand_tabs(4).split()[0]  # as _BorderTitle.__set__
        width, height = self.outer_size
        if height:
            # refresh() takes content coordinates; the border line is below the content.
            self.refresh(Region(0, height - 1, width, 1).translate(-self.content_offset))

    def _clear_caches(self) -> None:
        super()._clear_caches()
        self._drawn_cells.clear()

    def _render_cell(
        self,
        row_index: int,
        column_index: int,
        base_style: Style,
        width: int,
        cursor: bool = False,
        hover: bool = False,
    ) -> list[list[Segment]]:
        column_key = self._column_locations.get_key(column_index)
        row_key = self._header_row_key if row_index < 0 else self._row_locations.get_key(row_index)
        if column_key is None or row_key is None:  # row labels (not used here): left to Textual
            return super()._render_cell(row_index, column_index, base_style, width, cursor, hover)
        if row_index < 0:
            value: object = self.columns[column_key].label
            height = self.header_height
        else:
            value = self._data[row_key][column_key]
            height = self.rows[row_key].height
        key = (
            row_key,
            column_key,
            row_index,  # the row's place is in the cell's mouse metadata
            column_index,
            height,
            width,
            base_style,
            cursor,
            hover,
            self._show_hover_cursor,
            self._pseudo_class_state,
        )
        drawn = self._drawn_cells.get(key)
        if drawn is not None and drawn[0] is value:
            return drawn[1]
        lines = super()._render_cell(row_index, column_index, base_style, width, cursor, hover)
        self.cells_drawn += 1
        if len(self._drawn_cells) >= CACHED_CELLS:
            self._drawn_cells.clear()  # rows come and go (a retry, a clear): start afresh
        self._drawn_cells[key] = (value, lines)
        return lines
