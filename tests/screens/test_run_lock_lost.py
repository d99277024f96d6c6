"""A wizard whose run lock was taken from it (its file deleted by hand, or broken from
another host) says so on the step screen without offering a retry, and records no more
of the operator's input in its journal."""

from __future__ import annotations

from textual.widgets import Checkbox, Static
from ui_helpers import settle, walk_to_checklist

from iact_tui.app import IactApp
from iact_tui.engine.resume import read_records
from iact_tui.screens import ChecklistScreen


async def test_a_lost_run_lock_fails_the_step_without_a_retry_hint(tiny_app: IactApp) -> None:
    async with tiny_app.run_test(size=(120, 40)) as pilot:
        await walk_to_checklist(tiny_app, pilot)
        screen = tiny_app.screen
        assert isinstance(screen, ChecklistScreen)
        run = tiny_app.release_run
        assert run is not None and run.run_lock is not None
        run.run_lock.path.unlink()  # by hand, as a held lock's fix text offers

        await pilot.press("r")  # the checklist runs its checks again
        await settle(tiny_app, pilot)

        status = str(screen.query_one("#step-status", Static).render())
        assert "run lock" in status and "quit this iact-tui without going on" in status
        assert "retry" not in status
        assert "retry" not in str(screen.query_one("#actions-hint", Static).render())


async def test_a_tick_is_not_recorded_once_the_run_lock_is_lost(tiny_app: IactApp) -> None:
    async with tiny_app.run_test(size=(120, 40)) as pilot:
        await walk_to_checklist(tiny_app, pilot)
        screen = tiny_app.screen
        assert isinstance(screen, ChecklistScreen)
        run = tiny_app.release_run
        assert run.run_lock is not None
        check_id = run.manual_checks()[0][0]
        run.run_lock.path.unlink()

        await pilot.click(f"#tick-{check_id}")
        await pilot.pause()

        assert check_id not in run.state.ticks
        assert screen.query_one(f"#tick-{check_id}", Checkbox).value is False  # back as the run holds it
        [note] = [n for n in tiny_app._notifications if "run lock" in n.title]
        assert "quit this iact-tui without going on" in note.message
    kinds = [r["kind"] for r in read_records(run.journal_path)]
    assert "tick" not in kinds  # nothing journaled by a process without the lock
