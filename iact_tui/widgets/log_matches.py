"""LogMatchesPanel: the log lines that matched after a deploy, grouped by host, with file:line."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from rich.text import Text
from textual.widgets import Static

#: Matching lines shown per host (the output pane has every line the scan kept).
SHOWN_PER_HOST = 8

_MARK = {"running": ("◌", "bold cyan"), "passed": ("✔", "bold green"), "failed": ("✘", "bold red")}


def _plural(count: int, word: str) -> str:
    return f"{count} {word}" + ("" if count == 1 else "s")


class LogMatchesPanel(Static):
    """Each host's log scan: how many lines matched against the limit, then the lines.

    Call :meth:`show_host` with each ``logs:<host>`` check's status and data
    (``total_matches``, ``max_matches``, ``matches`` of ``path``/``line``/``text``,
    ``files``; or ``error``). Hosts stay in the order they first reported.

    Args:
        mask: Applied to every text shown (the app's masking of paths and secrets).
    """

    DEFAULT_CSS = """
    LogMatchesPanel {
        height: auto;
        padding: 0 1;
        border: round $panel-lighten-2;
        border-title-color: $text-muted;
        background: $surface;
    }
    LogMatchesPanel.-failed {
        border: round $error;
    }
    """

    def __init__(
        self,
        *,
        mask: Callable[[str], str] | None = None,
        title: str = "Log lines since the deploy",
        name: str | None = None,
        id: str | None = None,
        classes: str | None = None,
    ) -> None:
        super().__init__("", name=name, id=id, classes=classes)
        self.mask: Callable[[str], str] = mask or (lambda text: text)
        self.border_title = title
        self.border_subtitle = "file:+N = Nth line since the deploy"
        #: Host → ``(status, data)``, in the order hosts first reported.
        self.hosts: dict[str, tuple[str, dict[str, Any]]] = {}

    def reset(self) -> None:
        """Forget every host (a retry scans again)."""
        self.hosts.clear()
        self._render_hosts()

    def show_host(self, host: str, status: str, data: Mapping[str, Any]) -> None:
        """Show one host's scan.

        Args:
            host: The host's name.
            status: The check's status (``running``, ``passed``, ``failed``...).
            data: The check's data (empty while running).
        """
        self.hosts[host] = (status, dict(data))
        self._render_hosts()

    def text(self) -> Text:
        """Everything the panel shows, one line per host and per matching line."""
        out = Text(no_wrap=True, overflow="ellipsis")
        for i, (host, (status, data)) in enumerate(self.hosts.items()):
            if i:
                out.append("\n")
            out.append_text(self._host_lines(host, status, data))
        if not self.hosts:
            out.append("Waiting for the log scan…", style="dim")
        return out

    def _host_lines(self, host: str, status: str, data: dict[str, Any]) -> Text:
        mark, style = _MARK.get(status, ("·", "dim"))
        text = Text.assemble((f"{mark} ", style), (self.mask(host), "bold"))
        error = data.get("error")
        if isinstance(error, str) and error:
            text.append(f" · could not scan: {self.mask(error)}", style="red")
            return text
        if status == "running" and not data:
            text.append(" · scanning…", style="dim")
            return text
        total = data.get("total_matches")
        limit = data.get("max_matches")
        files = [f for f in data.get("files", []) if isinstance(f, Mapping)]
        scanned = [f for f in files if f.get("status") == "scanned"]
        if isinstance(total, int):
            summary = f" · {_plural(total, 'matching line')}" if total else " · no matching line"
            if isinstance(limit, int):
                summary += f" (limit {limit})"
            if files:
                summary += f" in {_plural(len(scanned), 'file')} read"
            text.append(summary, style="red" if status == "failed" else "")
        ignored = data.get("ignored")
        if isinstance(ignored, int) and ignored:
            text.append(f" · {_plural(ignored, 'line')} from the maintenance window not counted", style="dim")
        for f in files:
            if f.get("status") in ("missing", "unreadable", "not-a-file"):
                text.append(f"\n    {f.get('status')}: {self.mask(str(f.get('path', '')))}", style="yellow")
        matches = [m for m in data.get("matches", []) if isinstance(m, Mapping)]
        for m in matches[:SHOWN_PER_HOST]:
            # Line numbers count from where the scan began (the deploy's mark): "+N".
            where = self.mask(f"{m.get('path', '?')}:+{m.get('line', '?')}")
            text.append(f"\n    {where}  ", style="cyan")
            text.append(self.mask(str(m.get("text", ""))))
        more = (total if isinstance(total, int) else len(matches)) - min(len(matches), SHOWN_PER_HOST)
        if more > 0:
            text.append(f"\n    … and {more} more", style="dim")
        return text

    def _render_hosts(self) -> None:
        self.update(self.text())
        self.set_class(any(status == "failed" for status, _ in self.hosts.values()), "-failed")
