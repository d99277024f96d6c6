"""The deploy lock on a host: one deploy at a time per app directory.

This module owns the lock file's format and the shell commands that take, read, break and
release it, written against the :class:`~iact_tui.services.remote.Host` protocol only, so
they work on any transport.

The lock is a small JSON file (see :meth:`LockInfo.to_text`) that appears on the host in
one atomic step: the info is written to a private temp file beside it, then hard-linked
to the lock path; ``link(2)`` fails when the path exists, so of any number of concurrent
deploys exactly one wins, and a reader never sees a half-written lock. The time in it is
the host's clock (``date -u``), and a lock's age is measured against the host's clock
too, so operators whose laptops disagree about the time still see the same age.

Each lock carries a random token: :func:`release` removes the file only while it still
holds this token, so a deploy whose lock was broken and re-taken by someone else never
removes theirs. :func:`break_lock` needs the operator to type the host's name.
"""

from __future__ import annotations

import asyncio
import getpass
import json
import re
import secrets
import shlex
import socket
from dataclasses import dataclass, field
from datetime import UTC, datetime
from types import TracebackType
from typing import Any, Literal

from iact_tui.errors import ConfirmationError, IactError, LockError
from iact_tui.services.remote import CommandResult, Host, run_collect

LOCK_NAME = ".iact-deploy.lock"
"""The lock file's name inside the app directory (see :func:`lock_path`)."""
FORMAT = "iact-deploy-lock/1"
"""The ``format`` field of every lock file this module writes."""
DEFAULT_STALE_AFTER = 3600.0
"""Seconds after which a lock is called stale in messages (breaking it still needs the host name)."""
DEFAULT_TIMEOUT = 30.0
"""Seconds each lock command may take on the host."""

_HELD = 10  # exit status: the lock exists; stdout holds it
_GONE = 11  # exit status: there is no lock (or it vanished while being read)
_FAILED = 12  # exit status: the command could not do its work; stderr says why
_ATTEMPTS = 3  # acquire retries when a held lock vanishes between the link and the read
_MAX_LINES = 60  # stdout lines kept from a lock command (a lock file is ~9 lines)
_TOKEN = re.compile(r"^[0-9a-f]{32}$")
_ISO_SECONDS = "%Y-%m-%dT%H:%M:%SZ"
_PRELUDE = "LC_ALL=C; export LC_ALL\n"  # ln's "File exists" must be recognisable
_DATE = "now=$(date -u +%Y-%m-%dT%H:%M:%SZ) || exit 12\n"


@dataclass(frozen=True)
class LockInfo:
    """What a lock file says: who holds the lock, since when, for which version and why.

    Attributes:
        owner: ``user@machine`` of the operator whose deploy holds it.
        since: When it was taken, by the host's clock (aware, UTC, whole seconds).
        version: The version being deployed, as given (e.g. ``"1.4.0"``).
        reason: Why, in one line (e.g. ``"release 1.4.0 to production"``).
        token: 32 hex digits identifying this one acquisition.
    """

    owner: str
    since: datetime
    version: str
    reason: str
    token: str

    @property
    def since_text(self) -> str:
        """``since`` in ISO 8601 UTC, e.g. ``"2026-05-09T07:35:25Z"``."""
        return self.since.strftime(_ISO_SECONDS)

    def to_text(self) -> str:
        """The lock file's content: indented JSON with ``format``, ``owner``, ``since``,
        ``version``, ``reason`` and ``token``, ending with a newline."""
        return _render({**self._fields(), "since": self.since_text})

    def _fields(self) -> dict[str, str]:
        return {"owner": self.owner, "version": self.version, "reason": self.reason, "token": self.token}


@dataclass(frozen=True)
class GarbledLock:
    """A lock file that exists but does not read as one this module wrote.

    Attributes:
        text: Its first lines, as read (may be empty).
        problem: Why it was not understood, e.g. ``"not JSON"``, ``"no 'token'"``.
    """

    text: str
    problem: str


@dataclass(frozen=True)
class DeployLock:
    """A lock this process holds.

    Attributes:
        host: Where the lock file is (not compared or shown).
        path: The lock file's absolute path on the host.
        info: What was written into it (its ``since`` is the host's time of acquiring).
    """

    host: Host = field(compare=False, repr=False)
    path: str
    info: LockInfo


