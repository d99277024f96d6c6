"""One SVG snapshot per screen, over the tiny repository with fixed git dates.

Deterministic: fixed terminal size, snapshot mode (no cursor blink, masked paths), fixed
commit dates so hashes repeat. Update with ``pytest --snapshot-update`` after a
deliberate change and review the SVGs.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from textual.pilot import Pilot
from ui_helpers import build_tiny_repo, settle, tick_all, walk_to_checklist, walk_to_release

from iact_tui.app import IactApp, make_app
from iact_tui.config import load_config
from iact_tui.screens import ChangelogScreen
from iact_tui.widgets import CommandLog

SIZE = (120, 40)
FIXED_DATE = "2024-05-06T07:08:09+00:00"
FIXED_EPOCH = 1714979289  # FIXED_DATE in Unix seconds


@pytest.fixture
def snap_app(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> IactApp:
    for key in ("GIT_AUTHOR_DATE", "GIT_COMMITTER_DATE"):
        monkeypatch.setenv(key, FIXED_DATE)
    monkeypatch.setenv("SOURCE_DATE_EPOCH", str(FIXED_EPOCH))  # the changelog section's date
    config = load_config(build_tiny_repo(tmp_path / "tiny"))
    return make_app(config, state_dir=tmp_path / "state", snapshot_mode=True)


async def _flush_logs(app: IactApp) -> None:
    for log in app.screen.query(CommandLog):
        log.flush()


def _walk(*presses: str, extra: Callable[[IactApp, Pilot[Any]], Awaitable[None]] | None = None) -> Any:
    async def run_before(pilot: Pilot[Any]) -> None:
        app = pilot.app
        assert isinstance(app, IactApp)
        await settle(app, pilot)
        for key in presses:
            await pilot.press(key)
            await settle(app, pilot)
        if extra is not None:
            await extra(app, pilot)
        await _flush_logs(app)
        await pilot.pause()

    return run_before


async def _to_checklist(app: IactApp, pilot: Pilot[Any]) -> None:
    await walk_to_checklist(app, pilot)


async def _to_changelog(app: IactApp, pilot: Pilot[Any]) -> None:
    await walk_to_checklist(app, pilot)
    await tick_all(app, pilot)
    await pilot.click("#continue")
    await settle(app, pilot)
    screen = app.screen
    assert isinstance(screen, ChangelogScreen)
    await screen.refresh_preview()


def _to_release(*more: str) -> Callable[[IactApp, Pilot[Any]], Awaitable[None]]:
    async def go(app: IactApp, pilot: Pilot[Any]) -> None:
        await walk_to_release(app, pilot)
        for key in more:
            await pilot.press(key)
            await settle(app, pilot)

    return go


def test_welcome(snap_compare: Any, snap_app: IactApp) -> None:
    assert snap_compare(snap_app, terminal_size=SIZE, run_before=_walk())


def test_version(snap_compare: Any, snap_app: IactApp) -> None:
    assert snap_compare(snap_app, terminal_size=SIZE, run_before=_walk("enter"))


def test_checklist(snap_compare: Any, snap_app: IactApp) -> None:
    assert snap_compare(snap_app, terminal_size=SIZE, run_before=_walk(extra=_to_checklist))


def test_changelog(snap_compare: Any, snap_app: IactApp) -> None:
    assert snap_compare(snap_app, terminal_size=SIZE, run_before=_walk(extra=_to_changelog))


def test_release(snap_compare: Any, snap_app: IactApp) -> None:
    assert snap_compare(snap_app, terminal_size=SIZE, run_before=_walk(extra=_to_release()))


def test_deploy_staging_skipped(snap_compare: Any, snap_app: IactApp) -> None:
    assert snap_compare(snap_app, terminal_size=SIZE, run_before=_walk(extra=_to_release("enter")))


def test_smoke_skipped(snap_compare: Any, snap_app: IactApp) -> None:
    assert snap_compare(snap_app, terminal_size=SIZE, run_before=_walk(extra=_to_release("enter", "enter")))


def test_prep_skipped(snap_compare: Any, snap_app: IactApp) -> None:
    steps = ("enter", "enter", "enter")
    assert snap_compare(snap_app, terminal_size=SIZE, run_before=_walk(extra=_to_release(*steps)))


def test_verify_skipped(snap_compare: Any, snap_app: IactApp) -> None:
    steps = ("enter", "enter", "enter", "enter", "enter")
    assert snap_compare(snap_app, terminal_size=SIZE, run_before=_walk(extra=_to_release(*steps)))


def test_announcement(snap_compare: Any, snap_app: IactApp) -> None:
    steps = ("enter", "enter", "enter", "enter", "enter", "enter")
    assert snap_compare(snap_app, terminal_size=SIZE, run_before=_walk(extra=_to_release(*steps)))


@pytest.fixture
def snap_app_with_production(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> IactApp:
    for key in ("GIT_AUTHOR_DATE", "GIT_COMMITTER_DATE"):
        monkeypatch.setenv(key, FIXED_DATE)
    monkeypatch.setenv("SOURCE_DATE_EPOCH", str(FIXED_EPOCH))  # the changelog section's date
    path = build_tiny_repo(tmp_path / "tiny")
    # Committed, so the tree stays clean; the modal shows before anything runs there.
    with path.open("a", encoding="utf-8") as fh:
        fh.write(
            '\n[environments.production]\napp_dir = "."\nhealth_url = "http://127.0.0.1:9/api/health"\n'
            'backup_skip_reason = "snapshot: no database"\n\n[notify]\nskip_reason = "snapshot: nobody to tell"\n'
        )
    repo = path.parent
    from ui_helpers import git

    git(repo, "commit", "-q", "-am", "chore: add production")
    git(repo, "push", "-q", "origin", "main")
    return make_app(load_config(path), state_dir=tmp_path / "state", snapshot_mode=True)


def test_production_prep_waits_for_the_acknowledged_plan(snap_compare: Any, snap_app_with_production: IactApp) -> None:
    assert snap_compare(
        snap_app_with_production, terminal_size=SIZE, run_before=_walk(extra=_to_release("enter", "enter", "enter"))
    )


def test_production_confirmation_refuses_a_wrong_version(snap_compare: Any, snap_app_with_production: IactApp) -> None:
    async def wrong_version(app: IactApp, pilot: Pilot[Any]) -> None:
        await _to_release("enter", "enter", "enter", "a", "enter")(app, pilot)
        await pilot.press(*"1.9.9", "enter")
        await pilot.pause()

    assert snap_compare(snap_app_with_production, terminal_size=SIZE, run_before=_walk(extra=wrong_version))


def test_deploy_failed_on_two_hosts(snap_compare: Any, snap_app: IactApp, monkeypatch: pytest.MonkeyPatch) -> None:
    """Two hosts: web1's migrations failed (the rest of its steps skipped, post and unlock
    ran), web2 skipped; the table scrolls to the failure, the log shows the error."""
    from test_deploy_screen import failing_deploy

    from iact_tui.screens import DeployScreen

    monkeypatch.setattr(snap_app.release_run, "run_step", failing_deploy())

    async def deploy(app: IactApp, pilot: Pilot[Any]) -> None:
        app.push_screen(DeployScreen(env="staging"))
        await settle(app, pilot)

    assert snap_compare(snap_app, terminal_size=SIZE, run_before=_walk(extra=deploy))


@pytest.fixture
def snap_app_with_github(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, github: Any) -> IactApp:
    from support.github_fake import TOKEN
    from test_release_pr import github_config

    for key in ("GIT_AUTHOR_DATE", "GIT_COMMITTER_DATE"):
        monkeypatch.setenv(key, FIXED_DATE)
    monkeypatch.setenv("SOURCE_DATE_EPOCH", str(FIXED_EPOCH))  # the changelog section's date
    monkeypatch.setenv("GITHUB_TOKEN", TOKEN)
    path = github_config(tmp_path / "tiny", github)
    return make_app(load_config(path), state_dir=tmp_path / "state", snapshot_mode=True)


def test_release_pr_preview(snap_compare: Any, snap_app_with_github: IactApp) -> None:
    """GitHub forge: the steps stop before the merge; the pull request's body in the editor."""
    assert snap_compare(snap_app_with_github, terminal_size=SIZE, run_before=_walk(extra=_to_release()))


