"""The run lock: one iact-tui process at a time changes a repository.

Two processes releasing, hot-fixing or rolling back the same repository at once would
push, tag and deploy over each other, so every run that records (a release, hotfix or
rollback; ``iact-tui plan`` takes none) holds the repository's lock: a file
``<git common dir>/iact-tui/<sha256 of that dir's real path, 16 hex>.lock`` (inside the
repository's git directory, so every user, state dir and worktree sees the same one;
``<state>/locks`` keyed by the folder's real path without git) holding JSON
``{"repo", "owner": "user@host", "host", "pid", "proc_start", "flow", "version",
"started": UTC ISO 8601}``. One lock per repository, whatever the flow: a rollback during
a release of the same repository is as dangerous as two releases.

How it is kept sound:

* Created atomically: the JSON is written and synced to a temp file, then hard-linked to
  the lock's name (``link(2)`` fails when the name exists), so a reader never sees a
  half-written lock.
* Every change (create, take over, break, release) happens under an ``flock(2)`` of
  ``<key>.guard``; the kernel drops that lock when its process dies, so a crash never
  leaves the guard held, and two processes finding the same stale lock cannot both
  take it over.
* Stale: the owner is this host and its pid is not alive, or is alive but is another
  process (its start time in ``/proc/<pid>/stat`` differs from ``proc_start``; without
  one, its ``/proc/<pid>/cmdline`` does not mention iact). A stale lock is taken over and
  the run journals ``run_lock_taken_over`` with the old owner. A lock of another host is
  never called stale (its pid means nothing here); it and a live one are refused with
  :class:`RunLockHeld`, which says whose it is and how to break it.
* A live lock of this host (its pid runs and is the holder) is never broken: two
  processes would act on the same release. The refusal names the pid and says to switch
  to its terminal or stop it (``kill PID``: it cancels its running step, runs a deploy's
  post commands and exits; its lock is then taken over without breaking).
* Breaking another host's lock (its pid cannot be checked from here) needs the owner's
  hostname typed exactly (:meth:`RunLockHeld.break_lock`); the next acquire journals
  ``run_lock_broken``.
* Within one process the lock is shared: the wizard's release run holds it and a
  hotfix or rollback opened from Welcome takes it again (counted); the last
  :meth:`RunLock.release` removes the file. ``atexit`` releases what is still held; a
  process killed with SIGKILL leaves the file, and the next process finds it stale.
"""

from __future__ import annotations

import atexit
import contextlib
import datetime as dt
import fcntl
import getpass
import hashlib
import json
import os
import secrets
import socket
import threading
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

from iact_tui.engine.journal import state_root
from iact_tui.errors import ConfirmationError, IactError


@dataclass(frozen=True)
class LockInfo:
    """What a lock file says about its holder.

    Attributes:
        repo: The repository's real path.
        owner: ``user@host``.
        host: The holder's hostname (what breaking the lock asks to type).
        pid: The holder's process id on ``host``.
        proc_start: The holder's start time in clock ticks after boot (``/proc/<pid>/stat``
            field 22); ``0`` when unknown. Tells a reused pid from the holder.
        flow: ``release``, ``hotfix`` or ``rollback``.
        version: The version the run works on; ``""`` until it is chosen.
        started: When the lock was taken, UTC ISO 8601 (``2026-11-29T15:24:08Z``).
    """

    repo: str
    owner: str
    host: str
    pid: int
    proc_start: int
    flow: str
    version: str
    started: str

    @classmethod
    def from_json(cls, text: str) -> LockInfo:
        """Parse a lock file's text.

        Raises:
            ValueError: Not a lock file's JSON (a damaged file).
        """
        data = json.loads(text)
        if not isinstance(data, dict):
            raise ValueError("not a JSON object")
        return cls(
            repo=str(data["repo"]),
            owner=str(data["owner"]),
            host=str(data["host"]),
            pid=int(data["pid"]),
            proc_start=int(data.get("proc_start") or 0),
            flow=str(data.get("flow", "")),
            version=str(data.get("version", "")),
            started=str(data.get("started", "")),
        )

    def describe(self) -> str:
        """``alice@build-1, pid 4242, release of 1.4.0, since 2026-11-29T15:24:08Z``."""
        version = f" of {self.version}" if self.version else " (version not chosen yet)"
        return f"{self.owner}, pid {self.pid}, {self.flow or 'a run'}{version}, since {self.started}"


