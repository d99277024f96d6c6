"""Quitting an idle wizard: at once before the release changed anything and after it
finished; in between, a dialog first says what is done and what is not (Stay by default)."""

from __future__ import annotations

from textual.widgets import Button, Static
from ui_helpers import settle

from iact_tui.app import IactApp
from iact_tui.widgets import QuitModal

RELEASE = ("branch", "bump", "changelog", "commit", "push", "merge", "tag")


def released_to_production(app: IactApp) -> None:
    """The run as it stands after the production deploy: verify and announce not done."""
    run = app.release_run
    run.state.version = "1.5.3"
    for sid in ("preflight", *RELEASE, "deploy-staging", "smoke-staging", "prep-production", "deploy-production"):
        run.records[sid].status = "ok"


async def test_q_before_the_release_started_quits_at_once(tiny_app: IactApp) -> None:
    async with tiny_app.run_test(size=(120, 40)) as pilot:
        await settle(tiny_app, pilot)
        await pilot.press("q")
        await pilot.pause()
    assert not tiny_app.is_running


async def test_q_after_the_production_deploy_asks_saying_what_is_done_and_not(tiny_app: IactApp) -> None:
    async with tiny_app.run_test(size=(120, 40)) as pilot:
        await settle(tiny_app, pilot)
        released_to_production(tiny_app)
        await pilot.press("q")
        await pilot.pause()
        modal = tiny_app.screen
        assert isinstance(modal, QuitModal)
        text = str(modal.query_one("#quit-text", Static).render())
        assert "v1.5.3 is tagged and deployed to staging and production" in text
        assert "not done: Verify production, Announcement" in text
        assert modal.focused is modal.query_one("#quit-stay", Button)  # Stay is the default
        await pilot.press("q")  # a second q does not stack another dialog
        await pilot.pause()
        assert len([s for s in tiny_app.screen_stack if isinstance(s, QuitModal)]) == 1
        await pilot.press("enter")  # Stay
        await pilot.pause()
        assert tiny_app.is_running and not isinstance(tiny_app.screen, QuitModal)
        await pilot.press("ctrl+q")
        await pilot.pause()
        assert isinstance(tiny_app.screen, QuitModal)
        await pilot.click("#quit-leave")
        await pilot.pause()
    assert not tiny_app.is_running
    journal = tiny_app.release_run.journal_path.read_text().splitlines()
    assert '"kind": "run_finished"' in journal[-1]


async def test_a_failed_step_is_named_among_what_is_not_done(tiny_app: IactApp) -> None:
    async with tiny_app.run_test(size=(120, 40)) as pilot:
        await settle(tiny_app, pilot)
        run = tiny_app.release_run
        run.state.version = "1.5.3"
        for sid in ("preflight", "branch", "bump"):
            run.records[sid].status = "ok"
        run.records["changelog"].status = "failed"
        await pilot.press("q")
        await pilot.pause()
        modal = tiny_app.screen
        assert isinstance(modal, QuitModal)
        text = str(modal.query_one("#quit-text", Static).render())
        assert "release branch" in text and "not tagged" in text
        assert (
            "not done: Write CHANGELOG (failed), Commit release, Push release branch, Merge into main, Tag release"
            in text
        )
        await pilot.press("y")
        await pilot.pause()
    assert not tiny_app.is_running


async def test_q_after_the_announcement_quits_at_once(tiny_app: IactApp) -> None:
    async with tiny_app.run_test(size=(120, 40)) as pilot:
        await settle(tiny_app, pilot)
        released_to_production(tiny_app)
        for sid in ("verify", "announce"):
            tiny_app.release_run.records[sid].status = "ok"
        await pilot.press("q")
        await pilot.pause()
    assert not tiny_app.is_running
