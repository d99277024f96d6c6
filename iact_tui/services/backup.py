"""The production database backup: ``pg_dump`` to a dated file on a host, then verified.

This module owns the backup's shell commands and their checks; it knows nothing of the
config file or the UI, and talks to the database host only through the
:class:`~iact_tui.services.remote.Host` protocol (local or SSH alike).

A backup (:func:`take_backup`) is four commands on the host:

1. **prepare** – ``pg_dump`` and ``pg_restore`` exist; the directory exists (created
   with mode 700 if missing) and is writable; neither the dated file nor its
   ``.partial`` twin exists.
2. **dump** – ``pg_dump --format=custom --no-password --verbose`` writes to
   ``<file>.partial``, created with ``set -C`` (noclobber) and ``umask 077``; its
   progress lines stream to the caller. A non-zero exit removes the partial file.
3. **verify** – the partial file is non-empty and ``pg_restore --list`` reads it (exit
   0, at least one entry); its entries are counted.
4. **publish** – ``ln`` gives the partial file its final name (a hard link never
   replaces an existing file), the partial name is removed, and the size is read.

So a file named ``*.dump`` always passed every check; a dump that failed, timed out or
was cancelled has its ``.partial`` file removed (best effort: a host that dies mid-dump
can leave a ``.partial`` file, never a ``.dump``).

**The password.** The recommended setup is a ``~/.pgpass`` (mode 600) for the backup
user on the database host, with no ``password_env``: no secret leaves iact-tui at all.
With ``password_env`` (or a :class:`Secret` passed in), the value goes to the host as
the ``PGPASSWORD`` environment variable through ``Host.stream(env=...)``, never in the
command text (so never in any process's argv that this module builds, nor in the
command shown and journaled). On the local host that environment is readable only by
the same user and root (``/proc/<pid>/environ``). Over SSH, how ``env`` reaches the
remote process is the SSH host's business: if it has to spell the variable out in the
remote command line (``export PGPASSWORD=...``), the password is visible to other
users of that host through ``ps`` while the backup runs — which is why ``.pgpass`` is
recommended there. The ``Host`` protocol has no stdin, so a password file written from
stdin is not an option. ``--no-password`` makes a missing password fail at once instead
of waiting at a prompt.
"""

from __future__ import annotations

import os
import posixpath
import re
import shlex
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from iact_tui.errors import BackupError
from iact_tui.services.remote import CommandResult, Host, Line
from iact_tui.services.secrets import Secret

_CONNECT_TIMEOUT = 30  # seconds libpq waits for the server (PGCONNECT_TIMEOUT), so a wrong host fails fast
_CONFIG_FIX = "check the backup settings in iact-release.toml"

# Values interpolated into the host's shell commands and into the file name. Each is
# also shell-quoted; the patterns keep names sane for a file name and stop option or
# conninfo injection (no leading "-", no "=", no "://").
_DB_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_$.-]{0,62}")
_USER_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_$.@-]{0,62}")
_HOST_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9.:-]{0,252}")  # a host name, IPv4 or IPv6 address
_LABEL = re.compile(r"[A-Za-z0-9][A-Za-z0-9._+-]{0,63}")
_PROGRAM = re.compile(r"[A-Za-z0-9_./+][A-Za-z0-9_./+-]*")
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")

# Exit statuses of the prepare, dump and verify scripts, mapped to messages below.
_NO_PG_DUMP, _NO_PG_RESTORE, _NO_DIR, _DIR_NOT_WRITABLE, _FILE_EXISTS, _PARTIAL_EXISTS = 81, 82, 83, 84, 85, 86
_EMPTY_FILE, _CANNOT_CREATE, _CANNOT_LINK = 91, 97, 95
_NOT_FOUND = 127  # the shell's "command not found"