@dataclass(frozen=True)
class LockRelease:
    """What :func:`release` found.

    Attributes:
        outcome: ``"released"``: our lock file was removed; ``"taken_over"``: the file
            now belongs to someone else (it was broken and re-taken) and was left alone;
            ``"gone"``: there was no lock file any more (it was broken).
        holder: The lock found instead of ours when ``"taken_over"``, else ``None``.
        message: One sentence for the operator, naming the host.
    """

    outcome: Literal["released", "taken_over", "gone"]
    holder: LockInfo | GarbledLock | None
    message: str

    @property
    def ok(self) -> bool:
        """True when our lock was removed."""
        return self.outcome == "released"


@dataclass(frozen=True)
class LockStatus:
    """A lock as read from a host by :func:`read_lock`.

    Attributes:
        holder: The parsed lock, or :class:`GarbledLock` when it cannot be read as one.
        age: Seconds since it was taken, by the host's clock (``None`` when garbled).
        stale: True when ``age`` passed the ``stale_after`` given to the reader.
    """

    holder: LockInfo | GarbledLock
    age: float | None
    stale: bool


class LockHeld(LockError):
    """The lock is held by another deploy (or a garbled lock file is in the way).

    Attributes:
        host_name: The host's name.
        path: The lock file's path on the host.
        status: The lock found: holder, age in seconds, staleness.
    """

    def __init__(self, what: str, fix: str, *, host_name: str, path: str, status: LockStatus) -> None:
        super().__init__(what, fix)
        self.host_name = host_name
        self.path = path
        self.status = status


def local_owner() -> str:
    """This machine's ``user@hostname``, recorded as a lock's owner."""
    try:
        user = getpass.getuser()
    except (OSError, KeyError):  # no login name and no passwd entry (some containers)
        user = "unknown"
    return f"{user}@{socket.gethostname() or 'unknown'}"


def lock_path(app_dir: str) -> str:
    """The default lock file for an app directory: ``<app_dir>/.iact-deploy.lock``.

    Args:
        app_dir: The app's absolute directory on the host.

    Returns:
        The lock file's absolute path.

    Raises:
        LockError: ``app_dir`` is not absolute or contains control characters.
    """
    return _check_path(app_dir.rstrip("/") + "/" + LOCK_NAME)


def parse_lock(text: str) -> LockInfo | GarbledLock:
    """Read a lock file's content.

    Args:
        text: The file's content.

    Returns:
        The :class:`LockInfo`, or a :class:`GarbledLock` saying what is wrong with it
        (never raises for bad content).
    """
    try:
        data: Any = json.loads(text)
    except ValueError:
        return GarbledLock(text, "not JSON" if text.strip() else "empty")
    if not isinstance(data, dict):
        return GarbledLock(text, "not a JSON object")
    if "format" not in data:
        return GarbledLock(text, f"it has no 'format' field ({FORMAT!r}): not an iact-tui deploy lock")
    if data.get("format") != FORMAT:
        return GarbledLock(text, f"its format is {data.get('format')!r}, not {FORMAT!r}")
    for key in ("owner", "since", "version", "reason", "token"):
        if not isinstance(data.get(key), str):
            return GarbledLock(text, f"no text {key!r}")
    if not _TOKEN.match(data["token"]):
        return GarbledLock(text, "its 'token' is not 32 hex digits")
    try:
        since = datetime.strptime(data["since"], _ISO_SECONDS).replace(tzinfo=UTC)
    except ValueError:
        return GarbledLock(text, f"its 'since' {data['since']!r} is not an ISO 8601 UTC time")
    return LockInfo(
        owner=data["owner"], since=since, version=data["version"], reason=data["reason"], token=data["token"]
    )


def format_age(seconds: float) -> str:
    """A short human age: ``"45s"``, ``"3m 20s"``, ``"2h 5m"``, ``"3d 4h"``.

    Args:
        seconds: The age in seconds (negative counts as 0).
    """
    total = max(int(seconds), 0)
    days, rest = divmod(total, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days}d {hours}h"
    if hours:
        return f"{hours}h {minutes}m"
    if minutes:
        return f"{minutes}m {secs}s"
    return f"{secs}s"


