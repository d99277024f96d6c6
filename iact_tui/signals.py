"""SIGHUP and SIGTERM stop a run the way a confirmed quit (or Ctrl+C) does.

A terminal closed or an SSH session dropped sends SIGHUP; ``kill`` and service managers
send SIGTERM. The default action of both ends the process at once, in the middle of a
deploy: the site stays in maintenance mode and the deploy lock stays on the host. Both
front ends (the wizard and ``iact-tui run``) install :func:`install` instead, so the
running step is cancelled, a deploy runs its post commands and releases its lock, and
the run's end is journaled before the process exits.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
from collections.abc import Callable, Iterator

#: The signals that stop a run: the terminal or SSH session went away (SIGHUP), or the
#: process was asked to end (SIGTERM).
STOP_SIGNALS = (signal.SIGHUP, signal.SIGTERM)


#: What must still happen when the wizard leaves at once after a hang-up (it exits with
#: ``os._exit``: restoring a terminal that is gone can block, so ``finally`` blocks and
#: ``atexit`` do not run). See :func:`on_hangup`.
_HANGUP_CLEANUPS: list[Callable[[], object]] = []


@contextlib.contextmanager
def on_hangup(cleanup: Callable[[], object]) -> Iterator[None]:
    """While inside, :func:`run_hangup_cleanups` calls ``cleanup`` (the demo's servers are
    stopped this way when the terminal of ``iact-tui --demo`` closes). Do the same cleanup
    in a ``finally`` for the normal exit too.

    Args:
        cleanup: Called with no arguments; what it raises is ignored.
    """
    _HANGUP_CLEANUPS.append(cleanup)
    try:
        yield
    finally:
        with contextlib.suppress(ValueError):
            _HANGUP_CLEANUPS.remove(cleanup)


def run_hangup_cleanups() -> None:
    """Call the cleanups registered with :func:`on_hangup`, newest first, once each.
    Never raises."""
    while _HANGUP_CLEANUPS:
        cleanup = _HANGUP_CLEANUPS.pop()
        with contextlib.suppress(Exception):
            cleanup()


def detach_terminal() -> None:
    """Point standard output and error at ``/dev/null`` when they are a terminal (the
    one that hung up): later writes, Textual's included, would fail with EIO. Never raises."""
    for fd in (1, 2):
        with contextlib.suppress(OSError):
            if os.isatty(fd):
                null = os.open(os.devnull, os.O_WRONLY)
                os.dup2(null, fd)
                os.close(null)


def install(stop: Callable[[str], None], loop: asyncio.AbstractEventLoop | None = None) -> Callable[[], None]:
    """Call ``stop(name)`` (``"SIGHUP"`` or ``"SIGTERM"``) on the event loop when one of
    :data:`STOP_SIGNALS` arrives; on SIGHUP the terminal is detached first
    (:func:`detach_terminal`).

    Args:
        stop: What the front end does to stop (cancel the running step, journal the end,
            exit); called once per signal received.
        loop: The running loop (``None``: the current one). Must be the main thread's.

    Returns:
        A function that removes the handlers again (the signals' defaults come back).
    """
    loop = loop or asyncio.get_running_loop()
    installed: list[int] = []

    def received(signum: int) -> None:
        if signum == signal.SIGHUP:
            detach_terminal()
        stop(signal.Signals(signum).name)

    for sig in STOP_SIGNALS:
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
            loop.add_signal_handler(sig, received, sig)
            installed.append(sig)

    def remove() -> None:
        for sig in installed:
            with contextlib.suppress(RuntimeError, ValueError):
                loop.remove_signal_handler(sig)

    return remove
