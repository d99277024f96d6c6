"""The hotfix screen over the demo sandbox (local transport): production runs v1.3.2.

The screen creates hotfix/v1.3.3, the test commits the fix in the clone as an operator
would in a terminal, the poll lists it, ``c`` tags it, ``a`` acknowledges the rollback
plan and runs the prep, ``d`` with the typed version deploys, verifies and backports.
"""

from __future__ import annotations

import json
import subprocess
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from textual.pilot import Pilot
from textual.widgets import Button, Input, Static, TextArea

from iact_tui import demo
from iact_tui.config import load_config
from iact_tui.hotfix_app import HotfixApp, make_hotfix_app
from iact_tui.screens.flow import FlowScreen
from iact_tui.screens.hotfix import DeleteBranchModal, HotfixScreen
from iact_tui.widgets import ConfirmModal, QuitModal

MIDDLEWARE = "core/middleware.py"
DOC = '"""Maintenance mode: answer every request 503 while the flag file exists."""'
SUBJECT = "fix(core): say how long clients should wait during maintenance"


@pytest.fixture
def box(tmp_path: Path) -> Iterator[demo.Sandbox]:
    sandbox = demo.build_sandbox(tmp_path / "sandbox", start_servers=False)
    try:
        yield sandbox
    finally:
        demo.stop_sandbox(sandbox.root)


def git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=repo, capture_output=True, text=True, check=True).stdout.strip()


def commit_fix(repo: Path) -> str:
    file = repo / MIDDLEWARE
    file.write_text(file.read_text().replace(DOC, DOC.replace("exists.", "exists (Retry-After: 30 s)."), 1))
    git(repo, "commit", "-q", "-m", SUBJECT, "--", MIDDLEWARE)
    return git(repo, "rev-parse", "HEAD")


#: A note typed by hand: its letters are keys of the hotfix and rollback screens.
NOTE = "checked login and checkout; dashboards quiet"


async def tick_by_hand(pilot: Pilot[None], screen: FlowScreen[Any], final_step: str) -> None:
    """After the verification passed: the flow's last step waits for the two items done by
    hand. Tick both as an operator would (space on the focused tick), then type a note in
    the first one's field while Continue applies: its keys stay in the note, and esc
    leaves the note, not the screen."""
    run = screen.run
    assert run.records["verify"].status == "ok", screen.failure
    assert run.records[final_step].status == "pending" and not run.state.verify_ticks
    ticks = screen.ticks
    status = str(screen.query_one(f"#{screen.PREFIX}-status", Static).render())
    assert ticks.display and "tick what you verified by hand" in status
    assert not screen.check_action("continue", ())
    first, second = (check_id for check_id, _ in ticks.items)
    assert screen.focused is screen.query_one(f"#verify-tick-{first}")  # the first item not ticked
    await pilot.press("space")
    screen.query_one(f"#verify-tick-{second}").focus()
    await pilot.press("space")
    screen.query_one(f"#verify-note-{first}", Input).focus()
    await pilot.press(*NOTE, "escape")
    await pilot.pause()
    assert screen.focused is None and screen.app.screen is screen
    assert run.records[final_step].status == "pending"  # the note's keys stayed in it
    assert run.state.verify_ticks == {first: NOTE, second: ""}
    assert screen.check_action("continue", ())


async def settle(app: HotfixApp, pilot: object) -> None:
    for _ in range(3):
        await app.workers.wait_for_complete()
        await pilot.pause()  # type: ignore[attr-defined]


def text_of(screen: HotfixScreen, selector: str) -> str:
    return str(screen.query_one(selector, Static).render())


async def wait_for_commit(app: HotfixApp, screen: HotfixScreen, pilot: object) -> None:
    """Wait for the poll (every 2 s) to list the fix commit; at most 8 s."""
    for _ in range(80):
        if screen.commits:
            break
        await pilot.pause(0.1)  # type: ignore[attr-defined]
    await settle(app, pilot)