@dataclass(frozen=True)
class BackupSpec:
    """Where and how to back up one PostgreSQL database (values as in the config).

    Attributes:
        database: The database name.
        directory: Absolute directory on the host for the dump files; created with mode
            700 if missing (an existing directory's mode is left alone).
        host: The PostgreSQL server as seen from the host (name, IP address, or a Unix
            socket directory starting with ``/``); empty for libpq's default socket.
        port: The server's TCP port; ``None`` for libpq's default (5432 or ``PGPORT``).
        user: The database role; empty for libpq's default (the login user).
        pg_dump: The ``pg_dump`` program on the host (name on ``PATH`` or absolute path).
            It must be at least as new as the server.
        pg_restore: The ``pg_restore`` program on the host, used to verify the file.
        password_env: Name of an environment variable *of iact-tui's own process*
            holding the password; empty to rely on ``~/.pgpass`` on the host
            (recommended; see the module docstring for the trade-off).
    """

    database: str
    directory: str
    host: str = ""
    port: int | None = None
    user: str = ""
    pg_dump: str = "pg_dump"
    pg_restore: str = "pg_restore"
    password_env: str = ""

    def validate(self) -> None:
        """Check every value that goes into a command or the file name.

        Raises:
            BackupError: A value is empty where required, malformed, or could be read
                as an option or a connection string.
        """
        _require(_DB_NAME, self.database, "database name")
        if self.user:
            _require(_USER_NAME, self.user, "database user")
        if self.host and not (self.host.startswith("/") and _clean_path(self.host)):
            _require(_HOST_NAME, self.host, "database host")
        if self.port is not None and not (isinstance(self.port, int) and 0 < self.port < 65536):
            raise BackupError(f"database port {self.port!r} is not a TCP port (1–65535)", _CONFIG_FIX)
        if not (self.directory.startswith("/") and _clean_path(self.directory)):
            raise BackupError(
                f"backup directory {self.directory!r} is not an absolute path without control characters",
                f"{_CONFIG_FIX}: use a full path such as /var/backups/postgresql",
            )
        _require(_PROGRAM, self.pg_dump, "pg_dump program")
        _require(_PROGRAM, self.pg_restore, "pg_restore program")
        if self.password_env:
            _require(_ENV_NAME, self.password_env, "password environment variable name")


@dataclass(frozen=True)
class BackupResult:
    """A backup that was taken and passed every check; journal it whole (``dataclasses.asdict``).

    Attributes:
        path: The dump file's absolute path on the host.
        size_bytes: Its size in bytes (greater than 0).
        entries: The number of entries ``pg_restore --list`` read from it (at least 1).
        duration_s: Seconds the whole backup took (prepare, dump, checks).
        command: The ``pg_dump`` command as run, redacted (it never holds the password).
        host: The name of the host it ran on.
        database: The database backed up.
    """

    path: str
    size_bytes: int
    entries: int
    duration_s: float
    command: str
    host: str
    database: str

    @property
    def summary(self) -> str:
        """One line for the log: path, size, entries and time."""
        return (
            f"backup of {self.database} written to {self.host}:{self.path} "
            f"({format_size(self.size_bytes)}, {self.entries} entries, {self.duration_s:.1f} s)"
        )


def backup_path(spec: BackupSpec, *, label: str, now: datetime) -> str:
    """The dated file name ``<directory>/<database>-<label>-YYYYmmddTHHMMSSZ.dump``.

    Args:
        spec: The backup spec (its ``directory`` and ``database`` are used as given).
        label: What the backup is for, e.g. the version being deployed (``1.4.0``).
        now: The time of the backup; must be timezone-aware (it is written in UTC).

    Returns:
        The absolute path on the host.

    Raises:
        BackupError: The label is empty or has characters unsafe in a file name.
        ValueError: ``now`` is naive (a programming error: the UTC stamp would lie).
    """
    _require(_LABEL, label, "backup label")
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError("backup_path needs a timezone-aware datetime")
    stamp = now.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")
    return posixpath.join(spec.directory, f"{spec.database}-{label}-{stamp}.dump")


def dump_command(spec: BackupSpec) -> str:
    """The ``pg_dump`` invocation (custom format, no password prompt, progress on stderr).

    The output file is not part of it: the dump script appends a redirection. The
    password is never part of it either.

    Args:
        spec: A validated backup spec.

    Returns:
        A shell command with every value quoted.
    """
    argv = [spec.pg_dump, "--format=custom", "--no-password", "--verbose", f"--dbname={spec.database}"]
    if spec.host:
        argv.append(f"--host={spec.host}")
    if spec.port is not None:
        argv.append(f"--port={spec.port}")
    if spec.user:
        argv.append(f"--username={spec.user}")
    return shlex.join(argv)