def describe_holder(host_name: str, path: str, status: LockStatus) -> str:
    """One sentence naming who holds the lock, since when, how long ago, for what and why.

    Args:
        host_name: The host's name (starts the sentence).
        path: The lock file's path (named when the file is garbled).
        status: From :func:`read_lock` or :class:`LockHeld`.

    Returns:
        E.g. ``"staging: deploy lock held by alice@laptop since 2026-05-09T07:35:25Z
        (3m 20s ago) for v1.4.0: release 1.4.0"``.
    """
    holder = status.holder
    if isinstance(holder, GarbledLock):
        return f"{host_name}: deploy lock {path} exists but cannot be read ({holder.problem})"
    age = format_age(status.age or 0.0) + " ago"
    if status.stale:
        age += ", stale"
    version = f"v{holder.version}" if holder.version[:1].isdigit() else holder.version
    return f"{host_name}: deploy lock held by {holder.owner} since {holder.since_text} ({age}) for {version}: {holder.reason}"


async def acquire(
    host: Host,
    path: str,
    owner: str,
    version: str,
    reason: str,
    *,
    stale_after: float = DEFAULT_STALE_AFTER,
    timeout: float = DEFAULT_TIMEOUT,
) -> DeployLock:
    """Take the deploy lock on ``host``, atomically.

    If this call is cancelled or its command times out after the lock may have been
    created, the lock is removed again (by its token) before the cancel or error goes on.

    Args:
        host: Where to take it.
        path: The lock file's absolute path on the host (see :func:`lock_path`); its
            directory must exist and be writable there.
        owner: ``user@machine`` (see :func:`local_owner`).
        version: The version being deployed (one line, at most 100 characters).
        reason: Why (one line, 1 to 500 characters).
        stale_after: Seconds after which a held lock is called stale in the message.
        timeout: Seconds the command may take on the host.

    Returns:
        The :class:`DeployLock` to pass to :func:`release`.

    Raises:
        LockHeld: Another deploy holds it (``what`` names owner, time, age, version and
            reason), or a garbled lock file is in the way.
        LockError: A value is not allowed, or the lock could not be created (directory
            missing or not writable, the command failed or timed out).
        CommandError: The host could not start the command.
    """
    _check_path(path)
    owner = _check_line(owner, "owner", 200)
    version = _check_line(version, "version", 100)
    reason = _check_line(reason, "reason", 500)
    token = secrets.token_hex(16)
    sentinel = f"@{token}@"  # JSON escaping keeps it unique: only our own value holds it
    head, tail = _render(
        {"owner": owner, "since": sentinel, "version": version, "reason": reason, "token": token}
    ).split(sentinel)
    qlock = shlex.quote(path)
    script = (
        _PRELUDE
        + f"lock={qlock}; tmp={shlex.quote(f'{path}.{token}.tmp')}\n"
        + "trap 'rm -f \"$tmp\"' EXIT\n"
        + "trap 'exit 143' HUP INT TERM\n"
        + _DATE
        + 'if [ -d "$lock" ]; then echo "$lock is a directory, not a lock file" >&2; exit 12; fi\n'
        + f'printf \'%s%s%s\' {shlex.quote(head)} "$now" {shlex.quote(tail)} > "$tmp" || exit 12\n'
        + "printf '%s\\n' \"$now\"\n"
        + 'if err=$(ln "$tmp" "$lock" 2>&1); then exit 0; fi\n'
        + _READ_HELD
        + 'case $err in *"File exists"*) exit 11;; esac\n'
        + "printf '%s\\n' \"$err\" >&2; exit 12\n"
    )
    for _attempt in range(_ATTEMPTS):
        try:
            result, out = await _run(host, script, timeout)
        except asyncio.CancelledError:
            await asyncio.shield(_cleanup(host, path, token, timeout))
            raise
        if result.exit_status == 0 and out:
            since = _parse_now(out[0], host, path)
            info = LockInfo(owner=owner, since=since, version=version, reason=reason, token=token)
            return DeployLock(host=host, path=path, info=info)
        if result.exit_status == _HELD:
            status = _status(out, host, path, stale_after)
            raise LockHeld(
                describe_holder(host.name, path, status),
                _held_fix(host.name, path, status, stale_after),
                host_name=host.name,
                path=path,
                status=status,
            )
        if result.exit_status == _GONE:
            continue  # released between our link and our read: try again
        if result.timed_out:
            await asyncio.shield(_cleanup(host, path, token, timeout))
        raise _failure(host.name, f"cannot take the deploy lock {path}", result)
    raise LockError(
        f"{host.name}: the deploy lock {path} kept appearing and vanishing ({_ATTEMPTS} tries)",
        "another deploy is starting and stopping right now: wait a moment and try again",
    )


