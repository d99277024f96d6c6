"""Checklist and Changelog screens over a tiny real repository."""

from __future__ import annotations

from pathlib import Path

from textual.widgets import Button, Static, TextArea
from ui_helpers import git, settle, tick_all, walk_to_checklist

from iact_tui.app import IactApp
from iact_tui.screens import ChangelogScreen, ChecklistScreen, VersionScreen
from iact_tui.widgets import CheckTable, CommandLog, MarkdownPreview


async def test_checklist_runs_preflight_and_needs_every_tick(tiny_app: IactApp) -> None:
    async with tiny_app.run_test(size=(120, 40)) as pilot:
        await walk_to_checklist(tiny_app, pilot)
        screen = tiny_app.screen
        assert isinstance(screen, ChecklistScreen)
        assert screen.step_status == {"preflight": "ok"}
        table = screen.query_one("#auto-checks", CheckTable)
        assert table.status_of("clean-tree") == "passed"
        assert table.status_of("main-branch") == "passed"
        button = screen.query_one("#continue", Button)
        assert button.disabled
        await tick_all(tiny_app, pilot)
        assert tiny_app.release_run.state.ticks == {c for c, _ in tiny_app.release_run.manual_checks()}
        assert not button.disabled
        # Unticking one blocks again.
        first = tiny_app.release_run.manual_checks()[0][0]
        await pilot.click(f"#tick-{first}")
        await pilot.pause()
        assert button.disabled
        await pilot.click(f"#tick-{first}")
        await pilot.pause()
        await pilot.click("#continue")
        await settle(tiny_app, pilot)
        assert isinstance(tiny_app.screen, ChangelogScreen)


async def test_failed_check_shows_what_and_fix_and_r_reruns(tiny_app: IactApp, tiny_config_path: Path) -> None:
    tracked = tiny_config_path.parent / "app.py"
    clean = tracked.read_text(encoding="utf-8")
    tracked.write_text(clean + "# not committed\n", encoding="utf-8")
    async with tiny_app.run_test(size=(120, 40)) as pilot:
        await walk_to_checklist(tiny_app, pilot)
        screen = tiny_app.screen
        assert isinstance(screen, ChecklistScreen)
        assert screen.step_status["preflight"] == "failed"
        table = screen.query_one("#auto-checks", CheckTable)
        assert table.status_of("clean-tree") == "failed"
        status = str(screen.query_one("#step-status", Static).render())
        assert "✘" in status and "→" in status and "Traceback" not in status
        log = screen.query_one(CommandLog)
        log.flush()
        # The table cuts long details; the log carries the whole reason and what to do.
        assert any(
            "✘ Working tree is clean: uncommitted changes: app.py; commit or stash them" in line
            for line in log.log_widget.lines
        )
        assert screen.can_retry() and not screen.is_ready()
        await tick_all(tiny_app, pilot)  # ticks are kept across the retry
        tracked.write_text(clean, encoding="utf-8")
        await pilot.press("r")
        await settle(tiny_app, pilot)
        assert screen.step_status["preflight"] == "ok"
        assert table.status_of("clean-tree") == "passed"
        assert screen.is_ready()
        assert screen.query_one(CommandLog).received > 0


async def test_escape_from_checklist_goes_back_to_version(tiny_app: IactApp) -> None:
    async with tiny_app.run_test(size=(120, 40)) as pilot:
        await walk_to_checklist(tiny_app, pilot)
        await pilot.press("escape")
        await settle(tiny_app, pilot)
        assert isinstance(tiny_app.screen, VersionScreen)


async def test_changelog_draft_preview_and_edits_are_kept(tiny_app: IactApp) -> None:
    async with tiny_app.run_test(size=(120, 40)) as pilot:
        await walk_to_checklist(tiny_app, pilot)
        await tick_all(tiny_app, pilot)
        await pilot.click("#continue")
        await settle(tiny_app, pilot)
        screen = tiny_app.screen
        assert isinstance(screen, ChangelogScreen)
        area = screen.query_one("#changelog-editor", TextArea)
        assert "A release wizard in the terminal." in area.text
        assert "### Added" in area.text
        area.insert("- Hand-written entry\n", (0, 0))
        await screen.refresh_preview()
        await pilot.pause()
        preview = screen.query_one("#changelog-preview", MarkdownPreview)
        assert "Hand-written entry" in preview.source
        await pilot.press("f2")
        assert not screen.query_one("#preview-pane").display
        # Back and forth keeps the edit.
        await pilot.press("escape")
        await settle(tiny_app, pilot)
        assert isinstance(tiny_app.screen, ChecklistScreen)
        await pilot.click("#continue")
        await settle(tiny_app, pilot)
        again = tiny_app.screen
        assert isinstance(again, ChangelogScreen) and again is not screen
        editor = again.query_one("#changelog-editor", TextArea)
        assert "Hand-written entry" in editor.text
        # A level-2 heading would end the release's section in the file: refused, text kept.
        edited = editor.text
        editor.load_text(edited.replace("### Added", "## Added"))
        await pilot.press("ctrl+s")
        await settle(tiny_app, pilot)
        assert tiny_app.screen is again
        said = " ".join(str(n.message) for n in tiny_app._notifications)
        assert "'## Added' is a level-2 heading" in said and "### Added" in said
        assert "## Added" in editor.text
        editor.load_text(edited)
        await pilot.press("ctrl+s")
        await settle(tiny_app, pilot)
        assert "Hand-written entry" in (tiny_app.release_run.state.changelog_body or "")


def test_tiny_repo_is_clean(tiny_config_path: Path) -> None:
    assert git(tiny_config_path.parent, "status", "--porcelain") == ""
