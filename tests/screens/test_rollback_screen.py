"""The rollback screen over the demo sandbox's production (local transport, no journal yet):
the plan is shown, nothing runs before the typed target version, a wrong version is refused."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from test_hotfix_screen import tick_by_hand
from textual.widgets import Input, Select, Static

from iact_tui import demo
from iact_tui.config import load_config
from iact_tui.rollback_app import RollbackApp, make_rollback_app
from iact_tui.screens.flow import FlowScreen
from iact_tui.screens.hotfix import HotfixScreen
from iact_tui.screens.rollback import RollbackScreen
from iact_tui.widgets import CheckTable, ConfirmModal, DeployTable, QuitModal


@pytest.fixture
def box(tmp_path: Path) -> Iterator[demo.Sandbox]:
    sandbox = demo.build_sandbox(tmp_path / "sandbox", start_servers=False)
    try:
        yield sandbox
    finally:
        demo.stop_sandbox(sandbox.root)


async def settle(app: RollbackApp, pilot: object) -> None:
    for _ in range(3):
        await app.workers.wait_for_complete()
        await pilot.pause()  # type: ignore[attr-defined]


def text_of(app: RollbackApp, selector: str) -> str:
    return str(app.screen.query_one(selector, Static).render())


async def test_plan_shown_and_nothing_runs_before_the_typed_target_version(box: demo.Sandbox, tmp_path: Path) -> None:
    app = make_rollback_app(load_config(box.config_path), state_dir=tmp_path / "state", snapshot_mode=True)
    async with app.run_test(size=(130, 40)) as pilot:
        await settle(app, pilot)
        run = app.rollback_run
        screen = app.screen
        assert isinstance(screen, RollbackScreen)
        assert isinstance(screen, FlowScreen) and issubclass(HotfixScreen, FlowScreen)  # one step loop, one routing
        assert text_of(app, "#rollback-current").startswith("production runs v1.3.2 (1 host: production)\n")
        assert "no journal records a deploy" in text_of(app, "#rollback-current")
        assert screen.query_one("#rollback-target", Select).value == "1.3.1"
        plan = text_of(app, "#rollback-plan")
        assert "no migration to reverse" in plan and "git checkout --detach v1.3.1" in plan
        assert "type 1.3.1" in text_of(app, "#rollback-status").replace("[b]", "").lower() or "1.3.1" in text_of(
            app, "#rollback-status"
        )
        app.save_screenshot(str(tmp_path / "rollback-130.svg"))

        await pilot.press("b")
        await pilot.pause()
        modal = app.screen
        assert isinstance(modal, ConfirmModal)
        assert str(modal.query_one(".confirm--title", Static).render()) == "Roll production back to v1.3.1"
        modal.query_one("#confirm-input", Input).value = "1.3.2"
        await pilot.press("enter")
        await pilot.pause()
        assert app.screen is modal  # the wrong version is refused, in the rollback's words
        error = str(modal.query_one("#confirm-error", Static).render())
        assert error == "“1.3.2” is not the rollback target. Type 1.3.1 exactly."
        await pilot.press("escape")
        await pilot.pause()
        assert app.screen is screen
        assert run.records["rollback-production"].status == "pending"
        assert run.deploy_step_id not in run.state.confirmations


async def test_choosing_another_target_plans_it_again(box: demo.Sandbox, tmp_path: Path) -> None:
    app = make_rollback_app(load_config(box.config_path), state_dir=tmp_path / "state", snapshot_mode=True)
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(app, pilot)
        select = app.screen.query_one("#rollback-target", Select)
        select.value = "1.0.0"
        await settle(app, pilot)
        assert app.rollback_run.plan_result["target"] == "1.0.0"
        plan = text_of(app, "#rollback-plan")
        assert "reverse" in plan and "core" in plan
        assert "git checkout --detach v1.0.0" in plan
        app.save_screenshot(str(tmp_path / "rollback-100.svg"))
        # back to "no target yet": nothing is chosen, b does nothing, the status asks for one
        select.clear()
        await settle(app, pilot)
        run, screen = app.rollback_run, app.screen
        assert isinstance(screen, RollbackScreen)
        assert run.state.version == "" and run.plan_result == {}
        assert not screen.can_roll_back() and not screen.check_action("rollback", ())
        status = text_of(app, "#rollback-status")
        assert "Choose the release to go back to" in status and "Press b" not in status
        assert text_of(app, "#rollback-plan") == "" and screen.query_one("#rollback-checks", CheckTable).row_count == 0
        await pilot.press("b")
        await pilot.pause()
        assert app.screen is screen


async def test_the_rollback_asks_for_the_items_verified_by_hand_before_it_is_recorded(
    sandbox: demo.Sandbox, tmp_path: Path
) -> None:
    app = make_rollback_app(load_config(sandbox.config_path), state_dir=tmp_path / "state", snapshot_mode=True)
    async with app.run_test(size=(130, 40)) as pilot:
        await settle(app, pilot)
        run, screen = app.rollback_run, app.screen
        assert isinstance(screen, RollbackScreen)
        await pilot.press("b")
        await pilot.pause()
        app.screen.query_one("#confirm-input", Input).value = "1.3.1"
        await pilot.press("enter")
        await settle(app, pilot)
        # the header says what runs now; the commands table names the host
        current = text_of(app, "#rollback-current")
        assert current == "production runs v1.3.1 (1 host: production), rolled back from v1.3.2"
        # the plan describes what ran before the rollback
        assert screen.query_one("#rollback-plan", Static).border_title == "Plan (before the rollback)"
        table = screen.query_one("#rollback-table", DeployTable)
        assert table.max_scroll_y == 0 and str(table.get_row_at(0)[1]) == "production"
        # the items done by hand are drawn in full (the rollback app loads their styles too)
        assert screen.ticks.region.height >= 2 + 2 * len(screen.ticks.items), screen.ticks.region
        await tick_by_hand(pilot, screen, "rollback-record")
        # leaving before the record asks first; staying is the default
        await pilot.press("escape")
        await pilot.pause()
        assert isinstance(app.screen, QuitModal)
        said = " ".join(str(w.render()) for w in app.screen.query(Static))
        assert "production is rolled back to v1.3.1 and verified." in said and "not marked bad" in said
        await pilot.press("escape")
        await pilot.pause()
        assert app.screen is screen and run.records["rollback-record"].status == "pending"
        await pilot.press("c")
        await settle(app, pilot)
        assert run.records["rollback-record"].status == "ok", screen.failure
        assert "v1.3.2 marked bad" in text_of(app, "#rollback-status")


async def test_a_failed_rollback_says_hosts_may_have_changed_and_its_toast_goes(
    box: demo.Sandbox, tmp_path: Path
) -> None:
    """The maintenance command fails: the header no longer claims production runs v1.3.2,
    the plan is titled as before the rollback, the advice is the rollback's, and the
    "wait for it to end" toast (short-lived) is cleared by the failure."""
    path = box.config_path
    path.write_text(path.read_text(encoding="utf-8").replace("touch MAINTENANCE", "touch MAINTENANCE; exit 3"))
    app = make_rollback_app(load_config(path), state_dir=tmp_path / "state", snapshot_mode=True)
    async with app.run_test(size=(130, 40)) as pilot:
        await settle(app, pilot)
        screen = app.screen
        assert isinstance(screen, RollbackScreen)
        screen.rolling = True  # as while the rollback runs: esc only warns, briefly
        await pilot.press("escape")
        toasts = list(app._notifications)
        assert len(toasts) == 1 and "wait for it to end" in toasts[0].message and toasts[0].timeout == 4
        screen.rolling = False
        await pilot.press("b")
        await pilot.pause()
        app.screen.query_one("#confirm-input", Input).value = "1.3.1"
        await pilot.press("enter")
        await settle(app, pilot)
        assert app.rollback_run.records["rollback-production"].status == "failed"
        assert list(app._notifications) == []  # nothing covers the failure
        assert screen.failure is not None and screen.failure[1].startswith("fix the cause on production")
        assert "then retry the rollback (r)" in screen.failure[1] and "retry the deploy" not in screen.failure[1]
        current = text_of(app, "#rollback-current")
        assert current.startswith("production: the rollback to v1.3.1 failed; hosts may have changed."), current
        assert "production: failed: 'maintenance mode on'" in current and "before the rollback: v1.3.2" in current
        assert "runs v1.3.2 (1 host" not in current
        assert screen.query_one("#rollback-plan", Static).border_title == "Plan (before the rollback)"
        assert screen.query_one("#rollback-checks", CheckTable).border_title == "Plan checks (before the rollback)"