@dataclass(frozen=True)
class Takeover:
    """A lock this process found and replaced: the run journals it.

    Attributes:
        previous: What the replaced lock said.
        reason: ``stale`` (its process is gone) or ``broken`` (the operator typed its host).
        detail: One sentence, e.g. ``pid 4242 is not running on build-1``.
    """

    previous: LockInfo
    reason: str
    detail: str


def live_here_fix(pid: int) -> str:
    """What to do about a live run lock of this host (it cannot be broken)."""
    return (
        f"switch to its terminal, or stop it: `kill {pid}` — it cancels its running step, runs a deploy's "
        "post commands and exits; its lock is then taken over without breaking"
    )


class RunLockHeld(IactError):
    """Another live iact-tui (or one on another host) holds the repository's run lock.

    Attributes:
        lock: The lock this process wanted (:meth:`break_lock` acts on it).
        holder: What the held lock says; ``None`` when the file cannot be read.
        breakable: Whether the operator may break it (typed hostname): ``False`` for a
            live holder on this host and for an unreadable file.
    """

    def __init__(self, lock: RunLock, holder: LockInfo | None, why: str, *, live_here: bool = False) -> None:
        self.lock, self.holder = lock, holder
        self.breakable = holder is not None and not live_here
        if holder is None:
            what = f"{lock.repo} is locked by {lock.path}, which cannot be read ({why})"
            fix = (
                "if no other iact-tui runs on this repository, delete that file and start again; "
                "otherwise wait for it to finish"
            )
        elif live_here:
            what = f"another iact-tui is working on {lock.repo}: {holder.describe()} ({why})"
            fix = f"wait for it to finish, or {live_here_fix(holder.pid)}"
        else:
            what = f"another iact-tui is working on {lock.repo}: {holder.describe()} ({why})"
            fix = (
                f"wait for it to finish; if that run is gone (a crashed process on {holder.host}), break the "
                f"lock: the wizard offers it (type the hostname {holder.host}), or delete {lock.path}"
            )
        super().__init__(what, fix)

    def break_lock(self, typed: str) -> None:
        """Break the held lock; see :meth:`RunLock.break_lock`.

        Raises:
            ConfirmationError: ``typed`` is not the holder's hostname, or the holder is
                a live iact-tui on this host (never broken).
        """
        self.lock.break_lock(typed, self.holder)


class RunLockLost(IactError):
    """The run lock this process held is gone or names another process: its file was
    deleted by hand, or another host's iact-tui broke it (typing this host's name), and
    another process may hold it now. This process must not change the repository or
    record anything in its run any more.

    Attributes:
        holder: What the lock file says now; ``None`` when it is gone (not retaken).
    """

    def __init__(self, lock: RunLock, holder: LockInfo | None) -> None:
        self.holder = holder
        if holder is None:
            what = (
                f"this iact-tui's run lock on {lock.repo} is gone ({lock.path} was deleted or broken from another host)"
            )
            fix = (
                "quit this iact-tui without going on: another iact-tui may start on this repository now; "
                "nothing more is done here"
            )
        else:
            what = f"this iact-tui no longer holds the run lock on {lock.repo}: {holder.describe()} holds it"
            fix = (
                f"quit this iact-tui without going on: {holder.owner} (pid {holder.pid}) owns the release now; "
                "nothing more is done here"
            )
        super().__init__(what, fix)


