"""The announcement screen over the tiny repository, with a real webhook receiver on 127.0.0.1.

Keys as an operator presses them: edit the Markdown, save, copy, send; a webhook that
answers 500 once is shown with its answer and ``r`` sends again. The webhook's secret
token (in the URL's path) never reaches the screen or the journal.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from support.webhook import WebhookReceiver
from textual.widgets import Markdown, Static, TextArea
from ui_helpers import build_tiny_repo, git, settle, walk_to_release

from iact_tui.app import IactApp, make_app
from iact_tui.config import load_config
from iact_tui.screens import AnnouncementScreen
from iact_tui.widgets import MarkdownPreview

HOOK_ENV = "IACT_TEST_ANNOUNCE_URL"
SIZE = (100, 30)


def _app(tmp_path: Path, config: str = "") -> IactApp:
    path = build_tiny_repo(tmp_path / "tiny")
    if config:
        with path.open("a", encoding="utf-8") as fh:
            fh.write(config)
        git(path.parent, "commit", "-q", "-am", "chore: announce to the team's chat")
        git(path.parent, "push", "-q", "origin", "main")
    return make_app(load_config(path), state_dir=tmp_path / "state", snapshot_mode=True)


@pytest.fixture
def hooked_app(tmp_path: Path, webhook: WebhookReceiver, monkeypatch: pytest.MonkeyPatch) -> IactApp:
    """The tiny repository announcing to the loopback webhook in Mattermost's format."""
    monkeypatch.setenv(HOOK_ENV, webhook.url)
    webhook.expect = "mattermost"
    return _app(tmp_path, f'\n[announce]\nwebhook_env = "{HOOK_ENV}"\nformat = "mattermost"\n')


async def to_announcement(app: IactApp, pilot: object) -> AnnouncementScreen:
    """Walk the wizard to the announcement (no environments: deploys and checks skip)."""
    from textual.pilot import Pilot

    assert isinstance(pilot, Pilot)
    await walk_to_release(app, pilot)
    for _ in range(6):
        await pilot.press("enter")
        await settle(app, pilot)
    screen = app.screen
    assert isinstance(screen, AnnouncementScreen)
    assert screen.step_status == {"announce": "ok"}, screen.describe()
    return screen


def shown(screen: AnnouncementScreen, selector: str) -> str:
    return str(screen.query_one(selector, Static).render())


def journal(app: IactApp) -> list[dict[str, object]]:
    return [json.loads(line) for line in app.release_run.journal_path.read_text().splitlines()]


async def test_edit_save_send_then_finish(hooked_app: IactApp, webhook: WebhookReceiver) -> None:
    app = hooked_app
    async with app.run_test(size=SIZE) as pilot:
        screen = await to_announcement(app, pilot)
        rendered = app.release_run.announcement
        assert rendered is not None and rendered.startswith("# Release v0.2.0\n")
        assert "Mattermost webhook http://127.0.0.1:" in shown(screen, "#announcement-paths")
        assert "press s to send" in shown(screen, "#step-status")

        await pilot.press("f2")
        await pilot.pause()
        area = screen.query_one("#announcement-editor", TextArea)
        assert screen.editing and area.has_focus and area.text == rendered
        await pilot.press("end", *": greetings", "enter", "enter", *"Log in again after the release.")
        await pilot.pause()
        assert "edited since" in shown(screen, "#announcement-paths")
        await pilot.press("ctrl+s")
        await settle(app, pilot)
        edited = rendered.replace(
            "# Release v0.2.0\n", "# Release v0.2.0: greetings\n\nLog in again after the release.\n", 1
        )
        saved = app.release_run.announcement_path
        assert saved is not None and saved.read_text() == edited == app.release_run.announcement
        assert "edited since" not in shown(screen, "#announcement-paths")

        await pilot.press("escape")
        await pilot.pause()
        assert not screen.editing
        assert screen.query_one("#announcement", MarkdownPreview).source == app.mask(edited)  # dates masked

        await pilot.press("enter")  # not sent yet: said, and the first enter does not finish
        await pilot.pause()
        assert app.screen is screen and app.return_code is None

        await pilot.press("s")
        await settle(app, pilot)
        assert webhook.received == [{"path": "/hooks/T0KEN-s3cret", "json": {"text": edited}}]
        assert webhook.problems == [[]]
        assert "✔ Saved and sent to Mattermost at http://127.0.0.1:" in shown(screen, "#step-status")
        assert screen.check_action("send", ()) is None  # the same text again would be a duplicate post

        await pilot.press("c")
        await pilot.pause()
        assert app.clipboard == edited

        await pilot.press("enter")
        await pilot.pause()
    assert app.return_code == 0
    kinds = [r["kind"] for r in journal(app) if str(r["kind"]).startswith("announcement_")]
    assert kinds == ["announcement_edited", "announcement_saved", "announcement_sent"]
    assert "T0KEN" not in app.release_run.journal_path.read_text()


