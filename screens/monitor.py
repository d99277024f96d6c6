"""The monitor: live logs of every host, health polling and host load, for one environment.

Shown by ``iact-tui monitor`` and offered after a deploy. Three workers consume a
:class:`~iact_tui.engine.monitor.MonitorSession`: the log lines in batches (written to the
:class:`~iact_tui.widgets.tail_log.TailLog` pane in one call per batch), one health
request every N seconds (status, a sparkline of response times, error count) and each
host's load and memory.

The pane is one merged view with the host as a column; ``h`` shows one host at a time.
The filter box takes text (case-insensitive unless it has a capital) or ``/regex/``; an
invalid regex is reported and the previous filter is kept. The filter (and ``e``, error
lines only) applies to the lines the monitor holds (the newest ``[monitor] max_lines``),
so changing it re-shows what matches, once typing rests for ``FILTER_DELAY`` (or on
enter). ``p`` pauses the pane: lines arriving meanwhile are
counted and kept (at most ``max_lines``, the rest counted as dropped) and shown on
resume. Scrolling up pauses following the tail (CommandLog's badge counts new lines).

``q`` or ``escape`` leaves: every worker is cancelled and awaited, so every remote
``tail``/``journalctl`` has been stopped and every connection closed before the screen
goes. ``s`` appends the summary to the journal.
"""

from __future__ import annotations

import contextlib
import gc
from collections import deque
from typing import ClassVar

from textual import on, work
from textual.actions import SkipAction
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.screen import Screen
from textual.timer import Timer
from textual.widgets import Footer, Header, Input, Label, Sparkline, Static
from textual.worker import Worker, WorkerCancelled, WorkerFailed, WorkerState

from iact_tui.engine.monitor import (
    NOTICE_SOURCE,
    HealthSample,
    LineFilter,
    MonitorSession,
    TailBatch,
    TailLine,
    format_duration,
)
from iact_tui.widgets.literal import escape as _escape
from iact_tui.widgets.tail_log import ERROR_MARK, NOTICE_MARK, TailLog, fit_column, format_tail_line

#: Seconds the filter box must rest before the pane is refilled with what matches.
FILTER_DELAY = 0.15
_MAX_HOST_WIDTH = 18
_MAX_SOURCE_WIDTH = 16
_GLOB_SOURCE_WIDTH = 12


