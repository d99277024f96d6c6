"""Hosts that run commands: the ``Host`` protocol and the ``local`` transport.

A host runs one shell command at a time for a step, streaming its output line by line
with stdout and stderr kept apart, under a timeout in seconds, and stops the command
(SIGTERM to its process group, then SIGKILL) when the timeout passes or the consumer is
cancelled. A local command also dies with iact-tui itself (``kill -9``, a crash): see
:data:`GUARD`. ``SshHost`` (asyncssh, in ``services/ssh.py``) implements the same protocol;
:func:`make_hosts` builds the right hosts for an environment's config.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import time
from collections import deque
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Literal, Protocol

from iact_tui.errors import CommandError
from iact_tui.services.aio import within

if TYPE_CHECKING:
    from iact_tui.config import EnvironmentConfig

StreamName = Literal["stdout", "stderr"]
_CHUNK = 64 * 1024  # bytes read per call: splitting lines ourselves is ~5x faster than readline()
TAIL_LINES = 20  # lines kept per stream in a CommandResult
_KILL_GRACE = 5.0  # seconds between SIGTERM and SIGKILL


@dataclass(frozen=True)
class Line:
    """One line of a command's output (newline removed, decoded as UTF-8 with replacement).

    Attributes:
        stream: ``"stdout"`` or ``"stderr"``.
        text: The line without its newline (and without a trailing ``\\r``).
        at: When it was read, as ``time.time()`` (seconds since the epoch).
    """

    stream: StreamName
    text: str
    at: float = field(default_factory=time.time)


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


#: The shell script every local command runs under (``/bin/sh -c GUARD iact-guard
#: COMMAND``, its standard input the read end of a pipe whose only write end iact-tui
#: holds). It runs the command in the background with its input from ``/dev/null`` and
#: starts a guard that waits for end-of-file on that pipe: the kernel closes iact-tui's
#: end when iact-tui dies in any way, even SIGKILL, and the guard then SIGKILLs the whole
#: process group (the command, every child of it, the guard). When the command ends the
#: guard is stopped first, so iact-tui closing its end afterwards kills nothing (a server
#: a command started in its own session lives on, as before). The exit status is the
#: command's (128 + N when a signal N killed it).
#:
#: Why not ``prctl(PR_SET_PDEATHSIG)``: it needs ``preexec_fn`` (Python code between
#: fork and exec, unsafe while other threads run: the UI's to_thread workers), it is
#: Linux only, and it reaches only the direct child: ``sh -c "a; b"`` forks ``a``, which
#: would live on.
GUARD = (
    "exec 3<&0 </dev/null\n"
    '/bin/sh -c "$1" 3<&- &\n'
    "command=$!\n"
    "{ while read -r _ <&3; do :; done; kill -KILL 0; } >/dev/null 2>&1 &\n"
    "guard=$!\n"
    "exec 3<&-\n"
    'wait "$command"\n'
    "status=$?\n"
    'kill "$guard" 2>/dev/null\n'
    'exit "$status"\n'
)


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
        # The guard's pipe (see GUARD): both ends close-on-exec, so no other child of
        # iact-tui holds the write end and only iact-tui's death (or the close below) ends it.
        guard_read, guard_write = os.pipe()
        spawn = asyncio.ensure_future(
            asyncio.create_subprocess_exec(
                "/bin/sh",
                "-c",
                GUARD,
                "iact-guard",
                command,
                cwd=cwd,
                env=full_env,
                stdin=guard_read,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
                start_new_session=True,  # its own process group, so a stop reaches its children
            )
        )
        try:
            # Shielded: a cancel while the process starts made asyncio kill the guard shell
            # alone and wait for its pipes, which the command (its grandchild) held open
            # until it ended (found by the hang-up test: a stop took the command's 30 s).
            proc = await asyncio.shield(spawn)
        except OSError as exc:
            os.close(guard_write)
            raise CommandError(
                f"{self.name}: cannot start {command!r}: {exc}", "check the command in iact-release.toml"
            ) from None
        except asyncio.CancelledError:
            with contextlib.suppress(Exception):
                started_proc = await spawn  # it starts; then its whole group is stopped
                await _stop(started_proc)
            os.close(guard_write)
            raise
        finally:
            os.close(guard_read)
        try:
            # aclosing: a consumer that stops early stops the command now (SIGTERM first),
            # not when the inner generator is collected.
            async with contextlib.aclosing(self._follow(proc, command, started, timeout)) as follow:
                async for item in follow:
                    yield item
        finally:
            os.close(guard_write)

    async def _follow(
        self, proc: asyncio.subprocess.Process, command: str, started: float, timeout: float
    ) -> AsyncGenerator[Line | CommandResult, None]:
        """Stream a started command's lines, then its :class:`CommandResult` (see :meth:`stream`)."""
        queue: asyncio.Queue[Line | None] = asyncio.Queue(maxsize=10_000)
        assert proc.stdout is not None and proc.stderr is not None
        readers = [
            asyncio.create_task(pump_lines(proc.stdout, "stdout", queue)),
            asyncio.create_task(pump_lines(proc.stderr, "stderr", queue)),
        ]
        deadline = started + timeout
        drain = LineDrain(queue, deadline)
        tails = drain.tails
        timed_out = False
        try:
            async for item in drain:
                yield item
            timed_out = drain.timed_out
            if timed_out:
                await _stop(proc)
            else:
                remaining = max(deadline - time.monotonic(), 0.1)
                try:
                    await within(proc.wait(), remaining)
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