def git_common_dir(repo: Path) -> Path | None:
    """The git directory that all worktrees of ``repo`` share (what ``git rev-parse
    --git-common-dir`` prints), read from ``repo/.git`` without running git; ``None``
    when ``repo`` has no ``.git``. Blocking (file reads)."""
    dot = repo / ".git"
    try:
        if dot.is_dir():
            return dot
        text = dot.read_text(encoding="utf-8")
    except OSError:
        return None
    if not text.startswith("gitdir:"):
        return None
    gitdir = (repo / text.removeprefix("gitdir:").strip()).resolve()  # a worktree's own git dir
    try:
        common = (gitdir / "commondir").read_text(encoding="utf-8").strip()
    except OSError:
        return gitdir
    return (gitdir / common).resolve()


def lock_dir(repo: Path, state_dir: Path | None = None) -> Path:
    """Where ``repo``'s run lock and its guard live: ``<git common dir>/iact-tui``, one
    place for every user, state dir and worktree of the repository (found by a trial: a
    second operator with another ``XDG_STATE_HOME`` started a second release beside the
    first); ``<state>/locks`` for a folder without git."""
    common = git_common_dir(repo)
    return common / "iact-tui" if common is not None else state_root(state_dir) / "locks"


#: Lock path → [the lock, how many runs of this process hold it].
_held: dict[Path, list[Any]] = {}
#: Lock path → the lock this process broke (journaled by the next acquire).
_broken: dict[Path, LockInfo] = {}
_registry = threading.Lock()


