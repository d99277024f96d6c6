"""TimingPanel: verification's timed requests as a live chart and their figures.

The chart is Textual's :class:`~textual.widgets.Sparkline`, fed one value per column
(see :func:`chart_columns`), so a row of ``×`` marks under it lines up exactly with
the columns of the requests that failed. The figures (p50, p95, the slowest as max, error rate)
are shown against the thresholds, each marked met (``✔``) or not (``✘``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from fractions import Fraction
from typing import Any

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.widgets import Sparkline, Static

#: Most columns one request gets when there are few (wider bars read no better).
MAX_COLUMNS_PER_SAMPLE = 4
#: Columns kept beside the chart for its scale (fastest/slowest).
SCALE_WIDTH = 16

FAILED_MARK = "×"


def chart_columns(samples: Sequence[float | None], width: int, expected: int = 0) -> tuple[list[float], list[bool]]:
    """One value per chart column, and whether a failed request falls in it.

    The scale is set by the number of requests expected in all, so the chart grows to the
    right as samples arrive instead of being redrawn at another scale each time.

    Args:
        samples: Milliseconds per request in request order; ``None`` for a failure.
        width: Columns available (at least 1).
        expected: Requests the run will make (``0``: as many as there are samples).

    Returns:
        ``(values, failed)``, equally long: a column holding only failures gets the
        fastest successful time (the lowest bar; the ``×`` below tells it apart), a
        column holding several requests shows its slowest success.
    """
    n = len(samples)
    if n == 0 or width < 1:
        return [], []
    ok = [s for s in samples if s is not None]
    floor = min(ok) if ok else 0.0
    total = max(expected, n)
    groups: list[Sequence[float | None]]
    if total <= width:
        per = max(1, min(width // total, MAX_COLUMNS_PER_SAMPLE))
        groups = [[s] for s in samples for _ in range(per)]
    else:
        step = Fraction(total, width)
        groups = []
        for column in range(width):
            start, end = int(step * column), int(step * (column + 1))
            if start >= n:
                break
            groups.append(samples[start:end])
    values: list[float] = []
    failed: list[bool] = []
    for group in groups:
        good = [s for s in group if s is not None]
        values.append(max(good) if good else floor)
        failed.append(len(good) < len(group))
    return values, failed


def _ms(value: object) -> str:
    return f"{value:.0f} ms" if isinstance(value, int | float) else "–"


def _judged(label: str, value: object, limit: object, *, percent: bool = False) -> Text:
    """``label value`` with ``≤ limit ✔`` or ``> limit ✘`` when a limit is known."""
    shown = f"{value:.0%}" if percent and isinstance(value, int | float) else _ms(value)
    text = Text.assemble((f"{label} ", "dim"), (shown, "bold"))
    if isinstance(limit, int | float) and isinstance(value, int | float):
        limit_text = f"{limit:.0%}" if percent else f"{limit:g} ms"
        if value <= limit:
            text.append(f" ≤ {limit_text} ✔", style="green")
        else:
            text.append(f" > {limit_text} ✘", style="bold red")
    return text


def _pack(parts: Sequence[Text], width: int, gap: int = 3) -> Text:
    """``parts`` on as few lines as fit ``width``, never one split over two lines."""
    out = Text()
    used = 0
    for part in parts:
        if used and width > 0 and used + gap + part.cell_len > width:
            out.append("\n")
            used = 0
        elif used:
            out.append(" " * gap)
            used += gap
        out.append_text(part)
        used += part.cell_len
    return out


class TimingPanel(Vertical):
    """The timed requests of a verification: a live sparkline and the judged figures.

    Call :meth:`expect` once with what the run will do, then :meth:`show` with each
    ``response-time`` check's data (``url``, ``requests``, ``errors``, ``error_rate``,
    ``p50_ms``, ``p95_ms``, ``max_ms``, ``samples_ms``; ``thresholds`` on the last one).

    Args:
        mask: Applied to every text shown (the app's masking of paths and secrets).
    """

    DEFAULT_CSS = """
    TimingPanel {
        height: auto;
        padding: 0 1;
        border: round $panel-lighten-2;
        border-title-color: $text-muted;
        border-subtitle-color: $text-muted;
        background: $surface;
    }
    TimingPanel.-failed {
        border: round $error;
    }
    TimingPanel > .timing-panel--chart {
        height: 2;
    }
    TimingPanel .timing-panel--chart > Sparkline {
        height: 2;
        width: 1;
        margin-right: 2;
    }
    TimingPanel .timing-panel--chart > Sparkline > .sparkline--min-color {
        color: $success;
    }
    TimingPanel .timing-panel--chart > Sparkline > .sparkline--max-color {
        color: $warning;
    }
    TimingPanel .timing-panel--scale {
        width: 1fr;
        height: 2;
        color: $text-muted;
    }
    TimingPanel > .timing-panel--failures {
        height: 1;
    }
    TimingPanel > .timing-panel--figures {
        height: auto;
    }
    """

    def __init__(
        self,
        *,
        mask: Callable[[str], str] | None = None,
        title: str = "Response time",
        name: str | None = None,
        id: str | None = None,
        classes: str | None = None,
    ) -> None:
        super().__init__(name=name, id=id, classes=classes)
        self.mask: Callable[[str], str] = mask or (lambda text: text)
        self.title = title
        self.border_title = title
        self.expected = 0
        self.thresholds: dict[str, Any] = {}
        self.data: dict[str, Any] = {}
        #: Why the requests could not be timed (``""``: they could).
        self.error = ""
        self.status = "pending"

    def compose(self) -> ComposeResult:
        with Horizontal(classes="timing-panel--chart"):
            yield Sparkline([], id="timing-panel--sparkline")
            yield Static("", classes="timing-panel--scale")
        yield Static("", classes="timing-panel--failures")
        yield Static("Waiting for the timed requests…", classes="timing-panel--figures")

    def on_mount(self) -> None:
        self._render_all()

    def on_resize(self) -> None:
        self._render_chart()
        self._render_figures()

    @property
    def sparkline(self) -> Sparkline:
        """The chart."""
        return self.query_one(Sparkline)

    @property
    def samples(self) -> list[float | None]:
        """The samples shown (milliseconds; ``None`` for a failed request)."""
        raw = self.data.get("samples_ms")
        return [s if isinstance(s, int | float) else None for s in raw] if isinstance(raw, list) else []

    def expect(self, requests: int, thresholds: Mapping[str, Any]) -> None:
        """What the run will do: how many requests, against which limits (from the config).

        Args:
            requests: Requests to be timed.
            thresholds: ``max_p95_ms``, ``max_error_rate``, ``max_response_ms`` (``None``: not judged).
        """
        self.expected = requests
        self.thresholds = dict(thresholds)
        self._render_all()

    def reset(self) -> None:
        """Forget the figures shown (a retry starts a new series)."""
        self.data = {}
        self.error = ""
        self.status = "pending"
        self._render_all()

    def show(self, data: Mapping[str, Any], status: str = "running") -> None:
        """Show one update of the timed requests.

        Args:
            data: The ``response-time`` check's data: the figures so far (an update
                without them keeps the ones shown), ``thresholds``, or ``error`` when the
                requests could not be timed.
            status: The check's status (``running`` while requests are made).
        """
        if isinstance(data.get("thresholds"), Mapping):
            self.thresholds = dict(data["thresholds"])
        error = data.get("error")
        self.error = str(error) if error else ""
        figures = {k: v for k, v in data.items() if k not in ("thresholds", "error")}
        if "samples_ms" in figures or "requests" in figures:
            self.data = figures
        self.status = status
        self._render_all()

    # -- rendering ---------------------------------------------------------------------

    def _render_all(self) -> None:
        if not self.is_mounted:
            return
        self._render_titles()
        self._render_chart()
        self._render_figures()

    def over_limits(self) -> list[str]:
        """The figures over their limits (``p95``, ``max``, ``errors``), in that order."""
        data, limits = self.data, self.thresholds
        over = []
        for name, key, limit_key in (
            ("p95", "p95_ms", "max_p95_ms"),
            ("max", "max_ms", "max_response_ms"),
            ("errors", "error_rate", "max_error_rate"),
        ):
            value, limit = data.get(key), limits.get(limit_key)
            if isinstance(value, int | float) and isinstance(limit, int | float) and value > limit:
                over.append(name)
        return over

    def _render_titles(self) -> None:
        url = self.data.get("url")
        self.border_title = self.mask(f"{self.title} · GET {url}") if url else self.title
        done = self.data.get("requests")
        count = done if isinstance(done, int) else len(self.samples)
        if self.status == "running":
            self.border_subtitle = f"{count} of {self.expected} requests…" if self.expected else f"{count} requests…"
        elif self.data:
            self.border_subtitle = f"{count} requests"
        else:
            self.border_subtitle = ""
        self.set_class(self.status == "failed" or bool(self.error) or bool(self.over_limits()), "-failed")

    def _render_chart(self) -> None:
        if not self.is_mounted:
            return
        samples = self.samples
        width = max(1, self.content_region.width - SCALE_WIDTH - 2)
        values, failed = chart_columns(samples, width, self.expected)
        ok = [s for s in samples if s is not None]
        spark = self.sparkline
        # Without one successful response there is nothing to chart: a row of the lowest
        # bars would read as fast responses (the × marks below say what happened).
        spark.display = bool(values) and bool(ok)
        spark.styles.width = max(1, len(values))
        spark.data = values
        scale = self.query_one(".timing-panel--scale", Static)
        if ok:
            scale.update(f"█ {max(ok):.0f} ms\n▁ {min(ok):.0f} ms")
        else:
            scale.update(Text("no successful response", style="bold red") if samples else "")
        marks = Text("".join(FAILED_MARK if f else " " for f in failed), style="bold red")
        errors = sum(1 for s in samples if s is None)
        if errors:
            marks.append(f"  {FAILED_MARK} {errors} failed request{'s' if errors != 1 else ''}", style="red")
        elif samples:
            marks = Text("no failed request", style="dim")
        self.query_one(".timing-panel--failures", Static).update(marks)

    def _render_figures(self) -> None:
        figures = self.query_one(".timing-panel--figures", Static)
        error = Text(f"✘ could not time the requests: {self.mask(self.error)}", style="bold red")
        if not self.data:
            figures.update(error if self.error else Text("Waiting for the timed requests…", style="dim"))
            return
        data, limits = self.data, self.thresholds
        requests = data.get("requests") if isinstance(data.get("requests"), int) else len(self.samples)
        errors = data.get("errors") if isinstance(data.get("errors"), int) else 0
        parts = [
            _judged("p50", data.get("p50_ms"), None),
            _judged("p95", data.get("p95_ms"), limits.get("max_p95_ms")),
            _judged("max", data.get("max_ms"), limits.get("max_response_ms")),
            _judged("errors", data.get("error_rate"), limits.get("max_error_rate"), percent=True).append(
                f" ({errors} of {requests})", style="dim"
            ),
        ]
        shown = _pack(parts, self.content_region.width)
        figures.update(Text.assemble(shown, "\n", error) if self.error else shown)
