"""ConfirmModal: wrong text keeps it open with a message; the right text confirms."""

from __future__ import annotations

from textual.app import App
from textual.widgets import Input, Static

from iact_tui.widgets import ConfirmModal


class ModalApp(App[None]):
    def __init__(self, **wording: str) -> None:
        super().__init__()
        self.result: bool | None = None
        self.attempts: list[str] = []
        self.wording = wording

    def on_mount(self) -> None:
        def check(typed: str) -> bool:
            self.attempts.append(typed)
            return typed == "1.4.0"

        def done(ok: bool | None) -> None:
            self.result = ok

        self.push_screen(ConfirmModal("1.4.0", check, blink=False, **self.wording), done)


async def test_wrong_text_stays_and_says_what_to_type() -> None:
    app = ModalApp()
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.pause()
        await pilot.press(*"1.3.0", "enter")
        await pilot.pause()
        assert isinstance(app.screen, ConfirmModal)
        assert app.result is None
        error = str(app.screen.query_one("#confirm-error", Static).render())
        assert error == "“1.3.0” is not the version being released. Type 1.4.0 exactly."
        assert str(app.screen.query_one(".confirm--title", Static).render()) == "Deploy to production"
        assert app.screen.query_one(Input).value == ""
        await pilot.press(*"1.4.0")
        await pilot.click("#confirm-ok")
        await pilot.pause()
        assert app.result is True
        assert app.attempts == ["1.3.0", "1.4.0"]
        assert not isinstance(app.screen, ConfirmModal)


async def test_another_flow_gives_its_own_wording() -> None:
    """A rollback's dialog speaks of the rollback target, not of a release."""
    app = ModalApp(
        title="Roll production back to v1.4.0", purpose="roll production back to v1.4.0", noun="the rollback target"
    )
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.pause()
        said = [str(w.render()) for w in app.screen.query(Static)]
        assert said[0] == "Roll production back to v1.4.0"
        assert said[1] == "Type the version 1.4.0 to roll production back to v1.4.0."
        await pilot.press(*"1.3.2", "enter")
        await pilot.pause()
        error = str(app.screen.query_one("#confirm-error", Static).render())
        assert error == "“1.3.2” is not the rollback target. Type 1.4.0 exactly."


async def test_escape_cancels() -> None:
    app = ModalApp()
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.pause()
        await pilot.press("escape")
        await pilot.pause()
        assert app.result is False


async def test_the_quit_dialog_says_when_the_running_step_has_ended() -> None:
    """Asked while a deploy runs, the dialog must not go on saying it runs once it ended
    (found by a trial: "Deploy to staging is still running" after the deploy finished)."""
    from iact_tui.widgets import QuitModal

    running = [True]

    class QuitApp(App[None]):
        def on_mount(self) -> None:
            self.push_screen(QuitModal("Deploy to staging", still_running=lambda: running[0]))

    app = QuitApp()
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.pause()
        text = app.screen.query_one("#quit-text", Static)
        assert "Deploy to staging is still running" in str(text.render())
        running[0] = False
        await pilot.pause(QuitModal.POLL_SECONDS * 3)
        assert "Deploy to staging has ended" in str(text.render())
        assert "still running" not in str(text.render())