async def take_backup(
    host: Host,
    spec: BackupSpec,
    *,
    label: str,
    now: datetime,
    timeout: float,
    check_timeout: float = 60.0,
    password: Secret | None = None,
) -> AsyncIterator[Line | BackupResult]:
    """Dump ``spec.database`` on ``host`` to a new dated file and verify it.

    Yields pg_dump's output lines (``--verbose`` progress on stderr) as they arrive,
    each redacted, and last the :class:`BackupResult`. Nothing is yielded as a result
    unless the file exists under its final name and passed every check. Closing the
    iterator early, or cancelling the task, stops pg_dump and removes the partial file.

    Args:
        host: Where pg_dump runs (the database host, or one that can reach it).
        spec: The database and directory; validated first.
        label: What the backup is for, put in the file name (e.g. the version ``1.4.0``).
        now: The time for the file name; timezone-aware.
        timeout: Seconds pg_dump may run before it is stopped.
        check_timeout: Seconds each of the short commands (prepare, verify, publish,
            clean-up) may take.
        password: The database password; overrides ``spec.password_env``. ``None``
            and no ``password_env``: libpq's own sources (``~/.pgpass``) on the host.

    Yields:
        :class:`Line` items, then one :class:`BackupResult`.

    Raises:
        BackupError: A bad spec or label; the password variable is unset; pg_dump or
            pg_restore is missing; the directory cannot be created or written; the file
            already exists; pg_dump failed (authentication, missing database, lost
            connection...) or timed out; the file is empty or unreadable by
            ``pg_restore --list``. The message names the check and pg_dump's most
            telling stderr lines, redacted.
        CommandError: The host could not run a command at all.
    """
    spec.validate()
    secret = password if password is not None else _password_from_env(spec)
    redact: Callable[[str], str] = secret.redact if secret is not None else _same
    path = backup_path(spec, label=label, now=now)
    partial = f"{path}.partial"
    started = time.monotonic()

    prepared = await _capture(host, _prepare_script(spec, path, partial), timeout=check_timeout)
    if not prepared.ok:
        raise _prepare_error(host, spec, path, partial, prepared, redact)

    command = dump_command(spec)
    env = {"PGPASSWORD": secret.reveal()} if secret is not None else None
    result: CommandResult | None = None
    stream = host.stream(_dump_script(command, partial), timeout=timeout, env=env)
    try:
        try:
            async for item in stream:
                if isinstance(item, CommandResult):
                    result = item
                else:
                    yield Line(item.stream, redact(item.text))
        finally:
            await _close(stream)
    except BaseException:
        # Cancelled, closed early, or the host failed: never leave a partial dump behind.
        await _remove(host, partial, timeout=check_timeout)
        raise
    assert result is not None, "Host.stream ended without a CommandResult"
    if result.timed_out or result.exit_status is None:
        removed = await _remove(host, partial, timeout=check_timeout)
        left = "" if removed else f"; the partial file {partial} may remain: delete it"
        if result.timed_out:
            raise BackupError(
                f"pg_dump of {spec.database} on {host.name} was stopped after {timeout:g} s{left}",
                "raise the backup timeout, or check why the dump is slow (locks, a slow disk or network)",
            )
        raise BackupError(
            f"pg_dump of {spec.database} on {host.name} ended without an exit status "
            f"(killed, or the connection was lost){left}",
            "check the host, then run the step again",
        )
    if not result.ok:
        raise _dump_error(host, spec, partial, result, redact)

    try:
        entries = await list_entries(host, partial, pg_restore=spec.pg_restore, timeout=check_timeout)
        size = await _publish(host, partial, path, timeout=check_timeout)
    except BaseException:
        await _remove(host, partial, timeout=check_timeout)
        raise
    yield BackupResult(
        path=path,
        size_bytes=size,
        entries=entries,
        duration_s=time.monotonic() - started,
        command=redact(f"{command} > {shlex.quote(path)}"),
        host=host.name,
        database=spec.database,
    )


