"""What a screen says when an operator's input is refused because the run lock is lost.

Once this process no longer holds the repository's run lock (its file was deleted by
hand, or another host's iact-tui broke it), the run records no more input (a tick, an
acknowledgement, a choice): :class:`~iact_tui.engine.run_lock.RunLockLost` is raised
instead, and the screen shows it with :func:`say_not_recorded`.
"""

from __future__ import annotations

from typing import Any

from textual.screen import Screen

from iact_tui.engine.run_lock import RunLockLost


def say_not_recorded(screen: Screen[Any], exc: RunLockLost) -> None:
    """Notify that the input was not recorded, with the lost lock's what and fix."""
    screen.notify(f"{exc.what}\n→ {exc.fix}", title="Not recorded: the run lock is lost", severity="error", timeout=15)