async def read_lock(
    host: Host, path: str, *, stale_after: float = DEFAULT_STALE_AFTER, timeout: float = DEFAULT_TIMEOUT
) -> LockStatus | None:
    """Read the lock on ``host`` without changing it (e.g. to show it before a break).

    Args:
        host: Where to look.
        path: The lock file's absolute path on the host.
        stale_after: Seconds after which the lock counts as stale.
        timeout: Seconds the command may take.

    Returns:
        The lock's holder, age in seconds and staleness, or ``None`` when there is no lock.

    Raises:
        LockError: The path is not allowed, or the lock exists but cannot be read.
        CommandError: The host could not start the command.
    """
    _check_path(path)
    script = (
        _PRELUDE
        + f"lock={shlex.quote(path)}\n"
        + _DATE
        + "printf '%s\\n' \"$now\"\n"
        + 'if [ -d "$lock" ]; then echo "$lock is a directory, not a lock file" >&2; exit 12; fi\n'
        + _READ_HELD
        + "exit 11\n"
    )
    result, out = await _run(host, script, timeout)
    if result.exit_status == _GONE:
        return None
    if result.exit_status == _HELD:
        return _status(out, host, path, stale_after)
    raise _failure(host.name, f"cannot read the deploy lock {path}", result)


async def break_lock(
    host: Host,
    path: str,
    typed_host_name: str,
    *,
    token: str | None = None,
    timeout: float = DEFAULT_TIMEOUT,
) -> LockInfo | GarbledLock | None:
    """Remove someone else's lock (a deploy that died, a machine that went away).

    Args:
        host: Where the lock is.
        path: The lock file's absolute path on the host.
        typed_host_name: What the operator typed to confirm; must equal ``host.name``
            exactly.
        token: When given, break only the lock with this token (the one the operator was
            shown); a lock taken since by someone else is then left alone.
        timeout: Seconds the command may take.

    Returns:
        The lock that was removed, or ``None`` when there was none.

    Raises:
        ConfirmationError: ``typed_host_name`` is not the host's name; nothing was touched.
        LockError: ``token`` is given and the lock now holds another one (it was left
            alone), the path is not allowed, or the file could not be removed.
        CommandError: The host could not start the command.
    """
    if typed_host_name != host.name:
        raise ConfirmationError(
            f"{host.name}: the deploy lock was not broken: {typed_host_name!r} is not the host's name",
            f"type the host name {host.name!r} exactly to break its lock",
        )
    _check_path(path)
    if token is not None and not _TOKEN.match(token):
        raise LockError(f"lock token {token!r} is not 32 hex digits", "pass the token read from the lock")
    result, out = await _run(host, _remove_script(path, token), timeout)
    if result.exit_status == _GONE:
        return None
    held = _parse_content(out[1:]) if out else GarbledLock("", "empty")
    if result.exit_status == 0:
        return held
    if result.exit_status == _HELD:
        raise LockError(
            f"{host.name}: the deploy lock changed since it was shown and was left alone: "
            + describe_holder(host.name, path, _status(out, host, path, DEFAULT_STALE_AFTER)),
            "look at the lock again before breaking it",
        )
    raise _failure(host.name, f"cannot break the deploy lock {path}", result)


async def release(lock: DeployLock, *, timeout: float = DEFAULT_TIMEOUT) -> LockRelease:
    """Remove our lock, only if the lock file still holds our token.

    Args:
        lock: From :func:`acquire`.
        timeout: Seconds the command may take.

    Returns:
        What was found: released, taken over by someone else (left alone), or gone.

    Raises:
        LockError: The lock file could not be read or removed (the command failed or
            timed out); the lock may still be there.
        CommandError: The host could not start the command.
    """
    host, path = lock.host, lock.path
    result, out = await _run(host, _remove_script(path, lock.info.token), timeout)
    if result.exit_status == 0:
        return LockRelease("released", None, f"{host.name}: deploy lock released")
    if result.exit_status == _GONE:
        return LockRelease(
            "gone", None, f"{host.name}: the deploy lock {path} was already gone (someone broke it during the deploy)"
        )
    if result.exit_status == _HELD:
        status = _status(out, host, path, DEFAULT_STALE_AFTER)
        return LockRelease(
            "taken_over",
            status.holder,
            f"{host.name}: our deploy lock was broken during the deploy and taken over; left alone: "
            + describe_holder(host.name, path, status),
        )
    raise _failure(host.name, f"cannot release the deploy lock {path}", result)