async def list_entries(host: Host, path: str, *, pg_restore: str = "pg_restore", timeout: float = 60.0) -> int:
    """Check that a dump file is non-empty and readable by ``pg_restore --list``.

    Changes nothing on the host.

    Args:
        host: Where the file is.
        path: The dump file's absolute path on the host.
        pg_restore: The ``pg_restore`` program on the host.
        timeout: Seconds the check may take.

    Returns:
        The number of entries in the file's table of contents (at least 1).

    Raises:
        BackupError: The path or program is malformed; the file is missing or empty;
            pg_restore is missing, fails or times out; the list has no entries.
        CommandError: The host could not run the command.
    """
    if not (path.startswith("/") and _clean_path(path)):
        raise BackupError(f"dump file path {path!r} is not an absolute path", "pass the file's full path")
    _require(_PROGRAM, pg_restore, "pg_restore program")
    quoted = shlex.quote(path)
    script = (
        f"test -s {quoted} || {{ echo 'the file is missing or empty' >&2; exit {_EMPTY_FILE}; }}\n"
        f"exec {shlex.quote(pg_restore)} --list -- {quoted}\n"
    )
    entries = 0
    result: CommandResult | None = None
    stream = host.stream(script, timeout=timeout)
    try:
        async for item in stream:
            if isinstance(item, CommandResult):
                result = item
            elif item.stream == "stdout" and item.text.strip() and not item.text.startswith(";"):
                entries += 1  # a table-of-contents entry; ";" lines are comments
    finally:
        await _close(stream)
    assert result is not None, "Host.stream ended without a CommandResult"
    where = f"{host.name}:{path}"
    if result.timed_out or result.exit_status is None:
        raise BackupError(
            f"pg_restore --list of {where} was stopped after {timeout:g} s", "check the host's disk and load"
        )
    if result.exit_status == _EMPTY_FILE:
        raise BackupError(f"the dump file {where} is missing or empty", "check pg_dump's output above")
    if result.exit_status == _NOT_FOUND:
        raise BackupError(
            f"pg_restore not found on {host.name}: {pg_restore}",
            "install the PostgreSQL client tools on the host, or set the pg_restore path in iact-release.toml",
        )
    if not result.ok:
        raise BackupError(
            f"the dump file {where} is not readable by pg_restore --list (exit {result.exit_status}): "
            f"{_telling(result.stderr_tail, _same)}",
            "the dump is damaged or incomplete: take the backup again",
        )
    if entries == 0:
        raise BackupError(f"pg_restore --list found no entries in {where}", "take the backup again")
    return entries


def format_size(size_bytes: int) -> str:
    """A size for people: ``512 B``, ``3.4 KiB``, ``12.0 MiB``, ``1.2 GiB``."""
    size = float(size_bytes)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{size_bytes} B" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    raise AssertionError("unreachable")  # pragma: no cover


# -- the scripts ---------------------------------------------------------------------


def _prepare_script(spec: BackupSpec, path: str, partial: str) -> str:
    directory, file_, part = (shlex.quote(p) for p in (spec.directory, path, partial))
    pg_dump, pg_restore = shlex.quote(spec.pg_dump), shlex.quote(spec.pg_restore)
    return (
        "umask 077\n"
        f"command -v {pg_dump} >/dev/null 2>&1 || exit {_NO_PG_DUMP}\n"
        f"command -v {pg_restore} >/dev/null 2>&1 || exit {_NO_PG_RESTORE}\n"
        f"if [ ! -d {directory} ]; then mkdir -p -m 700 -- {directory} || exit {_NO_DIR}; fi\n"
        f"[ -w {directory} ] && [ -x {directory} ] || exit {_DIR_NOT_WRITABLE}\n"
        f"[ ! -e {file_} ] || exit {_FILE_EXISTS}\n"
        f"[ ! -e {part} ] || exit {_PARTIAL_EXISTS}\n"
    )


