"""The markup escape for engine and operator text: what Textual shows is the text itself."""

from __future__ import annotations

import pytest
from rich.text import Text
from textual.content import Content

from iact_tui.widgets.literal import escape

CASES = [
    "no commits and no [Unreleased] entries → add entries under [Unreleased]",
    "[red]not red[/red] [$warning]not a variable[/] [@click=app.quit]no action[/]",
    "[b]not bold [1.0] [/]",
    "C:\\path\\[x]",
    "a list [of] things",
    "plain",
]


@pytest.mark.parametrize("text", CASES)
def test_textual_markup_shows_the_text_without_styles(text: str) -> None:
    content = Content.from_markup(f"[b]✘ {escape(text)}[/b] after")
    assert content.plain == f"✘ {text} after"
    assert [(s.start, s.end, str(s.style)) for s in content.spans] == [(0, len(text) + 2, "b")]


@pytest.mark.parametrize("text", [c for c in CASES if "\\" not in c])
def test_rich_markup_shows_the_text(text: str) -> None:
    # Rich reads a backslash before an escaped bracket differently; the screens' markup is Textual's.
    assert Text.from_markup(escape(text)).plain == text


def test_a_trailing_backslash_does_not_escape_the_closing_tag() -> None:
    content = Content.from_markup(f"[b]{escape('ends with a backslash ' + chr(92))}[/b]")
    assert content.plain.rstrip("\u200b") == "ends with a backslash \\"