class MonitorScreen(Screen[None]):
    """Monitors one environment (see the module docstring).

    Args:
        session: What to watch; the screen starts its feeds on mount and stops them
            when left.
        exit_on_leave: Leaving exits the app (``iact-tui monitor``) instead of going back.
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("q", "leave", "Leave"),
        Binding("escape", "leave", "Leave", show=False),
        # One key, two bindings: check_action shows the one that applies, so the footer
        # reads "Resume" while paused (refresh_bindings after each change).
        Binding("p", "pause", "Pause"),
        Binding("p", "resume", "Resume"),
        # A priority binding runs as the app takes the key, before it hands the next keys
        # to the focused widget: keys typed right after "/" reach the filter box.
        Binding("slash", "filter", "Filter", priority=True),
        # Likewise enter and esc in the filter box: the focus is back on the pane before
        # the app takes the keys typed behind them (``p`` right after enter pauses).
        Binding("enter", "filter_done", "Apply filter", show=False, priority=True),
        Binding("escape", "filter_done", "Apply filter", show=False, priority=True),
        Binding("e", "errors_only", "Errors only"),
        Binding("h", "next_host", "Host"),
        Binding("s", "save_summary", "Save summary"),
        Binding("end", "follow", "Follow", show=False),
    ]

    def __init__(self, session: MonitorSession, *, exit_on_leave: bool = False) -> None:
        super().__init__()
        self.session = session
        self.exit_on_leave = exit_on_leave
        self.paused = False
        self.errors_only = False
        #: The host shown alone, or ``None`` for every host.
        self.host_view: str | None = None
        self._host_field = ""  # the host view's name as its column shows it
        self.filter = LineFilter.parse("")
        self.filter_error = ""
        #: The filter box's text, applied when the debounce timer fires.
        self._filter_text = ""
        self._filter_timer: Timer | None = None
        self.stopped = False
        self._leaving = False
        names = session.host_names
        # A glob's files are only known on the host: room for a usual name ("gunicorn.log").
        labels = [s.label for s in session.sources if not _is_glob(s.target)] + [NOTICE_SOURCE]
        if any(_is_glob(s.target) for s in session.sources):
            labels.append("x" * _GLOB_SOURCE_WIDTH)
        self.host_width = min(max((len(n) for n in names), default=4), _MAX_HOST_WIDTH)
        self.source_width = min(max(len(label) for label in labels), _MAX_SOURCE_WIDTH)
        max_lines = session.max_lines
        #: The newest lines (shown or not), so a new filter re-shows what matches.
        self._store: deque[str] = deque(maxlen=max_lines)
        #: Lines that arrived while paused (the newest ``max_lines``).
        self._held: deque[str] = deque(maxlen=max_lines)
        #: Log lines that arrived during this pause, and those of them dropped from the hold.
        self._held_total = 0
        self._held_dropped = 0
        #: Log lines received (notices not counted).
        self.received_lines = 0
        #: Lines written to the pane as they arrived (or on resume).
        self.shown_lines = 0
        #: Lines received that the filter, the host view or errors-only hid.
        self.hidden_lines = 0
        #: Lines that arrived while paused and were dropped unseen (the hold is bounded).
        self.paused_dropped = 0
        #: Lines the service dropped before the screen took them (it fell behind).
        self.dropped_lines = 0

    # -- layout ----------------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        session = self.session
        yield Header(show_clock=False, icon="⎇")
        with Vertical(id="monitor-body"):
            with Horizontal(id="monitor-header"):
                yield Label(self._title_text(), id="monitor-title")
                yield Label(" LIVE ", id="monitor-state")
            with Horizontal(id="monitor-health") as health:
                health.border_title = f"Health · {session.health_url} · every {session.health_interval:g} s"
                yield Static("waiting for the first answer…", id="health-text")
                yield Sparkline([], id="health-spark")
            yield Static(self._hosts_text(), id="monitor-hosts")
            with Horizontal(id="monitor-filter"):
                yield Input(placeholder="Filter: text, or /regex/  (enter: back to the logs)", id="filter-input")
                yield Static("", id="filter-status")
            yield TailLog(max_lines=session.max_lines, title=self._log_title(), id="monitor-log")
        yield Footer()

    def on_mount(self) -> None:
        # The app's and this screen's long-lived objects leave the collector's generations
        # (as the deploy screen does): full collections over them paused the stream.
        gc.freeze()
        if not getattr(self.app, "blink", True):
            self.query_one("#filter-input", Input).cursor_blink = False
        log = self.tail_log
        log.set_style(host_width=self.host_width, term="")
        log.log_widget.focus()
        if self.session.has_logs:
            self.follow_logs()
        else:
            self._take(
                [TailLine(name, NOTICE_SOURCE, self.session.no_logs_text, notice=True) for name in self._names()]
            )
            log.flush()
        self.poll_health()
        self.read_hosts()
        self.set_interval(1.0, self._tick, name="monitor-tick")
        self._show_filter_status()

    @property
    def tail_log(self) -> TailLog:
        """The merged log pane."""
        return self.query_one("#monitor-log", TailLog)

    def _names(self) -> list[str]:
        return self.session.host_names

    def _title_text(self) -> str:
        count = len(self._names())
        hosts = f"{count} host" + ("" if count == 1 else "s")
        return f"Monitor · {self.session.env} · {hosts} · {format_duration(self.session.elapsed)}"

    def _log_title(self) -> str:
        parts = ["Logs"]
        if self.host_view is not None:
            parts.append(f"{self.host_view} only")
        if self.errors_only:
            parts.append("errors only")
        if self.filter.active:
            parts.append(f"filter {self.filter.text}")
        return " · ".join(parts)

    def _hosts_text(self) -> str:
        """One line per host: its log counts first (they matter most), then load and memory."""
        stats = self.session.tail_stats
        rows = []
        for name in self._names():
            tail = stats[name]
            reading = self.session.host_stats.get(name)
            figures = reading.text() if reading is not None else "reading load and memory…"
            if self.session.has_logs:
                errors = _count(tail.errors, "error")
                errors = f"[b red]{errors}[/]" if tail.errors else errors
                state = "" if tail.state in ("following", "starting") else f" · [yellow]{tail.state}[/]"
                logs = f"{_count(tail.lines, 'line')} · {errors}{state}"
            else:
                logs = "no logs configured"
            rows.append(f"[b]{_escape(name)}[/]  {logs} · {_escape(figures)}")
        return "\n".join(rows)

    def _tick(self) -> None:
        self.query_one("#monitor-title", Label).update(self._title_text())
        self.query_one("#monitor-hosts", Static).update(self._hosts_text())
        if self.filter.active or self.errors_only or self.host_view is not None:
            self._show_filter_status()

    # -- workers ---------------------------------------------------------------------------

    @work(exclusive=True, exit_on_error=False, group="monitor-logs")
    async def follow_logs(self) -> None:
        """Feed the pane with the hosts' log lines until the screen is left."""
        async for batch in self.session.log_batches():
            self.take_batch(batch)

    @work(exclusive=True, exit_on_error=False, group="monitor-health")
    async def poll_health(self) -> None:
        """Show a health request every ``health_interval_seconds``."""
        async for sample in self.session.health_samples():
            self._show_health(sample)

    @work(exclusive=True, exit_on_error=False, group="monitor-hosts")
    async def read_hosts(self) -> None:
        """Show each host's load and memory every ``host_interval_seconds``."""
        async for _ in self.session.host_readings():
            self.query_one("#monitor-hosts", Static).update(self._hosts_text())

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        """A feed that failed unexpectedly is reported; the others go on."""
        if event.state == WorkerState.ERROR and not self._leaving:
            error = event.worker.error
            self.notify(f"{type(error).__name__}: {error}", title=f"{event.worker.name} stopped", severity="error")

    async def stop_monitoring(self) -> None:
        """Cancel every feed and wait until each has ended: every remote command stopped,
        every connection closed. Safe to call more than once."""
        if self.stopped:
            return
        self._leaving = True
        workers = [w for w in self.workers if w.node is self]
        for worker in workers:
            worker.cancel()
        for worker in workers:
            if worker.state is WorkerState.PENDING:
                continue
            with contextlib.suppress(WorkerCancelled, WorkerFailed):
                await worker.wait()
        await self.session.stop()
        self.stopped = True

    # -- lines -----------------------------------------------------------------------------

    def _format(self, line: TailLine) -> str:
        return format_tail_line(
            line.host,
            line.source,
            line.text,
            error=line.error,
            notice=line.notice,
            host_width=self.host_width,
            source_width=self.source_width,
        )

    def _visible(self, text: str) -> bool:
        """Whether a formatted line passes the host view, errors-only and the filter.

        Lines are kept as the strings shown (strings are not tracked by the garbage
        collector, so the held lines never slow its passes); the mark and the host
        column are read back from their fixed places.
        """
        width = self.host_width
        if self.host_view is not None and text[2 : 2 + width] != self._host_field:
            return False
        mark = text[0]
        if mark == NOTICE_MARK:
            return True
        if self.errors_only and mark != ERROR_MARK:
            return False
        return self.filter(text[4 + width :])

    def take_batch(self, batch: TailBatch) -> None:
        """Show (or hold, while paused) a batch of lines; one write to the pane."""
        self.dropped_lines += batch.dropped
        self._take(batch.lines)

    def _take(self, lines: tuple[TailLine, ...] | list[TailLine]) -> None:
        texts = [self._format(line) for line in lines]
        arrived = sum(1 for line in lines if not line.notice)
        self.received_lines += arrived
        if not self.paused:
            self._show(texts)
            return
        held = self._held
        for text in texts:
            if len(held) == held.maxlen and held.popleft()[0] != NOTICE_MARK:
                self._held_dropped += 1
            held.append(text)
        self._held_total += arrived
        self._show_state()

    def _show(self, texts: list[str]) -> None:
        self._store.extend(texts)
        out = []
        for text in texts:
            if self._visible(text):
                out.append(text)
                if text[0] != NOTICE_MARK:
                    self.shown_lines += 1
            elif text[0] != NOTICE_MARK:
                self.hidden_lines += 1
        if out:
            self.tail_log.extend(out)

    def _refill(self) -> None:
        """Show again what the filter, the host view and errors-only let through."""
        log = self.tail_log
        log.clear()
        log.extend([text for text in self._store if self._visible(text)])
        log.flush()
        log.border_title = self._log_title()
        term = "" if self.filter.is_regex else self.filter.text
        log.set_style(host_width=self.host_width, term=term)

    # -- health ----------------------------------------------------------------------------

    def _show_health(self, sample: HealthSample) -> None:
        health = self.session.health
        worst = health.worst
        slowest = f"slowest {worst[0][0]:.0f} ms" if worst else "no 2xx answer yet"
        failed = f"{health.errors:,} of {health.requests:,} failed"
        failed = f"[b red]{failed}[/]" if health.errors else failed
        mark = "[green]●[/]" if sample.ok else "[b red]●[/]"
        self.query_one("#health-text", Static).update(f"{mark} {_escape(sample.text())} · {failed} · {slowest}")
        self.query_one("#health-spark", Sparkline).data = list(health.history)

    # -- actions ---------------------------------------------------------------------------

    async def action_leave(self) -> None:
        """Leave: stop every feed (awaited), then go back or exit."""
        if self.focused is self.query_one("#filter-input", Input):
            self.apply_filter()
            self.set_focus(self.tail_log.log_widget)
            return
        if self._leaving and not self.stopped:
            return
        self.notify("Stopping the tails…", title="Monitor", timeout=3)
        await self.stop_monitoring()
        if self.exit_on_leave:
            self.app.exit()
        else:
            self.app.pop_screen()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """``pause`` while live, ``resume`` while paused (the footer shows the one that applies)."""
        if action == "pause":
            return not self.paused
        if action == "resume":
            return self.paused
        return super().check_action(action, parameters)

    def action_pause(self) -> None:
        """Pause the pane: lines arriving meanwhile are held (see the module docstring)."""
        if self.paused:
            return
        self.paused = True
        self._held_total = self._held_dropped = 0
        self._show_state()
        self.refresh_bindings()

    def action_resume(self) -> None:
        """Resume the pane, showing what arrived while paused."""
        if not self.paused:
            return
        self.paused = False
        held = list(self._held)
        arrived, dropped = self._held_total, self._held_dropped
        self.paused_dropped += dropped
        self._held.clear()
        self._held_total = self._held_dropped = 0
        self._show(held)
        if arrived:
            text = f"{arrived:,} lines arrived while paused"
            if dropped:
                text += f"; the oldest {dropped:,} were not kept (counted only)"
            self.notify(text, title="Resumed")
        self._show_state()
        self.refresh_bindings()

    def action_filter(self) -> None:
        """Focus the filter box, at once (a ``/`` typed in it is text: the key goes on to it).

        Keys queued behind ``/`` used to be handed to the pane before the focus moved
        (``Widget.focus()`` defers the change, and a plain binding runs only once the
        pane has bubbled the key up): they were lost, or taken as the screen's keys
        ``p``, ``e``, ``h``, ``s``. Bound with priority and moved with
        ``Screen.set_focus``, the focus is in the box before the app takes the next key.

        Raises:
            SkipAction: The focus is in an input already (``/`` is typed there).
        """
        if isinstance(self.focused, Input):
            raise SkipAction()
        self.set_focus(self.query_one("#filter-input", Input))

    def action_filter_done(self) -> None:
        """Enter or esc in the filter box: apply it and give the keys back to the pane, at
        once (see :meth:`action_filter`).

        Raises:
            SkipAction: The filter box does not have the focus (the key goes on as usual).
        """
        if self.focused is not self.query_one("#filter-input", Input):
            raise SkipAction()
        self.apply_filter()
        self.set_focus(self.tail_log.log_widget)

    def action_errors_only(self) -> None:
        """Show only error lines (and the monitor's notices), or every line again."""
        self.errors_only = not self.errors_only
        self._refill()
        self._show_filter_status()

    def action_next_host(self) -> None:
        """Show one host alone, the next one, then every host again."""
        names = self._names()
        if len(names) < 2:
            self.notify("One host: the pane shows it already.", title="Hosts")
            return
        if self.host_view is None:
            self.host_view = names[0]
        else:
            i = names.index(self.host_view) + 1
            self.host_view = names[i] if i < len(names) else None
        self._host_field = fit_column(self.host_view or "", self.host_width)
        self._refill()
        self._show_filter_status()

    def action_follow(self) -> None:
        """Jump to the newest line and follow the tail again."""
        self.tail_log.scroll_to_end()

    def action_save_summary(self) -> None:
        """Append the summary to the journal and say where."""
        path = self.session.save_summary()
        display = getattr(self.app, "display_path", None)
        where = display(path) if callable(display) else str(path)
        lines = self.session.summary_lines()
        self.notify("\n".join([*lines, f"appended to {where}"]), title="Monitor summary saved", timeout=8)

    # -- filter ----------------------------------------------------------------------------

    @on(Input.Changed, "#filter-input")
    def _filter_changed(self, event: Input.Changed) -> None:
        """Note the text and (re)start the debounce: the pane is refilled once typing
        pauses for :data:`FILTER_DELAY`, not once per key (a refill of ``max_lines``
        lines per key, on a loaded machine, left keys waiting behind it)."""
        event.stop()
        self._filter_text = event.value
        if self._filter_timer is not None:
            self._filter_timer.stop()
        self._filter_timer = self.set_timer(FILTER_DELAY, self.apply_filter, name="monitor-filter")

    @property
    def filter_typed(self) -> str:
        """The filter box's text as the screen last heard it (applied or waiting)."""
        return self._filter_text

    @property
    def filter_pending(self) -> bool:
        """Whether text typed in the filter box waits to be applied (the debounce runs)."""
        return self._filter_timer is not None

    def apply_filter(self) -> None:
        """Apply what the filter box holds now (an invalid regex keeps the last filter)."""
        if self._filter_timer is not None:
            self._filter_timer.stop()
            self._filter_timer = None
        try:
            new = LineFilter.parse(self._filter_text)
        except ValueError as exc:
            self.filter_error = str(exc)
            self._show_filter_status()
            return
        self.filter_error = ""
        if new.text != self.filter.text:
            self.filter = new
            self._refill()
        self._show_filter_status()

    @on(Input.Submitted, "#filter-input")
    def _filter_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.apply_filter()
        self.set_focus(self.tail_log.log_widget)

    def _show_filter_status(self) -> None:
        status = self.query_one("#filter-status", Static)
        if self.filter_error:
            status.update(f"[b red]{_escape(self.filter_error)}[/] (keeping the last filter)")
            status.add_class("-error")
            return
        status.remove_class("-error")
        shown = sum(1 for text in self._store if text[0] != NOTICE_MARK and self._visible(text))
        total = sum(1 for text in self._store if text[0] != NOTICE_MARK)
        if self.filter.active or self.errors_only or self.host_view is not None:
            status.update(f"{shown:,} of the last {total:,} lines match")
        else:
            status.update("")

    def _show_state(self) -> None:
        state = self.query_one("#monitor-state", Label)
        if self.paused:
            state.update(f" PAUSED · {self._held_total:,} new ")
        else:
            state.update(" LIVE ")
        state.set_class(self.paused, "-paused")


def _is_glob(path: str) -> bool:
    return any(c in path for c in "*?[")


def _count(n: int, noun: str) -> str:
    """``1 line``, ``2,345 lines``."""
    return f"{n:,} {noun}" + ("" if n == 1 else "s")


__all__ = ["MonitorScreen"]
