"""Hosts that run commands: the ``Host`` protocol and the ``local`` transport.

A host runs one shell command at a time for a step, streaming its output line by line
with stdout and stderr kept apart, under a timeout in seconds, and stops the command
(SIGTERM to its process group, then SIGKILL) when the timeout passes or the consumer is
cancelled. ``SshHost`` (asyncssh) will implement the same protocol.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import time
from collections import deque
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, Protocol

from iact_tui.errors import CommandError

StreamName = Literal["stdout", "stderr"]
_CHUNK = 64 * 1024  # bytes read per call: splitting lines ourselves is ~5x faster than readline()
_TAIL = 20  # lines kept per stream in a CommandResult
_KILL_GRACE = 5.0  # seconds between SIGTERM and SIGKILL


@dataclass(frozen=True)
class Line:
    """One line of a command's output (newline removed, decoded as UTF-8 with replacement)."""

    stream: StreamName
    text: str


@dataclass(frozen=True)
class CommandResult:
    """What one command did.

    Attributes:
        command: The command as run.
        host: The host's name.
        exit_status: The exit status; ``None`` if it was killed (timeout or cancel).
        duration: Seconds from start to end.
        stdout_tail: The last lines of stdout (at most 20).
        stderr_tail: The last lines of stderr (at most 20).
        timed_out: True when it was stopped for passing its timeout.
    """

    command: str
    host: str
    exit_status: int | None
    duration: float
    stdout_tail: tuple[str, ...]
    stderr_tail: tuple[str, ...]
    timed_out: bool = False

    @property
    def ok(self) -> bool:
        """True when the command exited with status 0."""
        return self.exit_status == 0


class Host(Protocol):
    """Somewhere deploy commands run."""

    name: str

    def stream(
        self, command: str, *, cwd: str | None = None, timeout: float = 600.0, env: Mapping[str, str] | None = None
    ) -> AsyncIterator[Line | CommandResult]:
        """Run ``command`` with ``/bin/sh -c``, yielding each output :class:`Line` as it
        arrives and, last, the :class:`CommandResult`.

        Args:
            command: A shell command (values in it already validated and quoted).
            cwd: Working directory on the host; ``None`` for the host's default.
            timeout: Seconds before the command is stopped and reported as timed out.
            env: Extra environment variables for the command.

        Raises:
            CommandError: The command could not be started (e.g. ``cwd`` missing).
        """
        ...

    async def close(self) -> None:
        """Release connections; the host can be used again afterwards."""
        ...


class LocalHost:
    """The ``local`` transport: commands run as subprocesses on this machine.

    Args:
        name: Shown beside every output line (usually the environment's name).
    """

    def __init__(self, name: str) -> None:
        self.name = name

    async def close(self) -> None:
        """Nothing to release for local subprocesses."""

    async def stream(
        self, command: str, *, cwd: str | None = None, timeout: float = 600.0, env: Mapping[str, str] | None = None
    ) -> AsyncIterator[Line | CommandResult]:
        """See :meth:`Host.stream`."""
        if cwd is not None and not await asyncio.to_thread(Path(cwd).is_dir):
            raise CommandError(
                f"{self.name}: working directory {cwd} does not exist", "check app_dir in iact-release.toml"
            )
        started = time.monotonic()
        full_env = {**os.environ, **(env or {})}
        full_env.pop("VIRTUAL_ENV", None)
        try:
            proc = await asyncio.create_subprocess_exec(
                "/bin/sh",
                "-c",
                command,
                cwd=cwd,
                env=full_env,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
                start_new_session=True,  # its own process group, so a stop reaches its children
            )
        except OSError as exc:
            raise CommandError(
                f"{self.name}: cannot start {command!r}: {exc}", "check the command in iact-release.toml"
            ) from None
        queue: asyncio.Queue[Line | None] = asyncio.Queue(maxsize=10_000)
        tails: dict[StreamName, deque[str]] = {"stdout": deque(maxlen=_TAIL), "stderr": deque(maxlen=_TAIL)}
        assert proc.stdout is not None and proc.stderr is not None
        readers = [
            asyncio.create_task(_pump(proc.stdout, "stdout", queue)),
            asyncio.create_task(_pump(proc.stderr, "stderr", queue)),
        ]
        deadline = started + timeout
        open_streams = 2
        timed_out = False
        try:
            while open_streams:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    timed_out = True
                    break
                try:
                    item = await asyncio.wait_for(queue.get(), remaining)
                except TimeoutError:
                    timed_out = True
                    break
                if item is None:
                    open_streams -= 1
                    continue
                tails[item.stream].append(item.text)
                yield item
            if timed_out:
                await _stop(proc)
            else:
                remaining = max(deadline - time.monotonic(), 0.1)
                try:
                    await asyncio.wait_for(proc.wait(), remaining)
                except TimeoutError:
                    timed_out = True
                    await _stop(proc)
        finally:
            if proc.returncode is None:
                # Cancelled by the consumer (or an error): never leave the command running.
                await asyncio.shield(_stop(proc))
            for task in readers:
                task.cancel()
            for task in readers:
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
        status = None if timed_out else proc.returncode
        yield CommandResult(
            command=command,
            host=self.name,
            exit_status=status,
            duration=time.monotonic() - started,
            stdout_tail=tuple(tails["stdout"]),
            stderr_tail=tuple(tails["stderr"]),
            timed_out=timed_out,
        )


async def _pump(reader: asyncio.StreamReader, stream: StreamName, queue: asyncio.Queue[Line | None]) -> None:
    pending = b""
    try:
        while True:
            chunk = await reader.read(_CHUNK)
            if not chunk:
                break
            pending += chunk
            *lines, pending = pending.split(b"\n")
            for raw in lines:
                await queue.put(Line(stream, raw.rstrip(b"\r").decode("utf-8", errors="replace")))
        if pending:
            await queue.put(Line(stream, pending.rstrip(b"\r").decode("utf-8", errors="replace")))
    finally:
        await queue.put(None)


async def _stop(proc: asyncio.subprocess.Process) -> None:
    """SIGTERM the process group, then SIGKILL after a grace period."""
    for sig, wait in ((signal.SIGTERM, _KILL_GRACE), (signal.SIGKILL, _KILL_GRACE)):
        if proc.returncode is not None:
            return
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, sig)
        try:
            await asyncio.wait_for(proc.wait(), wait)
            return
        except TimeoutError:
            continue


async def run_capture(host: Host, command: str, *, cwd: str | None = None, timeout: float = 60.0) -> CommandResult:
    """Run a command to the end, discarding streamed lines; returns its result."""
    result: CommandResult | None = None
    async for item in host.stream(command, cwd=cwd, timeout=timeout):
        if isinstance(item, CommandResult):
            result = item
    assert result is not None
    return result


def make_host(env_name: str, transport: str) -> Host:
    """The host for an environment's transport.

    Raises:
        CommandError: An unknown transport.
    """
    if transport == "local":
        return LocalHost(env_name)
    raise CommandError(f"transport {transport!r} is not supported yet", 'use transport = "local"')
