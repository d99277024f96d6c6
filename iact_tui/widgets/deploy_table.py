"""DeployTable: every command of a deploy recipe on every host, with live status and time.

Rows are the (host, command) pairs of a deploy, grouped per host (hosts in the order
they were first announced) and in recipe order within a host. The engine announces every
pair as ``pending`` first, then ``running`` and a final status for each
(:class:`~iact_tui.engine.events.CommandUpdate`). A running command's elapsed time ticks
live: a timer rewrites only the running rows' elapsed cell, and only when the shown text
changes (whole seconds), so an idle or finished table costs nothing.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from rich.text import Text
from textual.widgets.data_table import ColumnKey

from iact_tui.engine.events import CommandUpdate
from iact_tui.widgets.cell_cache import CellCachedTable
from iact_tui.widgets.check_table import STATUS_ICONS

#: Status → icon; a timed-out command is a failure that says why in its status column.
COMMAND_ICONS: dict[str, str] = {**STATUS_ICONS, "timed-out": "✘"}

#: Status → Rich style, the same colours as :class:`~iact_tui.widgets.CheckTable`.
COMMAND_STYLES: dict[str, str] = {
    "pending": "dim",
    "running": "bold cyan",
    "ok": "bold green",
    "failed": "bold red",
    "timed-out": "bold red",
    "skipped": "yellow",
    "cancelled": "yellow",
}

#: How often running rows' elapsed time is refreshed, in ticks per second.
TICK_HZ = 4.0

#: Statuses after which a command's time no longer changes.
FINAL = frozenset({"ok", "failed", "skipped", "cancelled", "timed-out"})


def format_elapsed(seconds: float, *, running: bool = False) -> str:
    """Elapsed time for the table: ``4s`` running, ``3.2s`` done, ``2m05s`` past a minute, ``1h02m`` past an hour.

    Args:
        seconds: Elapsed seconds.
        running: Whether the command still runs (whole seconds, so the cell changes at 1 Hz).
    """
    whole = int(seconds)
    if whole >= 3600:
        return f"{whole // 3600}h{whole % 3600 // 60:02d}m"
    if whole >= 60:
        return f"{whole // 60}m{whole % 60:02d}s"
    return f"{int(seconds)}s" if running else f"{seconds:.1f}s"


@dataclass
class _Command:
    """What the table knows about one (host, command) pair."""

    host: str
    index: int
    name: str
    phase: str
    status: str
    seconds: float
    detail: str
    #: When it started running (the event's Unix time), for the live elapsed time.
    started: float | None = None


def _key(host: str, index: int) -> str:
    return f"{host}\x1f{index}"


class DeployTable(CellCachedTable):
    """Per host, per command status of a deploy: mark, host, command, status, elapsed, detail.

    Hidden until the first command is announced. Not focusable: it shows state. The
    first running row (else the first failure) is scrolled into view when a
    command starts, so a long recipe on many hosts still shows what is happening now.

    Args:
        title: The border title.
        clock: Unix time in seconds, for the live elapsed time (injected by tests).
        tick_hz: How often running rows' elapsed time is refreshed, per second.
    """

    can_focus = False

    DEFAULT_CSS = """
    DeployTable {
        height: auto;
        max-height: 14;
        overflow-x: hidden;
        border: round $panel-lighten-2;
        border-title-color: $text-muted;
        border-subtitle-color: $text-muted;
        background: $surface;
    }
    DeployTable.-empty {
        display: none;
    }
    """

    #: Column key, header, fixed width (``None``: sized from the content or the space left).
    COLUMNS: tuple[tuple[str, str, int | None], ...] = (
        ("icon", " ", 1),
        ("host", "Host", None),
        ("command", "Command", None),
        ("status", "Status", 9),
        ("elapsed", "Elapsed", 7),
        ("detail", "Detail", None),
    )

    def __init__(
        self,
        *,
        title: str = "Commands",
        clock: Callable[[], float] = time.time,
        tick_hz: float = TICK_HZ,
        name: str | None = None,
        id: str | None = None,
        classes: str | None = None,
    ) -> None:
        super().__init__(name=name, id=id, classes=classes, show_cursor=False, zebra_stripes=False, cursor_type="none")
        self.add_class("-empty")  # hidden until the deploy announces its commands
        self.border_title = title
        self.clock = clock
        self.tick_hz = tick_hz
        self._rows: dict[str, _Command] = {}
        self._hosts: list[str] = []
        self._order: list[str] = []
        self._running_keys: set[str] = set()
        self._shown_elapsed: dict[str, str] = {}
        self._widths: tuple[int, int] = (0, 0)

    def on_mount(self) -> None:
        for key, label, width in self.COLUMNS:
            self.add_column(label, key=key, width=width or 10)
        self._fit_columns()
        self.set_interval(1.0 / self.tick_hz, self.tick, name="deploy-table-tick")

    def on_resize(self) -> None:
        self._fit_columns()
        # A scroll made at another size (before the layout settled, on a loaded machine)
        # is done again for this one, from the top: the row that matters (running, else
        # the first failure) in view with as little scrolling as possible.
        self.call_after_refresh(self._rescroll)

    def _rescroll(self) -> None:
        self.scroll_to(y=0, animate=False, immediate=True)
        self._show_current()

    # -- accessors ---------------------------------------------------------------------

    def status_of(self, host: str, index: int) -> str | None:
        """The status shown for ``host``'s command ``index``, or ``None`` if it has no row."""
        command = self._rows.get(_key(host, index))
        return command.status if command else None

    def elapsed_of(self, host: str, index: int) -> float | None:
        """Elapsed seconds of ``host``'s command ``index``: live while running, final after.

        Returns:
            ``None`` if there is no such row; ``0.0`` for a command that has not run.
        """
        command = self._rows.get(_key(host, index))
        if command is None:
            return None
        if command.status == "running" and command.started is not None:
            return max(0.0, self.clock() - command.started)
        return command.seconds

    def detail_of(self, host: str, index: int) -> str | None:
        """The failure detail of ``host``'s command ``index`` (empty if none), or ``None``."""
        command = self._rows.get(_key(host, index))
        return command.detail if command else None

    @property
    def hosts(self) -> tuple[str, ...]:
        """Hosts, in the order their rows are shown."""
        return tuple(self._hosts)

    def rows_in_order(self) -> list[tuple[str, int, str]]:
        """``(host, index, status)`` of every row, top to bottom."""
        return [(c.host, c.index, c.status) for c in (self._rows[k] for k in self._order)]

    def counts(self) -> dict[str, int]:
        """Number of rows per status."""
        counts: dict[str, int] = {}
        for command in self._rows.values():
            counts[command.status] = counts.get(command.status, 0) + 1
        return counts

    def summary(self) -> str:
        """One line for the border: ``5/18 done · 1 running · 1 failed · 3 skipped``."""
        counts = self.counts()
        total = len(self._rows)
        if not total:
            return ""
        done = counts.get("ok", 0)
        parts = [f"{done}/{total} done"]
        for status in ("running", "failed", "timed-out", "skipped", "cancelled"):
            if counts.get(status):
                parts.append(f"{counts[status]} {status}")
        return " · ".join(parts)

    # -- updates -----------------------------------------------------------------------

    def reset(self) -> None:
        """Forget every row (a retry announces its commands again)."""
        self._rows.clear()
        self._hosts.clear()
        self._order.clear()
        self._running_keys.clear()
        self._shown_elapsed.clear()
        self.clear()
        self.set_subtitle("")
        self.add_class("-empty")

    def update_command(self, event: CommandUpdate) -> None:
        """Add the pair's row, or update its status, elapsed time and detail in place.

        Args:
            event: The engine's update for one (host, command) pair.
        """
        key = _key(event.host, event.index)
        command = self._rows.get(key)
        if command is None:
            command = _Command(event.host, event.index, event.name, event.phase, "pending", 0.0, "")
            self._rows[key] = command
            self._insert(key, command)
            self.remove_class("-empty")
        command.name = event.name
        command.phase = event.phase
        command.status = event.status
        command.detail = event.detail
        if event.status == "running":
            command.started = event.ts
            command.seconds = 0.0
            self._running_keys.add(key)
        else:
            self._running_keys.discard(key)
            command.seconds = event.seconds
        self._update_row(key, command)
        self.set_subtitle(self.summary())
        if event.status != "pending":
            self._show_current()

    def tick(self) -> None:
        """Refresh the elapsed time of running rows (only the cells whose text changed)."""
        for key in self._running_keys:
            command = self._rows[key]
            text = self._elapsed_text(command)
            if self._shown_elapsed.get(key) != text:
                self._shown_elapsed[key] = text
                self.update_cell(key, "elapsed", self._elapsed_cell(text, command.status))

    # -- internals ---------------------------------------------------------------------

    def _insert(self, key: str, command: _Command) -> None:
        """Add a row where it belongs (host group, then recipe order)."""
        if command.host not in self._hosts:
            self._hosts.append(command.host)
        place = (self._hosts.index(command.host), command.index)
        last = self._order[-1] if self._order else None
        in_order = last is None or place > self._place(self._rows[last])
        self._order.append(key)
        if in_order:
            self.add_row(*self._cells(command).values(), key=key)
            self._fit_columns()
            return
        # Announced out of group order (e.g. one command on every host, then the next):
        # rebuild once; a recipe has tens of rows, so this stays cheap.
        self._order.sort(key=lambda k: self._place(self._rows[k]))
        self.clear()
        for k in self._order:
            self.add_row(*self._cells(self._rows[k]).values(), key=k)
        self._fit_columns()

    def _place(self, command: _Command) -> tuple[int, int]:
        return (self._hosts.index(command.host), command.index)

    def _first_of_host(self, command: _Command) -> bool:
        return command.index == min(c.index for c in self._rows.values() if c.host == command.host)

    def _elapsed_text(self, command: _Command) -> str:
        if command.status == "pending":
            return ""
        if command.status == "skipped":
            return "–"
        running = command.status == "running"
        seconds = self.elapsed_of(command.host, command.index) or 0.0
        return format_elapsed(seconds, running=running)

    @staticmethod
    def _elapsed_cell(text: str, status: str) -> Text:
        return Text(text, style="cyan" if status == "running" else "dim", justify="right", no_wrap=True)

    def _cells(self, command: _Command) -> dict[str, Text]:
        status = command.status
        style = COMMAND_STYLES.get(status, "")
        host = command.host if self._first_of_host(command) else ""
        name = Text(no_wrap=True, overflow="ellipsis")
        if command.phase and command.phase != "steps":
            name.append(f"{command.phase} · ", style="dim")
        name.append(command.name, style="bold" if status == "running" else "")
        first_line = command.detail.strip().splitlines()[0] if command.detail.strip() else ""
        elapsed = self._elapsed_text(command)
        return {
            "icon": Text(COMMAND_ICONS.get(status, "?"), style=style, no_wrap=True),
            "host": Text(host, style="bold", no_wrap=True, overflow="ellipsis"),
            "command": name,
            "status": Text(status, style=style, no_wrap=True),
            "elapsed": self._elapsed_cell(elapsed, status),
            "detail": Text(first_line, style="red", no_wrap=True, overflow="ellipsis"),
        }

    def _update_row(self, key: str, command: _Command) -> None:
        cells = self._cells(command)
        self._shown_elapsed[key] = self._elapsed_text(command)
        for column in ("icon", "command", "status", "elapsed", "detail"):
            self.update_cell(key, column, cells[column])

    def _show_current(self) -> None:
        """Scroll the row that matters into view: the first running, else the first failure."""
        keys = [k for k in self._order if k in self._running_keys]
        if not keys:
            keys = [k for k in self._order if self._rows[k].status in ("failed", "timed-out")]
        if keys:
            self.move_cursor(row=self._order.index(keys[0]), column=0, animate=False, scroll=True)

    def _fit_columns(self) -> None:
        """Size host and command to their content; the detail column takes what is left."""
        hosts = max((len(h) for h in self._hosts), default=4)
        names = max(
            (len(c.name) + (len(c.phase) + 3 if c.phase != "steps" else 0) for c in self._rows.values()), default=7
        )
        width = self.scrollable_content_region.width
        if width <= 0:
            return
        host_w = min(max(hosts, 4), 16)
        fixed = sum(w or 0 for _, _, w in self.COLUMNS) + host_w
        padding = 2 * self.cell_padding * len(self.COLUMNS)
        room = width - fixed - padding
        # The command name wins over the detail, but leaves the detail at least 12 columns.
        command_w = max(12, min(max(names, 7), room - 12))
        detail_w = max(0, room - command_w)
        if self._widths == (host_w, command_w) and self.columns[self._column("detail")].width == detail_w:
            return
        self._widths = (host_w, command_w)
        for key, value in (("host", host_w), ("command", command_w), ("detail", detail_w)):
            column = self.columns[self._column(key)]
            column.width = value
            column.auto_width = False
        self._require_update_dimensions = True
        self.refresh()

    @staticmethod
    def _column(key: str) -> ColumnKey:
        return ColumnKey(key)