def test_verify_passed_one_item_ticked_with_a_note(
    snap_compare: Any, snap_app_with_production: IactApp, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A passed verification (a scripted VerifyStep: fixed timings, one failed request, log
    lines on one host), the first item ticked with a note; Continue waits for the second."""
    from test_verify_screen import LOG_LINES, scripted_verify, verify_events

    from iact_tui.screens import VerifyScreen
    from iact_tui.widgets import TickBox

    async def verified(app: IactApp, pilot: Pilot[Any]) -> None:
        await walk_to_release(app, pilot)
        run = app.release_run
        for step_id, status in (
            ("deploy-staging", "skipped"),
            ("smoke-staging", "skipped"),
            ("prep-production", "ok"),
            ("deploy-production", "ok"),
        ):
            run.records[step_id].status = status
        web1 = {"host": "web1", "total_matches": 2, "max_matches": 5, "matches": LOG_LINES, "files": []}
        monkeypatch.setattr(run, "run_step", scripted_verify(run, verify_events(web1=web1)))
        app.push_screen(VerifyScreen())
        await settle(app, pilot)
        app.screen.query_one("#verify-note-verified-by-hand").focus()
        await pilot.press(*"logged in, opened a project")
        app.screen.query_one("#verify-tick-verified-by-hand", TickBox).focus()
        await pilot.press("space")
        await settle(app, pilot)

    assert snap_compare(snap_app_with_production, terminal_size=SIZE, run_before=_walk(extra=verified))
