"""The whole wizard, Welcome → Announcement, on the demo sandbox (real git, real servers)."""

from __future__ import annotations

from pathlib import Path

from textual.widgets import Static
from ui_helpers import settle, tick_verification, walk_to_release

from iact_tui import demo
from iact_tui.app import make_app
from iact_tui.config import load_config
from iact_tui.screens import AnnouncementScreen, DeployScreen, PrepScreen, SmokeScreen, VerifyScreen
from iact_tui.widgets import CheckTable, CommandLog, ConfirmModal, MarkdownPreview, WrappedCheckTable


async def test_full_release_walk_on_the_sandbox(sandbox: demo.Sandbox, tmp_path: Path) -> None:
    app = make_app(load_config(sandbox.config_path), state_dir=tmp_path / "state", snapshot_mode=True)
    async with app.run_test(size=(120, 40)) as pilot:
        await walk_to_release(app, pilot)
        assert app.screen.is_ready(), app.screen.describe()  # type: ignore[attr-defined]
        version = app.release_run.state.version

        await pilot.press("enter")
        await settle(app, pilot)
        staging = app.screen
        assert isinstance(staging, DeployScreen) and staging.env == "staging"
        assert staging.step_status == {"deploy-staging": "ok"}, staging.describe()
        assert staging.query_one(CommandLog).received > 0

        await pilot.press("enter")
        await settle(app, pilot)
        smoke = app.screen
        assert isinstance(smoke, SmokeScreen)
        assert smoke.step_status == {"smoke-staging": "ok"}, smoke.describe()
        assert smoke.query_one(WrappedCheckTable).status_of("health") == "passed"

        await pilot.press("enter")
        await settle(app, pilot)
        prep = app.screen
        assert isinstance(prep, PrepScreen)
        assert prep.plan_lines and prep.plan_lines[0].startswith("1. production runs v1.3.2 now")
        assert prep.step_status.get("prep-production") is None  # nothing runs before the plan is acknowledged
        await pilot.press("a")
        await settle(app, pilot)
        assert prep.step_status == {"prep-production": "ok"}, prep.describe()
        items = prep.query_one(CheckTable)
        assert items.status_of("backup") == items.status_of("notice") == "skipped"  # the sandbox's recorded reasons
        assert items.status_of("rollback-plan") == "passed"

        await pilot.press("enter")
        await pilot.pause()
        await pilot.pause()
        assert isinstance(app.screen, ConfirmModal)
        await pilot.press(*"0.0.0", "enter")
        await pilot.pause()
        assert isinstance(app.screen, ConfirmModal)
        await pilot.press(*version, "enter")
        await settle(app, pilot)
        production = app.screen
        assert isinstance(production, DeployScreen) and production.env == "production"
        assert production.step_status == {"deploy-production": "ok"}, production.describe()

        await pilot.press("enter")
        await settle(app, pilot)
        verify = app.screen
        assert isinstance(verify, VerifyScreen)
        assert verify.step_status == {"verify": "ok"}, verify.describe()
        assert verify.query_one(WrappedCheckTable).status_of("health") == "passed"
        await pilot.press("enter")  # the items verified by hand are not ticked yet
        await settle(app, pilot)
        assert app.screen is verify
        await tick_verification(app, pilot, {"verified-by-hand": "logged in, opened a project"})

        await pilot.press("enter")
        await settle(app, pilot)
        final = app.screen
        assert isinstance(final, AnnouncementScreen)
        assert version in final.query_one("#announcement", MarkdownPreview).source
        assert "journal.jsonl" in str(final.query_one("#announcement-paths", Static).render())
        await pilot.press("q")
        await pilot.pause()
    assert app.return_code == 0
    assert app.release_run.state.verify_ticks == {
        "verified-by-hand": "logged in, opened a project",
        "metrics-normal": "",
    }
