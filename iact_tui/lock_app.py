"""The run lock held at start: say whose it is and offer to break it (Textual).

When the repository's run lock (:mod:`iact_tui.engine.run_lock`) is held by another live
iact-tui, or by one on another host, the wizard, ``iact-tui rollback`` and ``iact-tui
hotfix`` show this small app instead of a traceback: the holder (owner, pid, flow,
version, since) and what to do. For another host's lock ``b`` asks for the owner's
hostname typed exactly (:class:`BreakLockModal`) and breaks the lock; a live holder on
this host is never broken (no ``b``): the screen says to switch to its terminal or stop
it (``kill PID``). ``q``/``esc`` leaves it.
:func:`ask_to_break` is what the CLI calls.
"""

from __future__ import annotations

import asyncio
from importlib.resources import files
from pathlib import Path, PurePath
from typing import ClassVar

from textual import work
from textual.app import App, ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.screen import Screen
from textual.widgets import Button, Footer, Header, Input, Label, Static

from iact_tui.engine.run_lock import RunLockHeld
from iact_tui.errors import ConfirmationError
from iact_tui.widgets.confirm import ConfirmModal
from iact_tui.widgets.literal import escape

STYLE_FILES: tuple[str, ...] = ("base.tcss", "widgets.tcss", "lock.tcss")


def _css_paths() -> list[str | PurePath]:
    styles = files("iact_tui.styles")
    return [Path(str(styles / name)) for name in STYLE_FILES]


class BreakLockModal(ConfirmModal):
    """The typed confirmation for breaking a run lock: the owner's hostname, exactly.

    Dismisses with ``True`` once the typed text is the hostname (the caller then breaks
    the lock), ``False`` on Cancel or Escape; a wrong text keeps it open saying what to type.

    Args:
        held: The refusal naming the holder.
        blink: Whether the input's cursor blinks (off in tests).
    """

    typed_kind = "the lock owner's hostname"

    def __init__(self, held: RunLockHeld, *, blink: bool = True) -> None:
        host = held.holder.host if held.holder is not None else ""
        super().__init__(
            host,
            lambda typed: typed == host,
            blink=blink,
            title="Break the run lock",
            purpose="break the lock",
            noun="the lock owner's hostname",
        )
        self.held = held

    def compose(self) -> ComposeResult:
        holder = self.held.holder
        who = holder.describe() if holder is not None else "an unreadable lock"
        with Vertical(id="confirm-dialog"):
            yield Label(escape(self.heading), classes="confirm--title")
            yield Static(
                f"Only if that run is gone: two runs at once push, tag and deploy over each other.\n"
                f"Holder: {escape(who)}.\n"
                f"Type the owner's hostname [b]{escape(self.version)}[/b] to break the lock.",
                classes="confirm--prompt",
            )
            yield Input(placeholder="type the hostname here", id="confirm-input")
            yield Static("", id="confirm-error", classes="confirm--error")
            with Horizontal(id="confirm-buttons"):
                yield Button("Cancel", id="confirm-cancel")
                yield Button("Break the lock", id="confirm-ok", variant="error")


class LockHeldScreen(Screen[None]):
    """Whose the lock is and what to do; ``b`` breaks another host's lock (typed
    hostname; not offered for a live holder on this host), ``q`` leaves."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("b", "break_lock", "Break the lock"),
        Binding("q,escape", "app.quit", "Leave it"),
    ]

    def __init__(self, held: RunLockHeld) -> None:
        super().__init__()
        self.held = held

    def compose(self) -> ComposeResult:
        yield Header()
        with Vertical(id="lock-held"):
            yield Label("This repository is locked by another run", classes="lock--title")
            yield Static(escape(self.held.what), id="lock-what")
            yield Static(f"→ {escape(self.held.fix)}", id="lock-fix")
            yield Static("", id="lock-error")
        yield Footer()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        # A live iact-tui of this host is never broken, so breaking is not offered.
        return not (action == "break_lock" and self.held.holder is not None and not self.held.breakable)

    def action_break_lock(self) -> None:
        """Ask for the owner's hostname, then break the lock off the event loop."""
        if self.held.holder is not None and not self.held.breakable:
            return
        if self.held.holder is None:
            self.query_one("#lock-error", Static).update(
                f"This lock file cannot be read: delete {escape(str(self.held.lock.path))} by hand "
                "if no other iact-tui runs on this repository."
            )
            return
        blink = getattr(self.app, "blink", True)

        def answered(confirmed: bool | None) -> None:
            if confirmed:
                self.break_it()

        self.app.push_screen(BreakLockModal(self.held, blink=blink), answered)

    @work(exclusive=True, exit_on_error=False, group="lock")
    async def break_it(self) -> None:
        """Break the lock (file work in a thread); exits the app with ``True`` when done."""
        assert self.held.holder is not None
        try:
            await asyncio.to_thread(self.held.break_lock, self.held.holder.host)
        except ConfirmationError as exc:  # the lock changed hands, or its holder now runs here
            self.query_one("#lock-error", Static).update(escape(str(exc)))
            return
        self.app.exit(True)


class LockHeldApp(App[bool]):
    """Shows a held run lock; returns ``True`` when the operator broke it.

    Args:
        held: The refusal from taking the lock.
        blink: Whether cursors blink (off for tests).
    """

    TITLE = "iact-tui"
    CSS_PATH = _css_paths()
    BINDINGS: ClassVar[list[BindingType]] = [Binding("ctrl+q", "quit", "Quit", show=False, priority=True)]

    def __init__(self, held: RunLockHeld, *, blink: bool = True) -> None:
        super().__init__()
        self.held, self.blink = held, blink
        self.sub_title = held.lock.repo

    def on_mount(self) -> None:
        self.push_screen(LockHeldScreen(self.held))


def ask_to_break(held: RunLockHeld) -> bool:
    """Run :class:`LockHeldApp`; whether the operator broke the lock (then try again)."""
    return bool(LockHeldApp(held).run())
