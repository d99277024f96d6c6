"""MarkdownPreview: Markdown drawn by one widget, in the app's theme."""

from __future__ import annotations

from textual.app import App, ComposeResult
from textual.containers import VerticalScroll

from iact_tui.widgets import MarkdownPreview

TEXT = """\
# Release v1.4.0

**v1.4.0** was deployed.

## What's new

- `GET /api/projects` lists the projects.
- Projects can be archived.
"""


class PreviewApp(App[None]):
    def compose(self) -> ComposeResult:
        with VerticalScroll():
            yield MarkdownPreview(id="preview")


def _lines(app: PreviewApp) -> list[str]:
    preview = app.query_one("#preview", MarkdownPreview)
    return [strip.text for strip in preview.render_lines(preview.region.reset_offset)]


async def test_the_preview_is_one_widget_showing_the_markdown() -> None:
    app = PreviewApp()
    async with app.run_test(size=(80, 24)) as pilot:
        preview = app.query_one("#preview", MarkdownPreview)
        preview.update(TEXT)
        await pilot.pause()
        assert preview.source == TEXT
        assert not preview.children  # no widget per block
        lines = [line.strip() for line in _lines(app)]
        assert "Release v1.4.0" in lines
        assert "What's new" in lines
        assert any(line.startswith("•") and "GET /api/projects lists the projects." in line for line in lines)
        assert preview.outer_size.height == len(lines) >= 8  # as tall as its text: the scroll shows it all


async def test_headings_and_inline_code_take_the_themes_colours() -> None:
    app = PreviewApp()
    async with app.run_test(size=(80, 24)) as pilot:
        preview = app.query_one("#preview", MarkdownPreview)
        preview.update(TEXT)
        await pilot.pause()
        primary = app.theme_variables["markdown-h2-color"].lower()
        warning = app.theme_variables["text-warning"].lower()
        segments = [segment for strip in preview.render_lines(preview.region.reset_offset) for segment in strip]
        heading = next(s for s in segments if "What's new" in s.text)
        code = next(s for s in segments if "GET /api/projects" in s.text)
        assert heading.style is not None and heading.style.color is not None
        assert heading.style.color.triplet is not None and heading.style.color.triplet.hex == primary
        assert heading.style.underline
        assert code.style is not None and code.style.color is not None
        assert code.style.color.triplet is not None and code.style.color.triplet.hex == warning


async def test_an_update_replaces_the_text() -> None:
    app = PreviewApp()
    async with app.run_test(size=(80, 24)) as pilot:
        preview = app.query_one("#preview", MarkdownPreview)
        preview.update(TEXT)
        await pilot.pause()
        preview.update("# Edited\n\nOnly this.\n")
        await pilot.pause()
        text = "\n".join(_lines(app))
        assert "Edited" in text and "Only this." in text
        assert "What's new" not in text


class CroppedApp(App[None]):
    CSS = "#preview { height: 3; }"

    def compose(self) -> ComposeResult:
        yield MarkdownPreview(TEXT, id="preview")


async def test_a_cropped_preview_leaves_the_consoles_theme_as_it_was() -> None:
    # Textual stops reading a renderable's lines at the widget's height: the theme pushed
    # for the Markdown's styles must be popped all the same (else every later Rich render
    # of the app would take the preview's colours).
    app = CroppedApp()
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        preview = app.query_one("#preview", MarkdownPreview)
        assert preview.outer_size.height == 3
        assert len(preview.render_lines(preview.region.reset_offset)) == 3
        assert len(app.console._theme_stack._entries) == 1  # the console's own theme only