def _dump_script(command: str, partial: str) -> str:
    part = shlex.quote(partial)
    # set -C: the partial file is created exclusively (an existing one is never
    # truncated), then pg_dump appends to the empty file it made.
    return (
        "umask 077\n"
        "set -C\n"
        f"{{ true; }} > {part} || exit {_CANNOT_CREATE}\n"
        f"PGCONNECT_TIMEOUT=${{PGCONNECT_TIMEOUT:-{_CONNECT_TIMEOUT}}} {command} >> {part}\n"
        "status=$?\n"
        f'[ "$status" -eq 0 ] || rm -f -- {part}\n'
        'exit "$status"\n'
    )


async def _publish(host: Host, partial: str, path: str, *, timeout: float) -> int:
    """Give the verified partial file its final name without replacing anything; returns its size."""
    part, file_ = shlex.quote(partial), shlex.quote(path)
    result = await _capture(
        host, f"ln -- {part} {file_} || exit {_CANNOT_LINK}\nrm -f -- {part}\nwc -c < {file_}\n", timeout=timeout
    )
    if result.exit_status == _CANNOT_LINK:
        raise BackupError(
            f"the verified dump could not be named {host.name}:{path}: {_telling(result.stderr_tail, _same)}",
            "another file took that name meanwhile, or the directory's filesystem has no hard links: check it",
        )
    size = result.stdout_tail[-1].strip() if result.stdout_tail else ""
    if not result.ok or not size.isdigit():
        raise BackupError(
            f"the size of {host.name}:{path} could not be read (exit {result.exit_status}): "
            f"{_telling(result.stderr_tail, _same)}",
            "check the file on the host",
        )
    return int(size)


# -- errors ----------------------------------------------------------------------------


def _prepare_error(
    host: Host, spec: BackupSpec, path: str, partial: str, result: CommandResult, redact: Callable[[str], str]
) -> BackupError:
    on = f"on {host.name}"
    if result.timed_out or result.exit_status is None:
        return BackupError(f"preparing the backup {on} took too long", "check that the host responds")
    status = result.exit_status
    if status == _NO_PG_DUMP:
        return BackupError(
            f"pg_dump not found {on}: {spec.pg_dump}",
            "install the PostgreSQL client tools on the host, or set the pg_dump path in iact-release.toml",
        )
    if status == _NO_PG_RESTORE:
        return BackupError(
            f"pg_restore not found {on}: {spec.pg_restore} (it verifies the dump)",
            "install the PostgreSQL client tools on the host, or set the pg_restore path in iact-release.toml",
        )
    if status == _NO_DIR:
        return BackupError(
            f"the backup directory {spec.directory} could not be created {on}: {_telling(result.stderr_tail, redact)}",
            "create it on the host (mode 700) or choose another directory in iact-release.toml",
        )
    if status == _DIR_NOT_WRITABLE:
        return BackupError(
            f"the backup directory {spec.directory} is not writable {on}",
            "give the deploy user write access to it, or choose another directory in iact-release.toml",
        )
    if status == _FILE_EXISTS:
        return BackupError(f"the backup file {path} already exists {on}; it is left untouched", "run the step again")
    if status == _PARTIAL_EXISTS:
        return BackupError(
            f"a partial file from an interrupted backup exists {on}: {partial}",
            "delete it (it is not a usable backup), then run the step again",
        )
    return BackupError(
        f"preparing the backup {on} failed (exit {status}): {_telling(result.stderr_tail, redact)}",
        "check the backup directory and the PostgreSQL client tools on the host",
    )


# Known pg_dump/libpq failures: (pattern in stderr, what failed, what to do).
_DUMP_FAILURES: tuple[tuple[re.Pattern[str], str, str], ...] = (
    (
        re.compile(r"password authentication failed|authentication failed for user", re.I),
        "authentication failed",
        "check the database password ({source}) and the user name",
    ),
    (
        re.compile(r"no password supplied|fe_sendauth", re.I),
        "no password was available (pg_dump runs with --no-password)",
        "put the password in ~/.pgpass (mode 600) for the deploy user on the host, or set password_env",
    ),
    (
        re.compile(r'database "[^"]*" does not exist', re.I),
        "the database does not exist",
        "check the database name in iact-release.toml",
    ),
    (
        re.compile(r'role "[^"]*" does not exist', re.I),
        "the database user does not exist",
        "check the database user in iact-release.toml",
    ),
    (
        re.compile(r"server version mismatch", re.I),
        "pg_dump is older than the server",
        "install a pg_dump at least as new as the server, or set the pg_dump path in iact-release.toml",
    ),
    (
        re.compile(r"permission denied|must be owner", re.I),
        "the database user may not read everything",
        "back up as the database's owner or grant the user read access",
    ),
    (
        re.compile(r"could not connect|connection refused|could not translate host name|timeout expired", re.I),
        "the database server could not be reached",
        "check the database host and port, and that PostgreSQL is running",
    ),
    (
        re.compile(r"no space left on device|disk quota exceeded", re.I),
        "the backup disk is full",
        "free space in the backup directory or choose another one",
    ),
)


