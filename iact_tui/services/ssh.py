"""The ``ssh`` transport: :class:`SshHost` runs commands on a remote host over asyncssh.

It implements the same :class:`~iact_tui.services.remote.Host` protocol as ``LocalHost``:
one shell command at a time per call, output streamed line by line with stdout and
stderr apart, a timeout in seconds that really ends the remote command.

Design (the measured facts are in the team's TESTING.md):

- **One connection per host**, opened lazily by the first command under a lock, reused by
  every later command, reopened after it is lost or :meth:`SshHost.close`\\ d. At most
  ``max_channels`` (9) commands run at once on it; one more channel is kept for stopping
  commands, so OpenSSH's default ``MaxSessions 10`` is never exceeded.
- **The operator's ssh setup is honoured**: ``~/.ssh/config`` (Host aliases, HostName,
  User, Port, IdentityFile, ProxyJump) through asyncssh's ``config=``, ssh-agent and key
  files; options from ``iact-release.toml`` override the file.
- **Host keys are always verified** against a known_hosts file (the operator's
  ``~/.ssh/known_hosts`` by default; a missing file trusts nothing). There is no way to
  turn this off, and ``UserKnownHostsFile`` in the ssh config is not used. An unknown or
  changed key is an :class:`~iact_tui.errors.SshError` with the server key's SHA256
  fingerprint and the ``ssh-keyscan`` line that adds it.
- **Stopping a command**: the command runs as ``exec /bin/sh -c`` in the session's own
  process (OpenSSH makes every session a new session and process group, so the pid is
  the process group id) and first prints its pid on a marker line. On timeout or cancel
  the session gets ``SIGTERM`` through the channel (sshd allows that for non-root
  sessions only), and a second channel runs ``kill -s TERM -- -PGID``, then
  ``kill -s KILL`` after ``kill_grace`` seconds while a member that is not a zombie is
  left, so children and commands that ignore SIGTERM die too; only then is the channel
  closed. (A client-side timeout alone leaves the remote process running: no pty.)
- **Non-interactive**: no pty, stdin at end of file. A leading ``sudo`` becomes
  ``sudo -n``; any sudo that wants a password fails at once ("a password is required",
  or "a terminal is required" for a sudo further in the command) and is reported as a
  :class:`~iact_tui.errors.CommandError` naming the host and command.
- **Environment variables** are sent on the command's stdin (``export K='v'`` lines
  read by ``eval "$(cat)"`` in the wrapper), never in the command line that ``ps`` shows
  on the host; OpenSSH's ``AcceptEnv`` is off by default, so ``SendEnv`` is not relied on.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import secrets
import shlex
import signal
import socket
import time
from collections.abc import AsyncIterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import asyncssh

from iact_tui.errors import CommandError, SshError
from iact_tui.services.aio import within
from iact_tui.services.remote import (
    CommandResult,
    Line,
    LineDrain,
    pump_lines,
)

if TYPE_CHECKING:
    from iact_tui.config import EnvironmentConfig

DEFAULT_KNOWN_HOSTS = Path("~/.ssh/known_hosts")
DEFAULT_SSH_CONFIG = Path("~/.ssh/config")
MAX_CHANNELS = 9  # commands at once per connection; +1 channel for stops = OpenSSH's MaxSessions 10
_KEEPALIVE = 15.0  # seconds between keepalives, so a silently dead server is noticed (4 missed: lost)
_KILL_GRACE = 5.0  # seconds between SIGTERM and SIGKILL of the command's process group
_NAME_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_SUDO_RE = re.compile(r"^(\s*)sudo(?=\s)(?!\s+(-n|--non-interactive)(\s|$))")
_SUDO_PASSWORD_RE = re.compile(r"^sudo: (a password is required|a terminal is required|no tty present)")


class SshHost:
    """A remote host reached over SSH (asyncssh), implementing ``Host``.

    Args:
        host: Host name, address or ``~/.ssh/config`` alias to connect to.
        name: Shown beside every output line and in errors; defaults to ``host``.
        user: Login user; ``None`` leaves it to the ssh config (else the local user).
        port: TCP port; ``None`` leaves it to the ssh config (else 22).
        identity_file: Private key file; ``None``: the ssh config's ``IdentityFile``,
            ssh-agent and the default ``~/.ssh/id_*`` keys.
        known_hosts: The known_hosts file that host keys are verified against; ``None``:
            ``~/.ssh/known_hosts``. A missing file trusts no key.
        ssh_config: An OpenSSH client config file to honour; ``None``: none at all (see
            :func:`hosts_for_environment` for the ``~/.ssh/config`` default).
        proxy_jump: ``[user@]host[:port]`` (comma-separated for a chain) to jump through,
            overriding the ssh config's ``ProxyJump``; the jump hosts are verified against
            the same known_hosts file.
        connect_timeout: Seconds to connect, exchange keys and log in.
        max_channels: Commands that may run at once on the connection (at most 9, so
            that one more channel for stopping commands fits OpenSSH's ``MaxSessions 10``).
        kill_grace: Seconds between ``SIGTERM`` and ``SIGKILL`` when a command is stopped.

    Attributes:
        connections_opened: How many SSH connections this host has opened (tests and
            benchmarks check reuse with it).
    """

    def __init__(
        self,
        host: str,
        *,
        name: str | None = None,
        user: str | None = None,
        port: int | None = None,
        identity_file: Path | None = None,
        known_hosts: Path | None = None,
        ssh_config: Path | None = None,
        proxy_jump: str | None = None,
        connect_timeout: float = 10.0,
        max_channels: int = MAX_CHANNELS,
        kill_grace: float = _KILL_GRACE,
    ) -> None:
        if not 1 <= max_channels <= MAX_CHANNELS:
            raise ValueError(f"max_channels must be 1..{MAX_CHANNELS}, got {max_channels}")
        self.host = host
        self.name = name or host
        self.user = user
        self.port = port
        self.identity_file = identity_file
        self.known_hosts = known_hosts or DEFAULT_KNOWN_HOSTS
        self.ssh_config = ssh_config
        self.proxy_jump = proxy_jump
        self.connect_timeout = connect_timeout
        self.max_channels = max_channels
        self.kill_grace = kill_grace
        self.connections_opened = 0
        self._conn: asyncssh.SSHClientConnection | None = None
        self._jumps: list[asyncssh.SSHClientConnection] = []
        self._target = host  # "user@address:port" once resolved, for messages
        self._loop: asyncio.AbstractEventLoop | None = None
        self._lock = asyncio.Lock()
        self._channels = asyncio.Semaphore(max_channels)
        self._kill_lock = asyncio.Lock()

    def __repr__(self) -> str:
        return f"SshHost({self.host!r}, name={self.name!r})"

    # -- connection ------------------------------------------------------------------

    def _bind_loop(self) -> None:
        """Make the locks belong to the running loop (a host may outlive one loop)."""
        loop = asyncio.get_running_loop()
        if loop is not self._loop:
            self._loop = loop
            self._lock = asyncio.Lock()
            self._channels = asyncio.Semaphore(self.max_channels)
            self._kill_lock = asyncio.Lock()
            self._conn = None
            self._jumps = []

    async def connection(self) -> asyncssh.SSHClientConnection:
        """The host's connection, opened on first use and reused while it is up.

        Concurrent first callers share one connection attempt (a lock).

        Returns:
            The open asyncssh connection.

        Raises:
            SshError: The host is unknown or its key changed (with the SHA256
                fingerprint), refused the connection, rejected our keys, cannot be
                resolved, or did not answer within ``connect_timeout`` seconds.
        """
        self._bind_loop()
        conn = self._conn
        if conn is not None and not conn.is_closed():
            return conn
        async with self._lock:
            if self._conn is not None and not self._conn.is_closed():
                return self._conn
            await self._drop()
            self._conn = await self._open()
            self.connections_opened += 1
            return self._conn

    def _known_hosts_arg(self) -> Any:
        path = self.known_hosts.expanduser()
        if path.is_file():
            return str(path)
        return ([], [], [])  # trust nothing: an empty value would make asyncssh fall back to its default

    async def _options(self, host: str, **overrides: Any) -> asyncssh.SSHClientConnectionOptions:
        kwargs: dict[str, Any] = {
            "host": host,
            "config": [str(self.ssh_config.expanduser())] if self.ssh_config else None,
            "known_hosts": self._known_hosts_arg(),
            "connect_timeout": self.connect_timeout,
            "keepalive_interval": _KEEPALIVE,
            "keepalive_count_max": 4,
        }
        if self.identity_file is not None:
            kwargs["client_keys"] = [str(self.identity_file.expanduser())]
        kwargs.update({k: v for k, v in overrides.items() if v is not None})
        try:
            options: asyncssh.SSHClientConnectionOptions = await asyncssh.SSHClientConnectionOptions.construct(**kwargs)
            return options
        except (OSError, asyncssh.KeyImportError) as exc:
            raise SshError(
                f"{self.name}: cannot read the SSH key or config for {host}: {_reason(exc)}",
                "check identity_file and ssh_config in iact-release.toml (and the files' permissions)",
            ) from None
        except asyncssh.ConfigParseError as exc:
            raise SshError(
                f"{self.name}: the ssh config {self.ssh_config} is not valid: {exc}", "fix that line of the file"
            ) from None

    async def _open(self) -> asyncssh.SSHClientConnection:
        options = await self._options(self.host, username=self.user, port=self.port)
        self._target = f"{options.username}@{_hostport(options.host, options.port)}"
        jump_spec = self.proxy_jump or (options.tunnel if isinstance(options.tunnel, str) else None)
        tunnel: asyncssh.SSHClientConnection | None = None
        if jump_spec and jump_spec.lower() != "none":
            for hop in jump_spec.split(","):
                user, hop_host, hop_port = _parse_jump(hop)
                hop_options = await self._options(hop_host, username=user, port=hop_port)
                tunnel = await self._connect(hop_host, hop_options, tunnel, f"jump host {hop.strip()}")
                self._jumps.append(tunnel)
        return await self._connect(self.host, options, tunnel, "")

    async def _connect(
        self,
        host: str,
        options: asyncssh.SSHClientConnectionOptions,
        tunnel: asyncssh.SSHClientConnection | None,
        role: str,
    ) -> asyncssh.SSHClientConnection:
        where = f"{role} {_hostport(options.host, options.port)}" if role else _hostport(options.host, options.port)
        try:
            # tunnel=None overrides a ProxyJump from the ssh config: hops are opened above,
            # so that they too are verified against our known_hosts.
            return await within(asyncssh.connect(host, options=options, tunnel=tunnel), self.connect_timeout + 5)
        except asyncssh.HostKeyNotVerifiable:
            raise await self._host_key_error(options, tunnel, where) from None
        except asyncssh.PermissionDenied:
            raise SshError(
                f"{self.name}: {where} refused to log in {options.username} with our keys",
                f"check that {options.username}'s authorized_keys there holds your public key, that the key is "
                "loaded in ssh-agent or named by identity_file (or IdentityFile in ~/.ssh/config), and the user",
            ) from None
        except ConnectionRefusedError:
            raise SshError(
                f"{self.name}: {where} refused the connection",
                "check that sshd runs on that host and listens on that port (port / Port in ~/.ssh/config)",
            ) from None
        except socket.gaierror as exc:
            raise SshError(
                f"{self.name}: cannot resolve host name {options.host} ({exc.strerror})",
                "check the host name in hosts = [...] or HostName in ~/.ssh/config, and DNS",
            ) from None
        except TimeoutError:
            raise SshError(
                f"{self.name}: {where} did not answer within {self.connect_timeout:g} s",
                "check the address, the port, firewalls and the VPN; raise connect_timeout for a slow link",
            ) from None
        except (OSError, asyncssh.Error) as exc:
            raise SshError(
                f"{self.name}: cannot connect to {where}: {_reason(exc)}",
                "check the host, the port and that `ssh` with the same settings works from this machine",
            ) from None

    async def _host_key_error(
        self, options: asyncssh.SSHClientConnectionOptions, tunnel: asyncssh.SSHClientConnection | None, where: str
    ) -> SshError:
        host, port = str(options.host), int(options.port)
        known = self.known_hosts.expanduser()
        fingerprint = "its key could not be fetched"
        with contextlib.suppress(OSError, asyncssh.Error, TimeoutError):
            key = await within(
                asyncssh.get_server_host_key(host, port, tunnel=tunnel, config=None), self.connect_timeout
            )
            if key is not None:
                fingerprint = f"the server's {key.get_algorithm()} key is {key.get_fingerprint('sha256')}"
        changed = False
        if known.is_file():
            with contextlib.suppress(Exception):
                trusted = asyncssh.read_known_hosts(str(known)).match(host, "", port if port != 22 else None)[0]
                changed = bool(trusted)
        scan = f"ssh-keyscan -p {port} {host} >> {known}" if port != 22 else f"ssh-keyscan {host} >> {known}"
        if changed:
            return SshError(
                f"{self.name}: the host key of {where} does NOT match {known} (changed key, or someone in "
                f"between); {fingerprint}",
                "do not connect until the host's administrator confirms the new fingerprint; then remove the old "
                f"line (ssh-keygen -R '{_known_name(host, port)}' -f {known}) and run `{scan}`",
            )
        return SshError(
            f"{self.name}: {where} is not in {known} (unknown host key); {fingerprint}",
            f"check that fingerprint with the host's administrator (out of band), then run `{scan}`",
        )

    async def _drop(self) -> None:
        conns = [c for c in (self._conn, *reversed(self._jumps)) if c is not None]
        self._conn, self._jumps = None, []
        for conn in conns:
            conn.close()
            with contextlib.suppress(Exception):
                await within(conn.wait_closed(), 5)

    async def close(self) -> None:
        """Close the connection (and jump hosts); the next command opens a new one."""
        if self._loop is not asyncio.get_running_loop():
            self._conn, self._jumps = None, []
            return
        async with self._lock:
            await self._drop()

    # -- commands --------------------------------------------------------------------

    async def stream(
        self, command: str, *, cwd: str | None = None, timeout: float = 600.0, env: Mapping[str, str] | None = None
    ) -> AsyncIterator[Line | CommandResult]:
        """Run ``command`` with ``/bin/sh -c`` on the host (see :meth:`Host.stream`).

        Args:
            command: A shell command (values in it already validated and quoted). A
                leading ``sudo`` is run as ``sudo -n``.
            cwd: Remote working directory; ``None`` for the login directory.
            timeout: Seconds the command may run (from when its channel opens); then its
                whole process group is stopped and the result has ``timed_out=True`` and
                ``exit_status=None``. Cancelling the consumer stops it the same way.
            env: Extra environment variables, sent on stdin (not visible to ``ps``).

        Yields:
            Each output :class:`Line` as it arrives (stdout and stderr apart, decoded as
            UTF-8 with replacement), then the :class:`CommandResult`. A command killed
            by a signal has exit status 128 + the signal's number, as in a shell.

        Raises:
            SshError: No connection (see :meth:`connection`), or the connection was lost
                while the command ran.
            CommandError: ``cwd`` does not exist, an ``env`` name is not a valid
                variable name, or sudo wanted a password.
        """
        command = _SUDO_RE.sub(r"\1sudo -n", command, count=1)
        env_script = _env_script(self.name, env)
        marker = f"iact-{secrets.token_hex(6)}"
        wrapped = _wrap(command, cwd, marker, env=bool(env_script))
        self._bind_loop()
        async with self._channels:
            process = await self._start(wrapped, command)
            if env_script:
                process.stdin.write(env_script.encode())
            process.stdin.write_eof()
            started = time.monotonic()
            deadline = started + timeout
            queue: asyncio.Queue[Line | None] = asyncio.Queue(maxsize=10_000)
            header: asyncio.Future[tuple[str, int | None]] = asyncio.get_running_loop().create_future()
            stdout = _MarkedReader(process.stdout, marker, header)
            readers = [
                asyncio.create_task(pump_lines(stdout, "stdout", queue)),
                asyncio.create_task(pump_lines(process.stderr, "stderr", queue)),
            ]
            drain = LineDrain(queue, deadline)
            tails = drain.tails
            timed_out = finished = False
            try:
                async for item in drain:
                    yield item
                timed_out = drain.timed_out
                if not timed_out:
                    try:
                        await within(process.wait_closed(), max(deadline - time.monotonic(), 0.1))
                        finished = True
                    except TimeoutError:
                        timed_out = True
            finally:
                if not finished:
                    # Timeout, cancel by the consumer, or an error: never leave the command running.
                    pid = header.result()[1] if header.done() and not header.cancelled() else None
                    await asyncio.shield(self._stop(process, pid))
                for task in readers:
                    task.cancel()
                for task in readers:
                    with contextlib.suppress(asyncio.CancelledError, Exception):
                        await task
            duration = time.monotonic() - started
        kind = header.result()[0] if header.done() and not header.cancelled() else ""
        if not timed_out:
            if process.exit_status is None and process.exit_signal is None:
                if self._conn is not None and not self._conn.is_closed():
                    raise SshError(
                        f"{self.name}: sshd on {self._target} ended {command!r} without an exit status",
                        "look at the host's sshd log (auth.log / journal); the command may not have run",
                    )
                await self._forget_if_closed()
                raise SshError(
                    f"{self.name}: connection to {self._target} lost while running {command!r}",
                    "check the host and its sshd; the command may have finished or may still be running there, "
                    "so look before running the step again",
                )
            if kind == "nocwd":
                raise CommandError(
                    f"{self.name}: working directory {cwd} does not exist (or is not accessible) on {self._target}",
                    "check app_dir (and the step's cwd) in iact-release.toml, or create the checkout on the host",
                )
            if process.exit_status != 0 and any(_SUDO_PASSWORD_RE.match(t) for t in tails["stderr"]):
                raise CommandError(
                    f"{self.name}: sudo wants a password for {command!r} on {self._target} "
                    f"({next(t for t in tails['stderr'] if _SUDO_PASSWORD_RE.match(t))})",
                    "allow the login user to run exactly that command without a password (a sudoers NOPASSWD "
                    "rule); iact-tui never types passwords",
                )
        yield CommandResult(
            command=command,
            host=self.name,
            exit_status=None if timed_out else _status(process),
            duration=duration,
            stdout_tail=tuple(tails["stdout"]),
            stderr_tail=tuple(tails["stderr"]),
            timed_out=timed_out,
        )

    async def _start(self, wrapped: str, command: str) -> asyncssh.SSHClientProcess[bytes]:
        """Open a channel for the command.

        Reconnects once if the connection went away. A refused channel on a live
        connection is retried for up to about 3 seconds: sshd frees a session slot a
        moment after the channel's close reaches us, so a full ``MaxSessions`` can refuse
        a channel for a few milliseconds ("no more sessions" in its log).
        """
        reconnected = False
        delay = 0.01
        deadline = time.monotonic() + 3.0
        while True:
            conn = await self.connection()
            try:
                return await conn.create_process(wrapped, encoding=None, term_type=None)
            except (asyncssh.ChannelOpenError, asyncssh.DisconnectError, OSError) as exc:
                await self._forget_if_closed()
                if conn.is_closed() and not reconnected:
                    reconnected = True
                    continue
                if not conn.is_closed() and isinstance(exc, asyncssh.ChannelOpenError) and time.monotonic() < deadline:
                    await asyncio.sleep(delay)
                    delay = min(delay * 2, 0.2)
                    continue
                raise SshError(
                    f"{self.name}: cannot start {command!r} on {self._target}: {_reason(exc)}",
                    "check the host's sshd (MaxSessions, its log) and run the step again",
                ) from None

    async def _forget_if_closed(self) -> None:
        if self._conn is not None and self._conn.is_closed():
            async with self._lock:
                if self._conn is not None and self._conn.is_closed():
                    await self._drop()

    async def _stop(self, process: asyncssh.SSHClientProcess[bytes], pid: int | None) -> None:
        """End the remote command: SIGTERM its session, kill its process group, close the channel."""
        with contextlib.suppress(Exception):
            process.send_signal("TERM")  # sshd signals the session's own process (non-root sessions)
        conn = self._conn
        if pid is not None and conn is not None and not conn.is_closed():
            ticks = max(int(self.kill_grace * 10), 1)
            script = _KILL_SCRIPT.format(pgid=pid, ticks=ticks)
            command = f"exec /bin/sh -c {shlex.quote(script)}"
            async with self._kill_lock:
                for _ in range(30):  # a refused channel (sshd's session slots) is retried, ~3 s at most
                    try:
                        await within(conn.run(command, check=False), self.kill_grace + 10)
                        break
                    except asyncssh.ChannelOpenError:
                        if conn.is_closed():
                            break
                        await asyncio.sleep(0.1)
                    except (asyncssh.Error, OSError, TimeoutError):
                        break
        process.close()
        with contextlib.suppress(Exception):
            await within(process.wait_closed(), 2)


# Runs on the host through a second channel. Zombies (orphans waiting for init to reap
# them) still answer `kill -0`, so on Linux the group counts as alive only while a member
# that is not a zombie is left (/proc/PID/stat: "pid (comm) state ppid pgrp ...").
_KILL_SCRIPT = """\
alive() {{
  if [ ! -d /proc/self ]; then kill -s 0 -- -{pgid} 2>/dev/null; return; fi
  for f in /proc/[0-9]*/stat; do
    read -r line < "$f" 2>/dev/null || continue
    set -- ${{line##*) }}
    [ "$3" = {pgid} ] && [ "$1" != Z ] && return 0
  done
  return 1
}}
kill -s TERM -- -{pgid} 2>/dev/null || exit 0
i=0
while alive; do
  if [ $i -ge {ticks} ]; then kill -s KILL -- -{pgid} 2>/dev/null; exit 0; fi
  sleep 0.1; i=$((i+1))
done
"""


class _MarkedReader:
    """stdout of the wrapped command, minus the wrapper's marker line.

    The wrapper prints ``<marker> pid <pid>`` (or ``<marker> nocwd``) before the command
    starts; lines before it (a chatty login script) pass through as output.
    """

    def __init__(
        self,
        reader: asyncssh.SSHReader[bytes],
        marker: str,
        header: asyncio.Future[tuple[str, int | None]],
    ) -> None:
        self._reader = reader
        self._marker = marker.encode()
        self._header = header
        self._buffer = b""

    async def read(self, n: int) -> bytes:
        if self._header.done():
            if self._buffer:
                data, self._buffer = self._buffer, b""
                return data
            return await self._reader.read(n)
        while True:
            at = self._buffer.find(self._marker)
            end = self._buffer.find(b"\n", at) if at >= 0 else -1
            if end >= 0:
                fields = self._buffer[at + len(self._marker) : end].split()
                kind = fields[0].decode() if fields else ""
                pid = int(fields[1]) if kind == "pid" and len(fields) > 1 and fields[1].isdigit() else None
                self._header.set_result((kind, pid))
                before, self._buffer = self._buffer[:at], self._buffer[end + 1 :]
                if before:
                    return before
                return await self.read(n)
            chunk = await self._reader.read(n)
            if not chunk:
                self._header.set_result(("", None))
                data, self._buffer = self._buffer, b""
                return data
            self._buffer += chunk


def _wrap(command: str, cwd: str | None, marker: str, *, env: bool) -> str:
    """The command line sent to sshd (its login shell runs it with ``-c``)."""
    script = []
    if cwd is not None:
        script.append(f"cd -- {shlex.quote(cwd)} 2>/dev/null || {{ echo '{marker} nocwd'; exit 1; }}")
    script.append(f'echo "{marker} pid $$"')
    if env:
        script.append('eval "$(cat)"')  # export lines from stdin: values stay out of `ps`
    script.append(f"exec /bin/sh -c {shlex.quote(command)}")
    return f"exec /bin/sh -c {shlex.quote(chr(10).join(script))}"


def _env_script(host: str, env: Mapping[str, str] | None) -> str:
    lines = []
    for key, value in (env or {}).items():
        if not _NAME_RE.fullmatch(key):
            raise CommandError(
                f"{host}: {key!r} is not a valid environment variable name", "use letters, digits and _ only"
            )
        lines.append(f"export {key}={shlex.quote(value)}\n")
    return "".join(lines)


def _status(process: asyncssh.SSHClientProcess[bytes]) -> int | None:
    if process.exit_status is not None:
        return int(process.exit_status)
    if process.exit_signal is not None:
        try:
            return 128 + int(signal.Signals["SIG" + process.exit_signal[0]])
        except KeyError:
            return None
    return None


def _parse_jump(spec: str) -> tuple[str | None, str, int | None]:
    """``[user@]host[:port]`` → (user, host, port)."""
    spec = spec.strip()
    user, _, hostport = spec.rpartition("@")
    host, port = hostport, None
    match = re.fullmatch(r"\[(.+)\](?::(\d+))?|([^:]+)(?::(\d+))?", hostport)
    if match:
        host = match.group(1) or match.group(3)
        digits = match.group(2) or match.group(4)
        port = int(digits) if digits else None
    return user or None, host, port


def _hostport(host: object, port: object) -> str:
    return f"{host}:{port}"


def _known_name(host: str, port: int) -> str:
    return host if port == 22 else f"[{host}]:{port}"


def _reason(exc: BaseException) -> str:
    if isinstance(exc, OSError) and exc.strerror and exc.filename:
        return f"{exc.strerror}: {exc.filename}"
    text = getattr(exc, "reason", None) or getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
    return str(text).strip()


def _path(value: str, root: Path | None) -> Path | None:
    if not value:
        return None
    path = Path(value).expanduser()
    if not path.is_absolute() and root is not None:
        path = root / path
    return path


def hosts_for_environment(env_name: str, env: EnvironmentConfig, *, root: Path | None = None) -> list[SshHost]:
    """One :class:`SshHost` per host of an ``ssh`` environment, in the configured order.

    Args:
        env_name: The environment's name (for messages).
        env: Its validated config (``transport = "ssh"``).
        root: Folder that relative ``identity_file``, ``known_hosts`` and ``ssh_config``
            paths are relative to (the config file's folder); ``~`` is expanded.

    Returns:
        The hosts; each opens its connection on its first command. Batches of
        ``env.serial`` hosts are the caller's business.

    Raises:
        SshError: The environment has no hosts.
    """
    if not env.hosts:
        raise SshError(f"[environments.{env_name}] has no hosts", 'list them: hosts = ["web1", ...]')
    ssh_config = _path(env.ssh_config, root)
    if ssh_config is None and DEFAULT_SSH_CONFIG.expanduser().is_file():
        ssh_config = DEFAULT_SSH_CONFIG.expanduser()
    return [
        SshHost(
            host,
            user=env.user or None,
            port=env.port,
            identity_file=_path(env.identity_file, root),
            known_hosts=_path(env.known_hosts, root),
            ssh_config=ssh_config,
            proxy_jump=env.proxy_jump or None,
            connect_timeout=env.connect_timeout,
        )
        for host in env.hosts
    ]


__all__: Sequence[str] = [
    "DEFAULT_KNOWN_HOSTS",
    "DEFAULT_SSH_CONFIG",
    "MAX_CHANNELS",
    "SshHost",
    "hosts_for_environment",
]
