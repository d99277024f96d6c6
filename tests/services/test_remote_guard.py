"""services/remote.py: a local command dies with iact-tui (``kill -9`` included), its
children too; when iact-tui lives on, the command's end kills nothing it left running."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import textwrap
import time
import uuid
from pathlib import Path

from iact_tui.services.remote import LocalHost, run_capture

CHILD = textwrap.dedent(
    """
    import asyncio, sys
    from iact_tui.services.remote import LocalHost

    async def main() -> None:
        async for item in LocalHost("t").stream(sys.argv[1], timeout=120):
            print(getattr(item, "text", item), flush=True)

    asyncio.run(main())
    """
)


def _alive(marker: str) -> list[str]:
    return subprocess.run(["pgrep", "-f", f"^{marker}$"], capture_output=True, text=True).stdout.split()


def _gone_within(marker: str, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if not _alive(marker):
            return True
        time.sleep(0.05)
    return False


def test_a_local_command_and_its_children_die_when_iact_tui_is_killed() -> None:
    marker = f"sleep 30.{uuid.uuid4().int % 10**6:06d}"
    # sh forks the sleeps: a grandchild and a great-grandchild of the killed process.
    command = f"echo started; ({marker}) & {marker}; echo never"
    proc = subprocess.Popen([sys.executable, "-c", CHILD, command], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == "started"
        deadline = time.monotonic() + 10
        while len(_alive(marker)) < 2 and time.monotonic() < deadline:
            time.sleep(0.02)
        assert len(_alive(marker)) == 2
        proc.send_signal(signal.SIGKILL)  # the process only, never its group
        proc.wait(timeout=10)
        assert _gone_within(marker, 3.0), f"left running: {_alive(marker)}"
    finally:
        for pid in _alive(marker):
            os.kill(int(pid), signal.SIGKILL)


async def test_exit_status_and_output_are_the_commands() -> None:
    result = await run_capture(LocalHost("t"), "echo out; echo err >&2; exit 3")
    assert (result.exit_status, result.stdout_tail, result.stderr_tail) == (3, ("out",), ("err",))
    killed = await run_capture(LocalHost("t"), "kill -TERM $$")
    assert killed.exit_status == 128 + signal.SIGTERM
    # The command reads nothing from iact-tui: its input is /dev/null, not the guard's pipe.
    read = await run_capture(LocalHost("t"), "cat; echo done")
    assert read.ok and read.stdout_tail == ("done",)


async def test_a_server_started_in_its_own_session_outlives_the_command(tmp_path: Path) -> None:
    marker = f"sleep 31.{uuid.uuid4().int % 10**6:06d}"
    pid_file = tmp_path / "pid"
    try:
        result = await run_capture(
            LocalHost("t"), f"setsid sh -c 'echo $$ > {pid_file}; exec {marker}' >/dev/null 2>&1 & sleep 0.2"
        )
        assert result.ok
        time.sleep(0.3)
        assert _alive(marker), "the detached server was killed when the command ended"
    finally:
        for pid in _alive(marker):
            os.kill(int(pid), signal.SIGKILL)


async def test_a_cancel_while_the_command_starts_stops_it_at_once() -> None:
    """Found by the hang-up test: cancelled while the process was being spawned, asyncio
    killed the guard shell alone and waited for its pipes, which the command kept open to
    its end; the stop took the command's whole duration."""
    import asyncio

    for attempt in range(5):  # the spawn takes milliseconds: hit it at a few points
        marker = f"sleep 30.{uuid.uuid4().int % 10**6:06d}"

        async def consume(marker: str = marker) -> None:
            async for _item in LocalHost("t").stream(f"echo started; {marker}", timeout=120):
                pass

        task = asyncio.create_task(consume())
        for _ in range(attempt):
            await asyncio.sleep(0)
        started = time.monotonic()
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.wait_for(task, 10)
        took = time.monotonic() - started
        assert took < 5, f"the cancel took {took:.1f} s (attempt {attempt})"
        assert _gone_within(marker, 3.0), f"left running: {_alive(marker)}"
