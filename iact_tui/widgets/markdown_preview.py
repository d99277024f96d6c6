"""A read-only Markdown preview drawn by one widget (Rich's ``Markdown``), in the app's theme.

Textual's ``Markdown`` mounts a widget per block (a heading, a paragraph, a list item and
its bullet…): an announcement of about 40 lines became some 200 widgets, and mounting,
laying out and restyling them (a focus change restyles the whole subtree) held the UI's
event loop for 50-60 ms at a time. A preview needs none of that: this widget keeps the
text, parses it once per update and draws it as lines, with Textual's Markdown colours
(headings, bullets, inline code) taken from the app's theme.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.markdown import Markdown as RichMarkdown
from rich.theme import Theme
from textual.color import Color
from textual.widget import Widget

if TYPE_CHECKING:
    from rich.console import Console, ConsoleOptions, RenderResult


class _Themed:
    """A Rich renderable drawn with ``theme`` pushed on the console (Rich's Markdown takes
    its styles by name, ``markdown.h1``…, from the console's theme)."""

    def __init__(self, renderable: RichMarkdown, theme: Theme) -> None:
        self.renderable = renderable
        self.theme = theme

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        # Rendered to segments while the theme is pushed (nested renders, list items,
        # resolve their styles inside this block too), then handed out: a caller that stops
        # reading early (Textual crops to the widget's height) leaves no theme pushed.
        with console.use_theme(self.theme):
            segments = list(console.render(self.renderable, options))
        yield from segments


class MarkdownPreview(Widget):
    """Shows Markdown read-only, as one widget (see the module's docstring).

    Args:
        markdown: The Markdown shown first.
        name: The widget's name.
        id: The widget's id.
        classes: The widget's classes.
    """

    DEFAULT_CSS = """
    MarkdownPreview {
        height: auto;
        padding: 1 2 0 2;
        color: $foreground;
    }
    """

    def __init__(
        self, markdown: str = "", *, name: str | None = None, id: str | None = None, classes: str | None = None
    ) -> None:
        super().__init__(name=name, id=id, classes=classes)
        self._source = markdown
        self._parsed: RichMarkdown | None = None
        #: (theme name, background) → the Rich theme built for them.
        self._theme: tuple[tuple[str, str], Theme] | None = None

    @property
    def source(self) -> str:
        """The Markdown shown (as given to :meth:`update`)."""
        return self._source

    def update(self, markdown: str) -> None:
        """Show ``markdown`` instead (parsed once, on the next paint)."""
        if markdown == self._source and self._parsed is not None:
            return
        self._source = markdown
        self._parsed = None
        self.refresh(layout=True)

    def _rich_theme(self) -> Theme:
        """Rich's ``markdown.*`` styles in the app's theme, as Textual's ``Markdown`` draws
        them (heading colours and text styles, bullets in ``$text-primary``, inline code in
        ``$text-warning`` on ``$warning`` at 10% over this widget's background)."""
        background = self.background_colors[1]
        key = (self.app.theme, background.hex)
        if self._theme is not None and self._theme[0] == key:
            return self._theme[1]
        variables = self.app.theme_variables or self.app.get_css_variables()

        def colour(name: str, fallback: str, alpha: float = 1.0) -> str:
            try:
                parsed = Color.parse(variables.get(name, fallback))
            except Exception:  # a theme's own value Textual can parse only in CSS (e.g. "auto 60%")
                parsed = Color.parse(fallback)
            # Over this widget's background, as Textual composes a colour with alpha.
            return background.blend(parsed.with_alpha(1.0), alpha * parsed.a).hex6

        def heading(level: int) -> str:
            style = variables.get(f"markdown-h{level}-text-style", "bold")
            words = [word for word in style.split() if word != "none"]
            return " ".join([*words, colour(f"markdown-h{level}-color", variables.get("primary", "blue"))])

        code_background = colour("warning", "yellow", 0.10)
        styles = {f"markdown.h{level}": heading(level) for level in range(1, 7)}
        styles.update(
            {
                "markdown.h1.border": colour("primary", "blue"),
                "markdown.item.bullet": colour("text-primary", "blue"),
                "markdown.item.number": colour("text-primary", "blue"),
                "markdown.code": f"{colour('text-warning', 'yellow')} on {code_background}",
                "markdown.block_quote": colour("text-primary", "blue"),
                "markdown.link": f"underline {colour('text-primary', 'blue')}",
                "markdown.link_url": f"underline {colour('text-primary', 'blue')}",
                "markdown.hr": colour("secondary", "blue"),
                "markdown.table.border": colour("primary", "blue"),
                "markdown.table.header": "bold",
            }
        )
        theme = Theme(styles)
        self._theme = (key, theme)
        return theme

    def render(self) -> _Themed:
        if self._parsed is None:
            self._parsed = RichMarkdown(self._source, hyperlinks=True)
        return _Themed(self._parsed, self._rich_theme())