async def test_a_failed_send_shows_the_answer_and_r_sends_again(hooked_app: IactApp, webhook: WebhookReceiver) -> None:
    app = hooked_app
    webhook.fail_next = 1
    webhook.fail_body = b"internal error: token T0KEN-s3cret is fine, the database is not"
    port = webhook.url.split(":")[2].split("/")[0]
    async with app.run_test(size=SIZE) as pilot:
        screen = await to_announcement(app, pilot)
        await pilot.press("s")
        await settle(app, pilot)
        status = shown(screen, "#step-status")
        assert (
            f"✘ Not sent: the webhook at http://127.0.0.1:{port} answered 500: internal error: token ••••••" in status
        )
        assert "then retry; press r to send again (the text is kept)" in status
        assert "step-status -failed" in " ".join(["step-status", *screen.query_one("#step-status").classes])
        everything = app.export_screenshot()
        assert "T0KEN" not in everything and "s3cret" not in everything

        await pilot.press("r")
        await settle(app, pilot)
        assert "✔ Saved and sent to Mattermost" in shown(screen, "#step-status")
        assert len(webhook.received) == 2 and webhook.received[0] == webhook.received[1]
        assert not screen.can_retry()
    sends = [r["kind"] for r in journal(app) if r["kind"] in ("announcement_sent", "announcement_send_failed")]
    assert sends == ["announcement_send_failed", "announcement_sent"]


async def test_without_a_webhook_there_is_nothing_to_send(tiny_app: IactApp) -> None:
    async with tiny_app.run_test(size=SIZE) as pilot:
        screen = await to_announcement(tiny_app, pilot)
        assert "no webhook set" in shown(screen, "#announcement-paths")
        assert screen.check_action("send", ()) is False
        await pilot.press("s")  # nothing happens
        await pilot.pause()
        assert screen.sent is None
        await pilot.press("enter")
        await pilot.pause()
    assert tiny_app.return_code == 0


async def test_v_shows_the_runs_report(tmp_path: Path) -> None:
    from iact_tui.widgets.report_view import ReportModal

    app = _app(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        screen = await to_announcement(app, pilot)
        await pilot.press("v")
        await settle(app, pilot)
        modal = app.screen
        assert isinstance(modal, ReportModal)
        source = modal.query_one("#report-markdown", Markdown).source
        assert source == modal.text and source.startswith("# Release v0.2.0 of repo\n")
        assert "| Result | finished ok |" in source  # every step done, though the run is not closed yet
        assert "| Write CHANGELOG | changelog | 1 | ok |" in source
        assert "| Tag | v0.2.0 on " in source
        assert not (app.release_run.run_dir / "report.md").exists()  # saved at the end only
        await pilot.press("escape")
        await pilot.pause()
        assert app.screen is screen


async def test_ctrl_r_in_the_editor_puts_the_template_back(tiny_app: IactApp) -> None:
    app = tiny_app
    async with app.run_test(size=SIZE) as pilot:
        screen = await to_announcement(app, pilot)
        rendered = app.release_run.announcement
        assert rendered is not None
        await pilot.press("f2")
        await pilot.pause()
        area = screen.query_one("#announcement-editor", TextArea)
        await pilot.press("Z", "Z", "Z", "space")
        await pilot.pause()
        assert area.text == "ZZZ " + rendered and area.has_focus
        await pilot.press("ctrl+r")
        await pilot.pause()
        assert area.text == rendered
        assert app.release_run.announcement == rendered
        assert any("reset to the template" in str(n.message) for n in app._notifications), list(app._notifications)
        assert "edited since" not in shown(screen, "#announcement-paths")
        await pilot.press("escape")
        await pilot.pause()
        assert not screen.editing
        assert screen.query_one("#announcement", MarkdownPreview).source == app.mask(rendered)
    kinds = [r["kind"] for r in journal(app) if str(r["kind"]).startswith("announcement_")]
    assert kinds == ["announcement_edited"]  # the reset: back to the rendered text, journaled