class RunLock:
    """The run lock of one repository, as seen from this process.

    Args:
        repo: The repository (any path to it: the real path is the key).
        flow: The flow taking it (``release``, ``hotfix``, ``rollback``).
        version: The version the run works on, if known.
        state_dir: Where runs are kept; ``None``: platformdirs' user state dir. The lock
            lives in the repository's git directory (:func:`lock_dir`), so every user,
            state dir and worktree of the repository sees it; ``<state>/locks`` only
            when ``repo`` has no git directory.
        host: This host's name; ``None``: :func:`socket.gethostname` (tests inject one).
    """

    def __init__(
        self,
        repo: Path,
        *,
        flow: str,
        version: str = "",
        state_dir: Path | None = None,
        host: str | None = None,
    ) -> None:
        self.repo = os.path.realpath(repo)
        self.flow, self.version = flow, version
        self.host = host if host is not None else socket.gethostname()
        # One lock per repository: its worktrees share the git directory, and the lock.
        common = git_common_dir(Path(self.repo))
        keyed = os.path.realpath(common) if common is not None else self.repo
        key = hashlib.sha256(keyed.encode("utf-8", "surrogateescape")).hexdigest()[:16]
        self.path = lock_dir(Path(self.repo), state_dir) / f"{key}.lock"
        self._guard_path = self.path.with_suffix(".guard")
        #: Set once :meth:`check` found the lock taken from this process (it stays lost).
        self.lost = False

    # -- taking and giving back ----------------------------------------------------------

    def acquire(self) -> Takeover | None:
        """Take the lock (again, when this process holds it already).

        Returns:
            The lock replaced, when it was stale or broken by this process's operator
            (the run journals it); ``None`` otherwise.

        Raises:
            RunLockHeld: A live process or another host holds it, or it cannot be read.
            OSError: The state dir cannot be written.
        """
        with _registry:
            entry = _held.get(self.path)
            if entry is not None:
                entry[1] += 1
                return None
            with self._guarded():
                takeover = self._take()
            _held[self.path] = [self, 1]
            return takeover

    def release(self) -> None:
        """Give the lock back; the last holder in this process removes the file (only if
        it is still this process's: a lock broken and taken by another stays). A run that
        shared the lock with the one that took it (a hotfix opened from the wizard beside
        its release run) gives the file back to that one's flow and version."""
        with _registry:
            entry = _held.get(self.path)
            if entry is None:
                return
            entry[1] -= 1
            if entry[1] > 0:
                first = entry[0]
                if (
                    isinstance(first, RunLock)
                    and first is not self
                    and (first.flow, first.version)
                    != (
                        self.flow,
                        self.version,
                    )
                ):
                    with self._guarded():
                        current = self._read()
                        if isinstance(current, LockInfo) and self._is_mine(current):
                            os.replace(first._write_temp(first._info(started=current.started)), self.path)
                return
            del _held[self.path]
            with self._guarded():
                current = self._read()
                if isinstance(current, LockInfo) and self._is_mine(current):
                    self.path.unlink(missing_ok=True)

    @property
    def held(self) -> bool:
        """Whether this process holds the lock."""
        with _registry:
            return self.path in _held

    def __enter__(self) -> RunLock:
        self.acquire()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.release()

    def set_version(self, version: str) -> None:
        """Say in the lock which version the run works on (rewritten atomically; a no-op
        unless this process holds it)."""
        with _registry:
            if self.path not in _held or version == self.version:
                return
            self.version = version
            with self._guarded():
                current = self._read()
                if isinstance(current, LockInfo) and self._is_mine(current):
                    tmp = self._write_temp(self._info(started=current.started))
                    os.replace(tmp, self.path)

    def check(self) -> None:
        """Make sure the lock file still names this process (host, pid and start time),
        before a step changes anything. A no-op unless this process holds the lock.
        Blocking (reads the lock file): call it in a thread from the event loop.

        Raises:
            RunLockLost: The file is gone or names another process (:attr:`lost` is set).
        """
        if not self.held:
            return
        current = self._read()
        mine = (
            isinstance(current, LockInfo)
            and self._is_mine(current)
            and not (current.proc_start and current.proc_start != _proc_start(os.getpid()))
        )
        if not mine:
            self.lost = True
            raise RunLockLost(self, current if isinstance(current, LockInfo) else None)

    # -- breaking --------------------------------------------------------------------------

    def break_lock(self, typed: str, expected: LockInfo | None = None) -> None:
        """Remove another host's lock, once the operator typed its hostname.

        A live holder on this host (its pid runs and is the holder) is refused whatever
        is typed: two processes would act on the same release; stop that process
        instead (its lock is then taken over). The lock removed must still be
        ``expected`` (the one shown to the operator) when given: a lock that changed
        hands meanwhile is refused. The next :meth:`acquire` by this process journals
        ``broken`` with the old holder.

        Args:
            typed: What the operator typed; must equal the holder's hostname exactly
                (surrounding blanks ignored).
            expected: The lock the operator saw; ``None``: whatever is there.

        Raises:
            ConfirmationError: The holder is a live iact-tui on this host, ``typed`` is
                not the holder's hostname, or the lock changed since it was shown.
        """
        with _registry, self._guarded():
            current = self._read()
            if current is None:
                return  # gone already
            if isinstance(current, LockInfo) and self._live_here(current):
                raise ConfirmationError(
                    f"the run lock on {self.repo} is held by pid {current.pid}, an iact-tui running on this host "
                    f"({current.describe()}): it cannot be broken",
                    live_here_fix(current.pid),
                )
            host = current.host if isinstance(current, LockInfo) else "unreadable"
            if typed.strip() != host:
                raise ConfirmationError(
                    f"“{typed.strip()}” is not the lock owner's hostname",
                    f"type {host} exactly to break the lock, or leave it and wait",
                )
            if expected is not None and current != expected:
                raise ConfirmationError(
                    "the lock changed hands since it was shown", "look at who holds it now and decide again"
                )
            self.path.unlink(missing_ok=True)
            if isinstance(current, LockInfo):
                _broken[self.path] = current

    # -- inside the guard -----------------------------------------------------------------

    @contextlib.contextmanager
    def _guarded(self) -> Iterator[None]:
        """Hold ``<key>.guard``'s flock (released by the kernel if this process dies)."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self._guard_path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)  # closing drops the flock

    def _take(self) -> Takeover | None:
        """Create the lock file, replacing a stale one or this process's own leftover.

        Raises:
            RunLockHeld: A live or foreign holder, or an unreadable lock file.
        """
        broken = _broken.pop(self.path, None)
        takeover = (
            Takeover(broken, "broken", f"the operator typed {broken.host} to break {broken.owner}'s lock")
            if broken is not None
            else None
        )
        for _ in range(3):
            tmp = self._write_temp(self._info())
            try:
                os.link(tmp, self.path)
                return takeover
            except FileExistsError:
                pass
            finally:
                os.unlink(tmp)
            current = self._read()
            if current is None:
                continue  # removed between the link and the read (outside the guard: by hand)
            if isinstance(current, str):
                raise RunLockHeld(self, None, current)
            if not self._is_mine(current):  # this process's own leftover is simply replaced
                stale = self._stale_reason(current)
                if stale is None:
                    if current.host != self.host:
                        raise RunLockHeld(self, current, "on another host")
                    raise RunLockHeld(self, current, "its process is running on this host", live_here=True)
                takeover = Takeover(current, "stale", stale)
            self.path.unlink(missing_ok=True)
        raise RunLockHeld(self, None, "it came back each time it was removed")

    def _read(self) -> LockInfo | str | None:
        """The lock file's holder; a string saying why it cannot be read; ``None`` when
        there is no lock file."""
        try:
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return None
        except OSError as exc:
            return exc.strerror or str(exc)
        try:
            return LockInfo.from_json(text)
        except (ValueError, KeyError, TypeError) as exc:
            return f"not a lock file: {exc}"

    def _is_mine(self, info: LockInfo) -> bool:
        return info.host == self.host and info.pid == os.getpid()

    def _live_here(self, info: LockInfo) -> bool:
        """Whether the lock's holder is another process running on this host."""
        return info.host == self.host and not self._is_mine(info) and self._stale_reason(info) is None

    def _stale_reason(self, info: LockInfo) -> str | None:
        """Why the lock's holder is gone, or ``None`` when it may be running."""
        if info.host != self.host:
            return None  # another host's pid means nothing here: never stale
        if not _pid_alive(info.pid):
            return f"pid {info.pid} is not running on {info.host}"
        started = _proc_start(info.pid)
        if info.proc_start and started:
            if started != info.proc_start:
                return f"pid {info.pid} on {info.host} is another process now (the holder ended)"
            return None
        cmdline = _cmdline(info.pid)
        if cmdline is not None and "iact" not in cmdline:
            return f"pid {info.pid} on {info.host} is not iact-tui ({cmdline[:60]})"
        return None

    def _info(self, started: str = "") -> LockInfo:
        return LockInfo(
            repo=self.repo,
            owner=f"{getpass.getuser()}@{self.host}",
            host=self.host,
            pid=os.getpid(),
            proc_start=_proc_start(os.getpid()),
            flow=self.flow,
            version=self.version,
            started=started or dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        )

    def _write_temp(self, info: LockInfo) -> Path:
        tmp = self.path.with_name(f"{self.path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        try:
            os.write(fd, (json.dumps(asdict(info), indent=1) + "\n").encode("utf-8"))
            os.fsync(fd)
        finally:
            os.close(fd)
        return tmp


def _pid_alive(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # another user's process
    return True


def _proc_start(pid: int) -> int:
    """The process's start time in clock ticks after boot; ``0`` when unknown (no /proc)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return 0
    # Field 2 (comm) may hold spaces and parentheses: count from the last ")".
    fields = stat.rsplit(")", 1)[-1].split()
    return int(fields[19]) if len(fields) > 19 else 0


def _cmdline(pid: int) -> str | None:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace").strip()
    except OSError:
        return None


@atexit.register
def _release_at_exit() -> None:
    with _registry:
        held = [entry[0] for entry in _held.values()]
        for entry in _held.values():
            entry[1] = 1
    for lock in held:
        with contextlib.suppress(OSError):
            lock.release()