async def open_and_fix(box: demo.Sandbox, tmp_path: Path, pilot: object, app: HotfixApp) -> tuple[HotfixScreen, str]:
    await settle(app, pilot)
    screen = app.screen
    assert isinstance(screen, HotfixScreen)
    production = text_of(screen, "#hotfix-production")
    assert "production runs v1.3.2" in production and "hotfix v1.3.3 on hotfix/v1.3.3" in production
    assert "commit it on hotfix/v1.3.3" in text_of(screen, "#hotfix-instructions")
    assert app.hotfix_run.records["hotfix-branch"].status == "ok"
    assert git(box.repo, "branch", "--show-current") == "hotfix/v1.3.3"
    assert not screen.check_action("continue", ())  # no fix commit yet: c is not offered
    assert "Waiting for a fix commit" in text_of(screen, "#hotfix-status")
    fix = commit_fix(box.repo)
    await wait_for_commit(app, screen, pilot)
    assert f"{fix[:10]} {SUBJECT}" in text_of(screen, "#hotfix-commits")
    editor = screen.query_one("#hotfix-changelog", TextArea)
    assert (
        "### Fixed" in editor.text and "- **core:** Say how long clients should wait during maintenance" in editor.text
    )
    assert screen.check_action("continue", ())
    return screen, fix


async def test_branch_fix_commit_and_tag_then_a_wrong_version_is_refused(box: demo.Sandbox, tmp_path: Path) -> None:
    app = make_hotfix_app(load_config(box.config_path), state_dir=tmp_path / "state", snapshot_mode=True)
    async with app.run_test(size=(130, 40)) as pilot:
        screen, fix = await open_and_fix(box, tmp_path, pilot, app)
        app.save_screenshot(str(tmp_path / "hotfix-130.svg"))
        # the operator's edit, saved with ctrl+s
        editor = screen.query_one("#hotfix-changelog", TextArea)
        editor.focus()
        editor.load_text(editor.text + "- Tell clients when to retry\n")
        await pilot.press("ctrl+s")
        await pilot.press("escape")  # leaves the editor, not the screen
        await pilot.pause()
        assert app.screen is screen
        assert app.hotfix_run.state.changelog_body is not None
        assert "Tell clients when to retry" in app.hotfix_run.state.changelog_body

        await pilot.press("c")
        await settle(app, pilot)
        run = app.hotfix_run
        assert run.records["tag"].status == "ok", screen.failure
        assert git(box.origin, "rev-parse", "v1.3.3^{commit}") == git(box.origin, "rev-parse", "hotfix/v1.3.3")
        git(box.origin, "merge-base", "--is-ancestor", fix, "v1.3.3")
        assert "Tell clients when to retry" in git(box.origin, "show", "v1.3.3:CHANGELOG.md")
        assert editor.read_only
        assert "rollback plan" in text_of(screen, "#hotfix-status").lower()
        assert not screen.check_action("deploy", ())  # the prep has not run yet

        await pilot.press("a")
        await settle(app, pilot)
        assert run.records["prep-production"].status == "ok", screen.failure
        assert screen.check_action("deploy", ())
        app.save_screenshot(str(tmp_path / "hotfix-130-ready.svg"))

        await pilot.press("d")
        await pilot.pause()
        modal = app.screen
        assert isinstance(modal, ConfirmModal)
        modal.query_one("#confirm-input", Input).value = "1.3.2"
        await pilot.press("enter")
        await pilot.pause()
        assert app.screen is modal  # the wrong version is refused
        assert "1.3.3" in str(modal.query_one("#confirm-error", Static).render())
        await pilot.press("escape")
        await pilot.pause()
        assert app.screen is screen
        assert run.records["deploy-production"].status == "pending"
        assert "deploy-production" not in run.state.confirmations

        # tagged and pushed, not deployed: leaving asks first, and staying is the default
        await pilot.press("escape")
        await pilot.pause()
        dialog = app.screen
        assert isinstance(dialog, QuitModal)
        asked = dialog.text()
        assert "The hotfix is not finished." in asked and "release" not in asked
        assert "v1.3.3 is tagged and pushed" in asked
        assert "not done:[/b] Deploy to production, Verify production, Backport into main" in asked
        assert str(dialog.query_one("#quit-leave", Button).label) == "Quit"  # leaving exits iact-tui hotfix
        await pilot.press("enter")
        await pilot.pause()
        assert app.screen is screen
        await pilot.press("escape", "y")
        await settle(app, pilot)
        assert not app.is_running
    # the clone is back on the branch the operator was on (the fix stays on its branch)
    assert git(box.repo, "branch", "--show-current") == "main"
    assert git(box.repo, "rev-parse", "hotfix/v1.3.3") == git(box.origin, "rev-parse", "hotfix/v1.3.3")


