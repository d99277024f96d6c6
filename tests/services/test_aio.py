"""within(): a timed wait that never loses a cancel (asyncio.wait_for on 3.11 does)."""

from __future__ import annotations

import asyncio
import time

import pytest

from iact_tui.services.aio import within
from iact_tui.services.remote import Line, LineDrain


async def test_returns_what_the_awaitable_returns() -> None:
    async def answer() -> int:
        await asyncio.sleep(0)
        return 42

    assert await within(answer(), 5) == 42


async def test_a_timeout_raises_and_cancels_the_awaited_work() -> None:
    inner_cancelled = asyncio.Event()

    async def slow() -> None:
        try:
            await asyncio.sleep(30)
        except asyncio.CancelledError:
            inner_cancelled.set()
            raise

    started = time.monotonic()
    with pytest.raises(TimeoutError):
        await within(slow(), 0.05)
    assert time.monotonic() - started < 5
    assert inner_cancelled.is_set()


async def test_a_cancel_landing_with_the_result_still_cancels_the_caller() -> None:
    """The result and the cancel in one loop turn: the caller is cancelled all the same.

    This is the turn in which ``asyncio.wait_for`` (Python 3.11) returns the result and
    drops the cancel.
    """
    result: asyncio.Future[str] = asyncio.get_running_loop().create_future()
    went_on = False

    async def waiter() -> None:
        nonlocal went_on
        await within(asyncio.shield(result), 60)
        went_on = True

    task = asyncio.create_task(waiter())
    await asyncio.sleep(0.01)  # it waits now
    result.set_result("line")
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert not went_on


async def test_line_drain_lets_a_stop_through_when_a_line_arrives_in_the_same_turn() -> None:
    """The deploy's lost stop: the host's stream was cancelled just as an output line came.

    The line stays queued (nothing is lost) and the consumer ends cancelled instead of
    reading on until the command's end.
    """
    queue: asyncio.Queue[Line | None] = asyncio.Queue()
    drain = LineDrain(queue, time.monotonic() + 60)
    got: list[str] = []

    async def consume() -> None:
        async for line in drain:
            got.append(line.text)

    task = asyncio.create_task(consume())
    await asyncio.sleep(0.01)  # waiting for a line now
    line = Line("stdout", "started-slow")
    queue.put_nowait(line)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await asyncio.wait_for(task, 5)
    assert got == []
    assert queue.get_nowait() is line