def _dump_error(
    host: Host, spec: BackupSpec, partial: str, result: CommandResult, redact: Callable[[str], str]
) -> BackupError:
    status = result.exit_status
    on = f"on {host.name}"
    if status == _NOT_FOUND:
        return BackupError(
            f"pg_dump not found {on}: {spec.pg_dump}",
            "install the PostgreSQL client tools on the host, or set the pg_dump path in iact-release.toml",
        )
    if status == _CANNOT_CREATE:
        return BackupError(
            f"the backup file {partial} could not be created {on}: {_telling(result.stderr_tail, redact)}",
            "check the backup directory's permissions and free space",
        )
    stderr = "\n".join(result.stderr_tail)
    source = f"environment variable {spec.password_env}" if spec.password_env else "~/.pgpass on the host"
    reason, fix = "pg_dump failed", "read pg_dump's messages above, fix the cause and run the step again"
    for pattern, known, known_fix in _DUMP_FAILURES:
        if pattern.search(stderr):
            reason, fix = known, known_fix.format(source=source)
            break
    return BackupError(
        f"backup of {spec.database} {on} failed, no backup was kept: {reason} "
        f"(pg_dump exit {status}): {_telling(result.stderr_tail, redact)}",
        fix,
    )


def _telling(lines: tuple[str, ...], redact: Callable[[str], str]) -> str:
    """The most telling stderr lines: error/fatal/detail/hint lines win over the last ones."""
    marked = [ln for ln in lines if re.search(r"\b(error|fatal|detail|hint):", ln, re.I)]
    chosen = (marked or [ln for ln in lines if ln.strip()])[-3:]
    return redact(" | ".join(ln.strip() for ln in chosen)) or "no message"


# -- helpers ---------------------------------------------------------------------------


def _require(pattern: re.Pattern[str], value: str, what: str) -> None:
    if not isinstance(value, str) or not pattern.fullmatch(value):
        raise BackupError(f"{what} {value!r} is empty or has characters not allowed here", _CONFIG_FIX)


def _clean_path(path: str) -> bool:
    return not _CONTROL.search(path) and "/../" not in f"{path}/"


def _same(text: str) -> str:
    return text


def _password_from_env(spec: BackupSpec) -> Secret | None:
    if not spec.password_env:
        return None
    value = os.environ.get(spec.password_env, "")
    if not value:
        raise BackupError(
            f"the database password variable {spec.password_env} is unset or empty",
            "export it before starting iact-tui, or drop password_env and use ~/.pgpass on the database host",
        )
    return Secret(value, f"env {spec.password_env}")


async def _capture(host: Host, command: str, *, timeout: float) -> CommandResult:
    """Run a short command to its end (output kept only in the result's tails)."""
    result: CommandResult | None = None
    stream = host.stream(command, timeout=timeout)
    try:
        async for item in stream:
            if isinstance(item, CommandResult):
                result = item
    finally:
        await _close(stream)
    assert result is not None, "Host.stream ended without a CommandResult"
    return result


async def _close(stream: AsyncIterator[Line | CommandResult]) -> None:
    """Close a host stream now (stopping its command) rather than at garbage collection."""
    aclose = getattr(stream, "aclose", None)
    if aclose is not None:
        await aclose()


async def _remove(host: Host, partial: str, *, timeout: float) -> bool:
    """Best-effort removal of a partial dump; True if it is gone."""
    try:
        result = await _capture(host, f"rm -f -- {shlex.quote(partial)}", timeout=timeout)
    except Exception:
        return False
    return result.ok