async def test_leaving_goes_back_to_main_offers_to_delete_an_empty_branch_and_a_resumed_hotfix_keeps_its_changelog(
    box: demo.Sandbox, tmp_path: Path
) -> None:
    app = make_hotfix_app(load_config(box.config_path), state_dir=tmp_path / "state", snapshot_mode=True)
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(app, pilot)
        assert git(box.repo, "branch", "--show-current") == "hotfix/v1.3.3"
        await pilot.press("escape")
        for _ in range(50):  # the leaving worker reads the branch, then asks (it waits for the answer)
            if isinstance(app.screen, DeleteBranchModal):
                break
            await pilot.pause(0.05)
        assert isinstance(app.screen, DeleteBranchModal)
        assert app.screen.focused is app.screen.query_one("#delete-branch-keep")  # keeping is the default
        await pilot.press("y")
        await settle(app, pilot)
        assert not app.is_running
    assert git(box.repo, "branch", "--show-current") == "main"
    assert git(box.repo, "branch", "--list", "hotfix/*") == ""

    # again: the fix committed and the changelog section edited and saved, then leave
    app = make_hotfix_app(load_config(box.config_path), state_dir=tmp_path / "state", snapshot_mode=True)
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(app, pilot)
        screen = app.screen
        assert isinstance(screen, HotfixScreen)
        commit_fix(box.repo)
        await wait_for_commit(app, screen, pilot)
        editor = screen.query_one("#hotfix-changelog", TextArea)
        editor.load_text(editor.text + "- Tell clients when to retry\n")
        editor.focus()
        await pilot.press("ctrl+s", "escape", "escape")  # leave the editor, then the screen
        await settle(app, pilot)
        assert not app.is_running
    assert git(box.repo, "branch", "--show-current") == "main"
    # resumed: the saved section, not a fresh draft
    app = make_hotfix_app(load_config(box.config_path), state_dir=tmp_path / "state", snapshot_mode=True)
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(app, pilot)
        screen = app.screen
        assert isinstance(screen, HotfixScreen)
        await wait_for_commit(app, screen, pilot)
        editor = screen.query_one("#hotfix-changelog", TextArea)
        assert "- Tell clients when to retry" in editor.text and not editor.disabled
        assert app.hotfix_run.state.changelog_body == editor.text


async def test_the_whole_hotfix_reaches_production_and_main(sandbox: demo.Sandbox, tmp_path: Path) -> None:
    box = sandbox
    production = box.environments["production"]
    app = make_hotfix_app(load_config(box.config_path), state_dir=tmp_path / "state", snapshot_mode=True)
    async with app.run_test(size=(100, 30)) as pilot:
        screen, fix = await open_and_fix(box, tmp_path, pilot, app)
        app.save_screenshot(str(tmp_path / "hotfix-100.svg"))
        await pilot.press("c")
        await settle(app, pilot)
        await pilot.press("a")
        await settle(app, pilot)
        await pilot.press("d")
        await pilot.pause()
        assert isinstance(app.screen, ConfirmModal)
        app.screen.query_one("#confirm-input", Input).value = "1.3.3"
        await pilot.press("enter")
        await settle(app, pilot)
        run = app.hotfix_run
        assert app.screen_stack[-1] is screen
        await tick_by_hand(pilot, screen, "backport")
        await pilot.press("c")
        await settle(app, pilot)
        assert {k: r.status for k, r in run.records.items()} == {
            "hotfix-branch": "ok",
            "hotfix-checks": "ok",
            "bump": "ok",
            "changelog": "ok",
            "commit": "ok",
            "push": "ok",
            "tag": "ok",
            "deploy-staging": "skipped",
            "smoke-staging": "skipped",
            "prep-production": "ok",
            "deploy-production": "ok",
            "verify": "ok",
            "backport": "ok",
        }, screen.failure
        with urllib.request.urlopen(production, timeout=10) as response:
            assert json.loads(response.read())["version"] == "1.3.3"
        git(box.origin, "merge-base", "--is-ancestor", fix, "main")
        assert "Hotfix v1.3.3 runs in production" in text_of(screen, "#hotfix-status")
        app.save_screenshot(str(tmp_path / "hotfix-100-done.svg"))
        await pilot.press("escape")
        await settle(app, pilot)
        assert not app.is_running
    assert git(box.repo, "branch", "--show-current") == "main"