class LockGuard:
    """Hold the deploy lock for the body of an ``async with`` (made by :func:`locked`).

    The lock is released when the body ends, raises or is cancelled; the release runs
    under :func:`asyncio.shield`, so a second cancel does not stop it halfway. After the
    block, :attr:`released` says what the release found (e.g. that the lock was taken
    over). A release that fails raises its :class:`IactError` after a body that ended well;
    after a body that raised, it is added as a note to the body's exception instead of
    replacing it.

    Args:
        host: Where to take the lock.
        path: The lock file's absolute path on the host.
        owner: ``user@machine``; ``None`` for :func:`local_owner`.
        version: The version being deployed.
        reason: Why.
        stale_after: Seconds after which a held lock is called stale.
        timeout: Seconds each lock command may take.

    Attributes:
        lock: The lock held, once entered.
        released: What the release found, once exited.
    """

    def __init__(
        self,
        host: Host,
        path: str,
        *,
        version: str,
        reason: str,
        owner: str | None = None,
        stale_after: float = DEFAULT_STALE_AFTER,
        timeout: float = DEFAULT_TIMEOUT,
    ) -> None:
        self._args = (host, path, owner or local_owner(), version, reason)
        self._stale_after = stale_after
        self._timeout = timeout
        self.lock: DeployLock | None = None
        self.released: LockRelease | None = None

    async def __aenter__(self) -> DeployLock:
        self.lock = await acquire(*self._args, stale_after=self._stale_after, timeout=self._timeout)
        return self.lock

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        assert self.lock is not None
        task = asyncio.ensure_future(release(self.lock, timeout=self._timeout))
        try:
            # A cancel arriving now must not abandon the release: wait for it to finish.
            self.released = await asyncio.shield(task)
        except asyncio.CancelledError:
            self.released = await _finish(task)
            raise
        except IactError as failure:
            if exc is None:
                raise
            exc.add_note(str(failure))


def locked(
    host: Host,
    path: str,
    *,
    version: str,
    reason: str,
    owner: str | None = None,
    stale_after: float = DEFAULT_STALE_AFTER,
    timeout: float = DEFAULT_TIMEOUT,
) -> LockGuard:
    """``async with locked(host, path, version=..., reason=...) as lock:`` holds the lock
    for the block; see :class:`LockGuard` (arguments as there)."""
    return LockGuard(host, path, version=version, reason=reason, owner=owner, stale_after=stale_after, timeout=timeout)


async def _finish(task: asyncio.Future[LockRelease]) -> LockRelease | None:
    """Wait for a shielded release through further cancels; ``None`` if it failed."""
    while not task.done():
        try:
            await asyncio.shield(task)
        except asyncio.CancelledError:
            continue
        except Exception:
            return None
    return None if task.cancelled() or task.exception() else task.result()


# Shared tail of the acquire and read scripts: print the lock (exit 10), say it cannot be
# read (exit 12), or fall through when there is none.
_READ_HELD = (
    'if [ -e "$lock" ] || [ -L "$lock" ]; then\n'
    '  if content=$(head -n 50 "$lock" 2>&1); then printf \'%s\\n\' "$content"; exit 10; fi\n'
    "  printf '%s\\n' \"$content\" >&2; exit 12\n"
    "fi\n"
)


