"""The checklist as a fresh operator meets it: the engine's text shown literally (square
brackets included), every automatic check in view at 120x40 (the failed one scrolled into
view when the terminal is too short), and the arrow keys moving between the tick items."""

from __future__ import annotations

from pathlib import Path

from textual.widgets import Static
from ui_helpers import build_tiny_repo, git, settle, walk_to_checklist

from iact_tui.app import IactApp, make_app
from iact_tui.config import load_config
from iact_tui.screens import ChecklistScreen
from iact_tui.widgets import CheckTable, TickBox


def _released_app(tmp_path: Path) -> IactApp:
    """The tiny repository just after a release: HEAD tagged, nothing under [Unreleased]."""
    config = build_tiny_repo(tmp_path / "tiny")
    repo = config.parent
    text = (repo / "CHANGELOG.md").read_text(encoding="utf-8")
    (repo / "CHANGELOG.md").write_text(text.replace("### Added\n- A release wizard in the terminal.\n\n", "", 1))
    git(repo, "commit", "-q", "-am", "chore: release v0.2.0")
    git(repo, "tag", "v0.2.0")
    git(repo, "push", "-q", "origin", "main", "--tags")
    return make_app(load_config(config), state_dir=tmp_path / "state", snapshot_mode=True)


def _screen_text(app: IactApp) -> str:
    """What the terminal shows, line by line (the screenshot's text)."""
    import re
    from html import unescape

    svg = app.export_screenshot()
    return unescape(re.sub(r"<[^>]+>", "", svg)).replace("\xa0", " ")


async def test_the_failure_shows_square_brackets_literally(tmp_path: Path) -> None:
    app = _released_app(tmp_path)
    async with app.run_test(size=(120, 40)) as pilot:
        await walk_to_checklist(app, pilot)
        screen = app.screen
        assert isinstance(screen, ChecklistScreen)
        status = str(screen.query_one("#step-status", Static).render())
        assert "no [Unreleased] entries" in status, status
        assert "add entries under [Unreleased]; then run the checklist again" in status, status


async def test_every_check_is_in_view_at_120x40(tmp_path: Path) -> None:
    app = _released_app(tmp_path)
    async with app.run_test(size=(120, 40)) as pilot:
        await walk_to_checklist(app, pilot)
        table = app.screen.query_one("#auto-checks", CheckTable)
        assert table.statuses["changelog"] == "failed"
        assert table.max_scroll_y == 0, (table.row_count, table.size)
        shown = _screen_text(app)
        for _, label in app.release_run.automatic_checks():
            assert label in shown, label


async def test_a_short_terminal_scrolls_the_failed_check_into_view(tmp_path: Path) -> None:
    app = _released_app(tmp_path)
    async with app.run_test(size=(120, 24)) as pilot:
        await walk_to_checklist(app, pilot)
        table = app.screen.query_one("#auto-checks", CheckTable)
        assert table.max_scroll_y > 0, table.size  # too short for every row
        assert "✘ Changelog has content" in _screen_text(app)


async def test_arrow_keys_move_between_the_tick_items(tiny_app: IactApp) -> None:
    app = tiny_app
    async with app.run_test(size=(120, 40)) as pilot:
        await walk_to_checklist(app, pilot)
        screen = app.screen
        assert isinstance(screen, ChecklistScreen)
        ids = [f"tick-{check_id}" for check_id, _ in app.release_run.manual_checks()]
        assert len(ids) >= 3
        screen.query_one(f"#{ids[0]}", TickBox).focus()
        await pilot.press("space", "down", "space")
        await pilot.pause()
        assert app.focused is not None and app.focused.id == ids[1]
        assert {c for c in app.release_run.state.ticks} == {ids[0][5:], ids[1][5:]}
        await pilot.press("up")
        assert app.focused.id == ids[0]
        await pilot.press("up")  # the first item: stays there
        assert app.focused.id == ids[0]
        await pilot.press(*["down"] * (len(ids) + 2))  # the last item: stays there
        assert app.focused.id == ids[-1]
        await pilot.press("space")
        await settle(app, pilot)
        assert set(app.release_run.state.ticks) == {i[5:] for i in ids}
