"""ConfirmModal: wrong text keeps it open with a message; the right text confirms."""

from __future__ import annotations

from textual.app import App
from textual.widgets import Input, Static

from iact_tui.widgets import ConfirmModal


class ModalApp(App[None]):
    def __init__(self) -> None:
        super().__init__()
        self.result: bool | None = None
        self.attempts: list[str] = []

    def on_mount(self) -> None:
        def check(typed: str) -> bool:
            self.attempts.append(typed)
            return typed == "1.4.0"

        def done(ok: bool | None) -> None:
            self.result = ok

        self.push_screen(ConfirmModal("1.4.0", check, blink=False), done)


async def test_wrong_text_stays_and_says_what_to_type() -> None:
    app = ModalApp()
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.pause()
        await pilot.press(*"1.3.0", "enter")
        await pilot.pause()
        assert isinstance(app.screen, ConfirmModal)
        assert app.result is None
        error = str(app.screen.query_one("#confirm-error", Static).render())
        assert "1.3.0" in error and "Type 1.4.0 exactly" in error
        assert app.screen.query_one(Input).value == ""
        await pilot.press(*"1.4.0")
        await pilot.click("#confirm-ok")
        await pilot.pause()
        assert app.result is True
        assert app.attempts == ["1.3.0", "1.4.0"]
        assert not isinstance(app.screen, ConfirmModal)


async def test_escape_cancels() -> None:
    app = ModalApp()
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.pause()
        await pilot.press("escape")
        await pilot.pause()
        assert app.result is False