class ByteReader(Protocol):
    """Anything with an async ``read(n)`` of bytes (asyncio and asyncssh stream readers)."""

    def read(self, n: int, /) -> Awaitable[bytes]:
        """Up to ``n`` bytes; ``b""`` at end of stream."""
        ...


#: Longest line kept whole, in bytes; a longer one is split into pieces this long.
MAX_LINE_BYTES = 1024 * 1024


async def pump_lines(reader: ByteReader, stream: StreamName, queue: asyncio.Queue[Line | None]) -> None:
    """Read ``reader`` in 64 KiB chunks and put each line on ``queue``, then ``None``.

    Splitting lines ourselves is about 5x faster than ``readline()``. A last line without
    a newline is put too; ``None`` is put even when reading fails (the error propagates).
    Memory stays bounded: a line longer than :data:`MAX_LINE_BYTES` (output with no
    newline at all, a minified file dumped to the log) is put in pieces of that size.
    """
    pending = b""
    try:
        while True:
            chunk = await reader.read(_CHUNK)
            if not chunk:
                break
            pending += chunk
            *lines, pending = pending.split(b"\n")
            while len(pending) >= MAX_LINE_BYTES:
                lines.append(pending[:MAX_LINE_BYTES])
                pending = pending[MAX_LINE_BYTES:]
            for raw in lines:
                line = Line(stream, raw.rstrip(b"\r").decode("utf-8", errors="replace"))
                try:
                    queue.put_nowait(line)  # the common case; awaiting put() per line costs ~3x
                except asyncio.QueueFull:
                    await queue.put(line)
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
            await within(proc.wait(), wait)
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


async def run_collect(
    host: Host, command: str, *, timeout: float = 60.0, max_lines: int = 100_000
) -> tuple[CommandResult, list[str]]:
    """Run a command to the end; its result and its first stdout lines (the result keeps only 20).

    Args:
        host: Where to run it.
        command: The shell command (values in it already validated and quoted).
        timeout: Seconds before it is stopped (see :meth:`Host.stream`).
        max_lines: Most stdout lines kept (later ones are read and dropped).

    Raises:
        CommandError: The command could not be started.
    """
    out: list[str] = []
    result: CommandResult | None = None
    async for item in host.stream(command, timeout=timeout):
        if isinstance(item, CommandResult):
            result = item
        elif item.stream == "stdout" and len(out) < max_lines:
            out.append(item.text)
    assert result is not None
    return result, out


class LineDrain:
    """Output lines from a queue fed by :func:`pump_lines` (one producer per stream),
    until every stream has ended or the deadline passes.

    Iterate it for the lines; afterwards :attr:`timed_out` says whether the deadline
    ended it, and :attr:`tails` holds each stream's last lines.

    Args:
        queue: Where the producers put ``Line``s and, when a stream ends, ``None``.
        deadline: ``time.monotonic()`` value after which the command has timed out.
        streams: How many producers feed the queue.
    """

    def __init__(self, queue: asyncio.Queue[Line | None], deadline: float, streams: int = 2) -> None:
        self.queue = queue
        self.deadline = deadline
        self.open_streams = streams
        self.timed_out = False
        self.tails: dict[StreamName, deque[str]] = {
            "stdout": deque(maxlen=TAIL_LINES),
            "stderr": deque(maxlen=TAIL_LINES),
        }

    async def __aiter__(self) -> AsyncIterator[Line]:
        while self.open_streams:
            remaining = self.deadline - time.monotonic()
            if remaining <= 0:
                self.timed_out = True
                return
            try:
                # get_nowait when lines wait: a timed wait per line costs a timer each
                item = self.queue.get_nowait() if not self.queue.empty() else await within(self.queue.get(), remaining)
            except TimeoutError:
                self.timed_out = True
                return
            if item is None:
                self.open_streams -= 1
                continue
            self.tails[item.stream].append(item.text)
            yield item


def make_hosts(env_name: str, env: EnvironmentConfig, *, root: Path | None = None) -> list[Host]:
    """Every host of an environment: one ``LocalHost``, or one ``SshHost`` per ``hosts`` entry.

    Args:
        env_name: The environment's name (the local host's name).
        env: The environment's validated config.
        root: Folder that relative ssh file paths (``identity_file``, ``known_hosts``,
            ``ssh_config``) are relative to: the config file's folder.

    Returns:
        The hosts in configured order; SSH hosts connect on their first command.
        Running them in batches of ``env.serial`` is the deploy step's business.

    Raises:
        SshError: An ``ssh`` environment without hosts.
    """
    if env.transport == "ssh":
        from iact_tui.services.ssh import hosts_for_environment  # asyncssh only when needed

        return list(hosts_for_environment(env_name, env, root=root))
    return [LocalHost(env_name)]


def make_host(env_name: str, env: EnvironmentConfig | str, *, root: Path | None = None) -> Host:
    """The one host of an environment (see :func:`make_hosts` for several).

    Args:
        env_name: The environment's name.
        env: Its config, or just the transport's name (``"local"`` only).
        root: See :func:`make_hosts`.

    Raises:
        CommandError: An unknown transport, ``"ssh"`` given without the environment's
            config, or an ``ssh`` environment with more than one host.
        SshError: An ``ssh`` environment without hosts.
    """
    if isinstance(env, str):
        if env == "local":
            return LocalHost(env_name)
        raise CommandError(
            f"transport {env!r} needs the environment's settings", "pass the EnvironmentConfig to make_host"
        )
    hosts = make_hosts(env_name, env, root=root)
    if len(hosts) != 1:
        raise CommandError(
            f"[environments.{env_name}] has {len(hosts)} hosts; this step runs on one",
            "use make_hosts() and run the hosts in batches of `serial`",
        )
    return hosts[0]
