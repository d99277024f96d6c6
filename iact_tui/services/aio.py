"""Small asyncio helpers that the services share."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import TypeVar

T = TypeVar("T")


async def within(awaitable: Awaitable[T], seconds: float) -> T:
    """Await ``awaitable`` for at most ``seconds``; a cancel is never lost.

    Use this, not ``asyncio.wait_for``: on Python 3.11, ``wait_for`` returns the result
    when a cancel lands in the same loop turn as the result (CPython issue gh-86296,
    fixed in 3.12). The deploy lost the operator's stop that way when a command's output
    line arrived together with it: the command ran on to its end, then the rest of the
    recipe. ``asyncio.timeout`` counts cancels (``Task.cancelling``) and lets one through.

    Args:
        awaitable: A coroutine or future. On a timeout or a cancel it is cancelled,
            unless it is wrapped in ``asyncio.shield``.
        seconds: The longest wait, in seconds (0 or less times out at the first await).

    Returns:
        What ``awaitable`` returns.

    Raises:
        TimeoutError: ``seconds`` passed first.
        asyncio.CancelledError: the calling task was cancelled meanwhile, whatever else
            finished in the same turn.
    """
    async with asyncio.timeout(seconds):
        return await awaitable
