"""Production prep screen: nothing runs before the plan is acknowledged; skips need a typed reason."""

from __future__ import annotations

from pathlib import Path

from textual.app import App
from textual.widgets import Input, Static
from ui_helpers import build_tiny_repo, git, settle, walk_to_release

from iact_tui.app import make_app
from iact_tui.config import load_config
from iact_tui.screens import PrepScreen
from iact_tui.screens.prep import ReasonModal
from iact_tui.widgets import CheckTable


async def test_acknowledge_then_skip_each_missing_item_with_a_reason(tmp_path: Path) -> None:
    path = build_tiny_repo(tmp_path / "tiny")
    with path.open("a", encoding="utf-8") as fh:
        fh.write('\n[environments.production]\napp_dir = "."\nhealth_url = "http://127.0.0.1:9/api/health"\n')
    git(path.parent, "commit", "-q", "-am", "chore: add production")
    git(path.parent, "push", "-q", "origin", "main")
    app = make_app(load_config(path), state_dir=tmp_path / "state", snapshot_mode=True)
    async with app.run_test(size=(120, 40)) as pilot:
        await walk_to_release(app, pilot)
        for _ in range(3):  # deploy staging, smoke (both skipped), then the prep
            await pilot.press("enter")
            await settle(app, pilot)
        screen = app.screen
        assert isinstance(screen, PrepScreen)
        assert app.release_run.records["prep-production"].status == "pending"
        keys = {b.binding.key for b in screen.active_bindings.values()}
        assert "a" in keys and not {"b", "n"} & keys  # nothing to skip yet: not shown
        assert "can then be skipped with a reason" in str(screen.query_one("#step-status").render())
        await pilot.press("b")
        await settle(app, pilot)
        assert app.screen is screen
        await pilot.press("a")
        await settle(app, pilot)
        assert "a" not in {b.binding.key for b in screen.active_bindings.values() if b.binding.show}
        assert screen.check_action("acknowledge", ()) is False  # done: gone from the footer
        table = screen.query_one(CheckTable)
        assert screen.step_status == {"prep-production": "failed"}
        assert table.status_of("backup") == table.status_of("notice") == "failed"
        assert table.status_of("rollback-plan") == "passed"
        assert {"b", "n"} <= {b.binding.key for b in screen.active_bindings.values()}
        await pilot.press("b")
        await settle(app, pilot)
        assert isinstance(app.screen, ReasonModal)
        await pilot.press("enter")  # a blank reason is refused, the dialog stays
        await pilot.pause()
        assert isinstance(app.screen, ReasonModal)
        await pilot.press(*"snapshot at 02:00", "enter")  # then the version is asked for
        await pilot.pause()
        modal = app.screen
        assert isinstance(modal, ReasonModal) and modal.focused is modal.query_one("#reason-version")
        await pilot.press(*"9.9.9", "enter")  # a wrong version is refused, the dialog stays
        await pilot.pause()
        assert app.screen is modal and "“9.9.9” is not the version being released" in str(
            modal.query_one("#reason-error").render()
        )
        assert "production:backup-skip" not in app.release_run.state.prep
        modal.query_one("#reason-version", Input).value = ""
        await pilot.press(*app.release_run.state.version, "enter")
        await settle(app, pilot)
        assert app.screen is screen
        assert table.status_of("backup") == "skipped" and table.status_of("notice") == "failed"
        await pilot.press("n")
        await settle(app, pilot)
        await pilot.press(*"told them on the phone", "enter")  # the notice needs no version
        await settle(app, pilot)
        assert screen.step_status == {"prep-production": "ok"}, screen.describe()
        assert app.release_run.state.prep["production:backup-skip"] == "snapshot at 02:00"
        journal = app.release_run.journal_path.read_text()
        assert '"reason": "told them on the phone"' in journal and "rollback_plan_acknowledged" in journal


async def test_a_reads_the_config_again_and_b_n_are_hidden_when_it_skips_them(tmp_path: Path) -> None:
    path = build_tiny_repo(tmp_path / "tiny")
    with path.open("a", encoding="utf-8") as fh:
        fh.write(
            '\n[notify]\nskip_reason = "told them on the phone"\n'
            '\n[environments.production]\napp_dir = "."\nhealth_url = "http://127.0.0.1:9/api/health"\n'
            'backup_skip_reason = "nothing to back up"\n'
        )
    git(path.parent, "commit", "-q", "-am", "chore: add production")
    git(path.parent, "push", "-q", "origin", "main")
    app = make_app(load_config(path), state_dir=tmp_path / "state", snapshot_mode=True)
    async with app.run_test(size=(120, 40)) as pilot:
        await walk_to_release(app, pilot)
        for _ in range(3):  # deploy staging, smoke (both skipped), then the prep
            await pilot.press("enter")
            await settle(app, pilot)
        screen = app.screen
        assert isinstance(screen, PrepScreen)
        # Textual leaves a binding whose check_action returns False out of the footer.
        assert screen.check_action("skip", ("backup",)) is False and screen.check_action("skip", ("notice",)) is False
        shown = app.active_bindings
        assert "a" in shown and "b" not in shown and "n" not in shown, list(shown)
        # The operator removes backup_skip_reason while the prep waits, then acknowledges.
        path.write_text(path.read_text().replace('backup_skip_reason = "nothing to back up"\n', ""))
        await pilot.press("a")
        await settle(app, pilot)
        table = screen.query_one(CheckTable)
        assert table.status_of("backup") == "failed", screen.describe()  # asked for, not the old reason
        assert table.status_of("notice") == "skipped"
        assert screen.check_action("skip", ("backup",)) is True and screen.check_action("skip", ("notice",)) is False


class _ModalApp(App[None]):
    """The reason dialog alone; ``answers`` gets what it dismissed with."""

    def __init__(self) -> None:
        super().__init__()
        self.answers: list[tuple[str, str] | None] = []

    def on_mount(self) -> None:
        self.push_screen(ReasonModal("the database backup", "1.4.0", "v1.4.0"), self.answers.append)


async def test_the_backup_skip_dialog_says_what_is_missing_and_stays_open_until_right() -> None:
    app = _ModalApp()
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.pause()
        modal = app.screen
        assert isinstance(modal, ReasonModal)
        error = modal.query_one("#reason-error", Static)
        await pilot.press("enter")
        assert "The reason is empty" in str(error.render())
        await pilot.press(*"snapshot at 02:00", "enter")
        await pilot.pause()
        # The reason is there now: the message says the version is missing, not the reason.
        assert str(error.render()).startswith("The version is not typed yet: type 1.4.0 below")
        assert modal.focused is modal.query_one("#reason-version")
        await pilot.press("tab")  # Tab stays in the fields: never on a button that Enter would press
        assert isinstance(modal.focused, Input)
        await pilot.press("tab")
        assert modal.focused is modal.query_one("#reason-version")
        await pilot.press(*"1.3.0", "enter")
        await pilot.pause()
        assert app.screen is modal and app.answers == []
        assert "“1.3.0” is not the version being released: type 1.4.0 (or v1.4.0)" in str(error.render())
        await pilot.press(*"v1.4.0", "enter")
        await pilot.pause()
    assert app.answers == [("snapshot at 02:00", "v1.4.0")]