def _remove_script(path: str, token: str | None) -> str:
    """Print the time and the lock, then remove it if it holds ``token`` (any lock when None).

    Exit 0: removed; 10: another token, left alone; 11: no lock; 12: failed.
    """
    match = f"  *{shlex.quote(chr(34) + token + chr(34))}*) ;;\n  *) exit 10;;\n" if token else "  *) ;;\n"
    return (
        _PRELUDE
        + f"lock={shlex.quote(path)}\n"
        + _DATE
        + "printf '%s\\n' \"$now\"\n"
        + 'if [ ! -e "$lock" ] && [ ! -L "$lock" ]; then exit 11; fi\n'
        + 'if [ -d "$lock" ]; then echo "$lock is a directory, not a lock file" >&2; exit 12; fi\n'
        + 'content=$(head -n 50 "$lock" 2>&1) || { printf \'%s\\n\' "$content" >&2; exit 12; }\n'
        + "printf '%s\\n' \"$content\"\n"
        + "case $content in\n"
        + match
        + "esac\n"
        + 'rm -f "$lock" || exit 12\n'
    )


async def _cleanup(host: Host, path: str, token: str, timeout: float) -> None:
    """Best effort after an interrupted acquire: remove the lock if it is ours."""
    try:
        await _run(host, _remove_script(path, token), timeout)
    except Exception:  # the host may be unreachable: the caller reports the first failure
        return


async def _run(host: Host, script: str, timeout: float) -> tuple[CommandResult, list[str]]:
    """Run ``script``; its result and first stdout lines (see :func:`run_collect`)."""
    return await run_collect(host, script, timeout=timeout, max_lines=_MAX_LINES)


def _status(out: list[str], host: Host, path: str, stale_after: float) -> LockStatus:
    """A held lock from a script's stdout: the host's time, then the lock file's lines."""
    now = _parse_now(out[0], host, path) if out else None
    holder = _parse_content(out[1:])
    if isinstance(holder, GarbledLock) or now is None:
        return LockStatus(holder, None, False)
    age = max((now - holder.since).total_seconds(), 0.0)
    return LockStatus(holder, age, age > stale_after)


def _parse_content(lines: list[str]) -> LockInfo | GarbledLock:
    return parse_lock("\n".join(lines))


def _parse_now(text: str, host: Host, path: str) -> datetime:
    try:
        return datetime.strptime(text.strip(), _ISO_SECONDS).replace(tzinfo=UTC)
    except ValueError:
        raise LockError(
            f"{host.name}: unexpected output {text[:80]!r} from the deploy lock command for {path}",
            "check that `date -u` works on the host",
        ) from None


def _held_fix(host_name: str, path: str, status: LockStatus, stale_after: float) -> str:
    if isinstance(status.holder, GarbledLock):
        return (
            f"look at {path} on {host_name}; if no deploy is running there, "
            f"break the lock by typing the host name {host_name!r}"
        )
    if status.stale:
        return (
            f"the lock is older than {format_age(stale_after)}, so its deploy probably died: check that no deploy "
            f"is running on {host_name} (ask {status.holder.owner}), then break the lock by typing the host name "
            f"{host_name!r}"
        )
    return (
        f"wait for {status.holder.owner}'s deploy to finish and try again; if it is abandoned, "
        f"break the lock by typing the host name {host_name!r}"
    )


def _failure(host_name: str, what: str, result: CommandResult) -> LockError:
    if result.timed_out:
        return LockError(
            f"{host_name}: {what}: the command timed out after {result.duration:.0f} s",
            "check the host is responsive and try again",
        )
    detail = "; ".join(line for line in result.stderr_tail[-3:] if line.strip()) or f"exit status {result.exit_status}"
    return LockError(
        f"{host_name}: {what}: {detail}",
        "check that the lock's directory exists on the host and that the deploy user can write to it",
    )


def _render(fields: dict[str, str]) -> str:
    return json.dumps({"format": FORMAT, **fields}, indent=2, ensure_ascii=False) + "\n"


def _check_path(path: str) -> str:
    if (
        not path.startswith("/")
        or path.endswith("/")
        or path.rsplit("/", 1)[-1] in (".", "..")
        or len(path) > 1024
        or any(ord(c) < 32 or ord(c) == 127 for c in path)
    ):
        raise LockError(
            f"deploy lock path {path!r} is not allowed",
            "use an absolute file path without control characters (the default is <app_dir>/" + LOCK_NAME + ")",
        )
    return path


def _check_line(value: str, what: str, limit: int) -> str:
    value = value.strip()
    if not value or len(value) > limit or any(ord(c) < 32 or ord(c) == 127 for c in value):
        raise LockError(
            f"deploy lock {what} {value[:60]!r} is not allowed",
            f"give one line of 1 to {limit} characters without control characters",
        )
    return value
