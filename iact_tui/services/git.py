"""The repository: GitPython, always called off the event loop.

Every public method is a coroutine that runs GitPython in ``asyncio.to_thread`` under a
timeout in seconds, and turns git's failures into :class:`GitError` with the command,
git's own message and what to do. Push results are read from each ``PushInfo``'s flags:
GitPython does not raise when the remote rejects a ref.

One ``git.Repo`` serves every call, and it is not thread-safe: its persistent
``git cat-file --batch(-check)`` processes are shared pipes, and two threads using them at
once can leave one blocked on the pipe for ever (the checklist runs its git checks
concurrently). So the Repo is only ever touched by the thread holding
``GitService._lock``, taken inside the worker thread and released only when that thread
is done with the Repo. A call that times out reports at once; its thread keeps the lock
until it ends, and ends soon because the timeout kills its git processes (the running
command through GitPython's ``kill_after_timeout``, the persistent cat-file processes
directly), so a hung git never keeps the process from exiting.
"""

from __future__ import annotations

import asyncio
import codecs
import contextlib
import dataclasses
import fnmatch
import os
import re
import signal
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import git
from git.remote import PushInfo

from iact_tui.errors import GitError, RepositoryError
from iact_tui.services.aio import within
from iact_tui.services.changelog import Commit, CommitLog, classify_columns
from iact_tui.services.files import write_atomic

T = TypeVar("T")

_REF_BAD = re.compile(r"(^[-/.])|(\.\.)|(@\{)|([\x00-\x20\x7f~^:?*\[\\])|(/$)|(\.lock$)|(\.$)|(//)")


def check_ref_name(name: str) -> str:
    """Validate a branch or tag name by git's rules (``git check-ref-format``).

    Args:
        name: The short name, e.g. ``release/v1.4.0``.

    Returns:
        The name unchanged.

    Raises:
        GitError: The name is empty or breaks a rule (names the rule's offending part).
    """
    if not name or _REF_BAD.search(name) or any(part.startswith(".") for part in name.split("/")):
        raise GitError(f"{name!r} is not a valid git ref name", "see `git help check-ref-format` for the rules")
    return name


def _matching(paths: list[str], pattern: str) -> list[str]:
    """``paths`` matching an fnmatch ``pattern`` (``*`` crosses ``/``; ``**/`` = any folder), sorted."""
    glob = pattern.removeprefix("**/")
    anywhere = glob != pattern
    return sorted(
        p for p in paths if p and (fnmatch.fnmatchcase(p, glob) or (anywhere and fnmatch.fnmatchcase(p, "*/" + glob)))
    )


@dataclass(frozen=True)
class AheadBehind:
    """How a local branch relates to its remote counterpart (commit counts)."""

    ahead: int
    behind: int


@dataclass(frozen=True)
class PushResult:
    """One ref's push outcome: ``summary`` is git's own one-line result."""

    ref: str
    summary: str


def _added_bullets(diff: str) -> tuple[str, ...]:
    """The Markdown bullet entries (``- ``, ``* ``, ``+ ``) a ``-U0`` diff adds, their text
    without the bullet, in order."""
    return tuple(
        line[1:].lstrip()[2:].strip()
        for line in diff.splitlines()
        if line.startswith("+") and not line.startswith("+++") and line[1:].lstrip()[:2] in {"- ", "* ", "+ "}
    )


def _all_object_ids(texts: list[str]) -> bool:
    """Whether every text is a full object id (40 hex digits, or 64 in a SHA-256 repository).

    Checked in bulk (one join and one hex decode for 20,000 ids, ~1 ms; per id it was ~7 ms).
    """
    if not set(map(len, texts)) <= {40, 64}:
        return False
    try:
        bytes.fromhex("".join(texts))
    except ValueError:
        return False
    return True


def _spaces(texts: list[str]) -> zip[tuple[str, int]]:
    """Each text with the number of spaces in it."""
    return zip(texts, map(str.count, texts, [" "] * len(texts)), strict=True)


_WALK_FORMAT = "--format=%x00%H%x00%P%x00%an%x00%s%x00%b%x00"
"""The changelog walk's format: a NUL before and after each field (see ``_log_with_bullets``)."""

_CHUNK = 1 << 16
"""Bytes of log under which the reader waits a little before reading on."""


def _read_records(
    parts: list[str], bodies: list[str], parents: list[int], entries: list[tuple[str, str] | None]
) -> None:
    """Extend ``bodies`` (stripped), ``parents`` (counts) and ``entries`` (classified)
    with the records of ``parts`` (the walk's fields so far) not read yet.

    A record is read once its body is complete (its ``after`` part may still grow).
    """
    # Record k's fields: parts[6k+1] id, +2 parents, +3 author, +4 subject, +5 body.
    first, last = len(entries), len(parts) // 6
    if last <= first:
        return
    stop = 6 * last
    new_bodies = [body.strip() for body in parts[6 * first + 5 : stop : 6]]
    # %P: the parents' ids, one space between them ("" for a root commit).
    new_parents = [spaces + 1 if spaces or ids else 0 for ids, spaces in _spaces(parts[6 * first + 2 : stop : 6])]
    bodies += new_bodies
    parents += new_parents
    entries += classify_columns(parts[6 * first + 4 : stop : 6], new_bodies, new_parents)


def _kill_group(pid: int) -> None:
    """Kill the process group of a git command whose call timed out (it may have ended)."""
    with contextlib.suppress(OSError):
        os.killpg(pid, signal.SIGKILL)


class GitService:
    """Git operations on one working tree.

    Args:
        root: The repository's working tree.
        timeout: Seconds one operation (fetch, push, ls-remote...) may take.

    Raises:
        GitError: From the constructor when ``root`` is not a git working tree.
    """

    def __init__(self, root: Path, *, timeout: float = 120.0) -> None:
        self.root = root
        self.timeout = timeout
        try:
            self._repo = _Repo(root)
        except (git.InvalidGitRepositoryError, git.NoSuchPathError):
            raise RepositoryError(
                f"{root} is not a git repository (iact-tui releases the repository that holds its config file)",
                "run iact-tui inside the product's clone, or keep iact-release.toml at that clone's root",
            ) from None
        # Held by the one thread using ``self._repo``; see the module docstring.
        self._lock = threading.Lock()
        # Set after a timeout killed the persistent cat-file processes: the next holder of
        # the lock drops them so GitPython starts fresh ones.
        self._stale = False

    def close(self) -> None:
        """Stop the persistent ``git cat-file`` processes, waiting for no running call.

        Safe to call while a call is still running in its thread (it then fails soon
        instead of waiting on a dead pipe); the service stays usable afterwards.
        """
        self._kill_persistent()

    def _kill_persistent(self) -> None:
        cmd_git = self._repo.git
        procs = [getattr(cmd, "proc", None) for cmd in (cmd_git.cat_file_all, cmd_git.cat_file_header) if cmd]
        self._stale = True
        for proc in procs:
            # Only a signal here: closing the pipes could block on the hung thread's locks.
            if proc is not None:
                with contextlib.suppress(OSError):
                    proc.kill()

    async def _run(self, fn: Callable[[], T]) -> T:
        """Run ``fn`` in a thread holding the Repo alone, within ``self.timeout`` seconds.

        Raises:
            TimeoutError: ``fn`` did not finish in time (waiting for the Repo included);
                its git processes are killed so the thread ends soon.
        """
        deadline = time.monotonic() + self.timeout
        started = threading.Event()
        abandoned = threading.Event()

        def locked() -> T:
            if not self._lock.acquire(timeout=max(0.0, deadline - time.monotonic())):
                raise TimeoutError
            try:
                if abandoned.is_set():
                    # The caller timed out or was cancelled while this waited: a late
                    # commit or push nobody awaits must not happen.
                    raise TimeoutError
                if self._stale:
                    self._stale = False
                    self._repo.git.clear_cache()
                started.set()
                # A git command still running a little after the deadline is killed
                # (the caller has its TimeoutError by then).
                self._repo.git.kill_after = max(0.0, deadline - time.monotonic()) + _KILL_GRACE
                try:
                    return fn()
                finally:
                    self._repo.git.kill_after = None
            finally:
                self._lock.release()

        # Shielded: a timeout must not pretend the thread stopped (``thread.done()`` says
        # when it really has); its late outcome is read and dropped.
        thread = asyncio.ensure_future(asyncio.to_thread(locked))
        thread.add_done_callback(_drop_outcome)
        try:
            return await within(asyncio.shield(thread), self.timeout)
        except TimeoutError:
            if started.is_set() and not thread.done():
                self._kill_persistent()
            raise
        finally:
            abandoned.set()

    async def _call(self, what: str, fn: Callable[[], T]) -> T:
        try:
            return await self._run(fn)
        except TimeoutError:
            raise GitError(
                f"git {what} took longer than {self.timeout:g} s",
                "check the remote is reachable, or raise [timeouts] git",
            ) from None
        except git.GitCommandError as exc:
            raise GitError(
                f"git {what} failed: {_stderr(exc)}", "fix the cause shown by git and retry this step"
            ) from None

    # -- reading ---------------------------------------------------------------------

    async def tags(self) -> list[str]:
        """Names of all local tags."""
        return await self._call("tag", lambda: [t.name for t in self._repo.tags])

    async def current_branch(self) -> str | None:
        """The checked-out branch's name, or ``None`` when HEAD is detached."""

        def read() -> str | None:
            if self._repo.head.is_detached:
                return None
            return self._repo.active_branch.name

        return await self._call("branch", read)

    async def dirty_files(self) -> tuple[list[str], list[str]]:
        """``(changed, untracked)`` paths relative to the root; changed includes staged."""

        def read() -> tuple[list[str], list[str]]:
            out = self._repo.git.status("--porcelain=v1", "-z")
            changed: list[str] = []
            untracked: list[str] = []
            for entry in out.split("\0"):
                if not entry:
                    continue
                code, path = entry[:2], entry[3:]
                (untracked if code == "??" else changed).append(path)
            return changed, untracked

        return await self._call("status", read)

    async def fetch(self, remote: str, *, tags: bool = True) -> None:
        """``git fetch --tags --prune REMOTE`` (``--no-tags`` instead when ``tags`` is False).

        Args:
            remote: The remote's name.
            tags: Fetch every tag too; False fetches branches only, so local tags stay as
                they are (only remote-tracking refs change).

        Raises:
            GitError: The remote is unknown or unreachable.
        """
        await self.require_remote(remote)
        flag = "--tags" if tags else "--no-tags"
        await self._call(f"fetch {remote}", lambda: self._repo.git.fetch(flag, "--prune", remote))

    async def remotes(self) -> list[str]:
        """Names of the configured remotes."""
        return await self._call("remote", lambda: [r.name for r in self._repo.remotes])

    async def require_remote(self, remote: str) -> None:
        """Check a remote named ``remote`` is configured.

        Raises:
            GitError: It is not (names the remotes there are and how to add it).
        """
        names = await self.remotes()
        if remote not in names:
            raise GitError(
                f"the repository has no remote named {remote!r} (it has: {', '.join(names) or 'none'})",
                f"add it with `git remote add {remote} URL`, or set [project] remote in iact-release.toml",
            )

    async def remote_url(self, remote: str) -> str:
        """The URL ``remote`` fetches from (``git remote get-url``)."""
        return await self._call(f"remote get-url {remote}", lambda: str(self._repo.git.remote("get-url", remote)))

    async def check_reachable(self, remote: str) -> str:
        """Check the remote exists and answers (``git ls-remote REMOTE HEAD``, no prompts).

        Returns:
            The remote's URL.

        Raises:
            GitError: No such remote, or it cannot be reached: names the URL and git's reason.
        """
        await self.require_remote(remote)
        url = await self.remote_url(remote)
        where = f"cannot reach remote {remote} ({url})"

        def probe() -> None:
            # Never wait on an https credentials prompt nobody can see.
            self._repo.git.ls_remote(remote, "HEAD", env={"GIT_TERMINAL_PROMPT": "0"})

        try:
            await self._run(probe)
        except TimeoutError:
            raise GitError(
                f"{where}: no answer within {self.timeout:g} s",
                "check the network (VPN?) and the URL (`git remote -v`), or raise [timeouts] git",
            ) from None
        except git.GitCommandError as exc:
            raise GitError(
                f"{where}: {_reason(exc)}",
                f"check the network and the URL (`git remote -v`; fix it with `git remote set-url {remote} URL`), "
                "then retry",
            ) from None
        return url

    async def is_shallow(self) -> bool:
        """Whether the clone is shallow (``git rev-parse --is-shallow-repository``)."""
        return await self._call(
            "rev-parse --is-shallow-repository",
            lambda: str(self._repo.git.rev_parse("--is-shallow-repository")).strip() == "true",
        )

    async def remote_tags(self, remote: str) -> list[str]:
        """Names of the tags on the remote (``git ls-remote --tags --refs``)."""

        def read() -> list[str]:
            out = str(self._repo.git.ls_remote("--tags", "--refs", remote))
            return [line.split("refs/tags/", 1)[1] for line in out.splitlines() if "refs/tags/" in line]

        return await self._call(f"ls-remote --tags {remote}", read)

    async def ahead_behind(self, branch: str, remote: str) -> AheadBehind:
        """Commits ``branch`` has that ``remote/branch`` lacks, and the reverse.

        Raises:
            GitError: ``remote/branch`` does not exist.
        """

        def read() -> AheadBehind:
            out = self._repo.git.rev_list("--left-right", "--count", f"{branch}...{remote}/{branch}")
            ahead, behind = (int(x) for x in out.split())
            return AheadBehind(ahead, behind)

        return await self._call(f"rev-list {branch}...{remote}/{branch}", read)

    async def remote_tag_exists(self, remote: str, tag: str) -> bool:
        """Whether ``refs/tags/TAG`` exists on the remote (``git ls-remote``)."""
        out = await self._call(
            f"ls-remote {remote}", lambda: str(self._repo.git.ls_remote("--tags", remote, f"refs/tags/{tag}"))
        )
        return bool(out.strip())

    async def remote_branch_exists(self, remote: str, branch: str) -> bool:
        """Whether ``refs/heads/BRANCH`` exists on the remote (``git ls-remote``)."""
        out = await self._call(
            f"ls-remote {remote}", lambda: str(self._repo.git.ls_remote("--heads", remote, f"refs/heads/{branch}"))
        )
        return bool(out.strip())

    async def rev(self, ref: str) -> str | None:
        """The commit sha ``ref`` points at (tags peeled), or ``None`` if it does not exist."""

        def read() -> str | None:
            try:
                return str(self._repo.git.rev_parse("--verify", "--quiet", f"{ref}^{{commit}}")).strip() or None
            except git.GitCommandError:
                return None

        return await self._call("rev-parse", read)

    async def commits_since(self, tag: str | None, changelog: str | None = None) -> CommitLog:
        """Commits reachable from HEAD and not from ``tag``, oldest first.

        Args:
            tag: The previous release tag; ``None`` for the whole history.
            changelog: The changelog's path (relative to the root); the bullet entries each
                commit added to it are kept in ``changelog_added``.

        Returns:
            The commits (a :class:`CommitLog`, a sequence of :class:`Commit` kept as
            columns); subjects and bodies decoded as UTF-8 with replacement, so bytes
            that are not UTF-8 never raise.
        """
        rev = f"{tag}..HEAD" if tag else "HEAD"

        def read() -> CommitLog:
            try:
                if not changelog:
                    return CommitLog.of(self._log(rev)[::-1])
                walked = self._log_with_bullets(rev, changelog)
            except git.GitCommandError:
                # Checked only now: ``head.is_valid()`` starts GitPython's cat-file
                # process, a cost every draft would pay up front.
                if not self._repo.head.is_valid():
                    return CommitLog.of([])  # no commit yet: nothing to draft from
                raise
            if walked is not None:
                return walked
            # Per commit, the bullet lines it added to the changelog (``-U0`` diffs). Both
            # logs walk the whole range: the second runs in its own git process at the same
            # time (a plain command, not the shared cat-file pipes; joined before returning).
            with ThreadPoolExecutor(max_workers=1, thread_name_prefix="git-log") as pool:
                diffs = pool.submit(self._repo.git.log, rev, "--format=%x1e%H", "-U0", "--no-color", "--", changelog)
                commits = self._log(rev, "--reverse")
                out = str(diffs.result())
            added: dict[str, tuple[str, ...]] = {}
            for chunk in out.split("\x1e"):
                head, _, diff = chunk.partition("\n")
                if head.strip():
                    added[head.strip()] = _added_bullets(diff)
            return CommitLog.of(
                [dataclasses.replace(c, changelog_added=added[c.sha]) if c.sha in added else c for c in commits]
            )

        return await self._call(f"log {rev}", read)

    async def is_ancestor(self, ancestor: str, descendant: str) -> bool:
        """Whether ``ancestor`` is reachable from ``descendant`` (``merge-base --is-ancestor``)."""

        def read() -> bool:
            try:
                self._repo.git.merge_base("--is-ancestor", ancestor, descendant)
                return True
            except git.GitCommandError as exc:
                if exc.status == 1:
                    return False
                raise

        return await self._call("merge-base", read)

    async def log_grep(self, ref: str, subject: str) -> str | None:
        """The newest commit on ``ref`` whose subject is exactly ``subject``, or ``None``."""

        def read() -> str | None:
            if not self._repo.head.is_valid():
                return None
            out = str(self._repo.git.log(ref, "--format=%H%x1f%s", "-n", "200"))
            for line in out.splitlines():
                sha, _, subj = line.partition("\x1f")
                if subj == subject:
                    return sha
            return None

        return await self._call(f"log {ref}", read)

    async def subjects(self, rev_range: str, limit: int = 200) -> list[tuple[str, str]]:
        """``(sha, subject)`` of the commits in ``rev_range`` (e.g. ``origin/main..main``), newest first.

        Args:
            rev_range: Anything ``git log`` takes.
            limit: At most this many commits.

        Raises:
            GitError: The range cannot be read.
        """

        def read() -> list[tuple[str, str]]:
            if not self._repo.head.is_valid():
                return []
            out = str(self._repo.git.log(rev_range, "--format=%H%x1f%s", "-n", str(limit)))
            return [(sha, subject) for sha, _, subject in (line.partition("\x1f") for line in out.splitlines())]

        return await self._call(f"log {rev_range}", read)

    async def mainline_commits(self, old: str | None, new: str, limit: int = 1000) -> list[Commit]:
        """The commits on ``new``'s first-parent line that ``old`` lacks, oldest first.

        On a main branch these are the merges of pull requests, squash merges and commits
        made (or rebased) onto it directly; the commits inside a merged branch are not
        listed (``git log --first-parent old..new``).

        Args:
            old: The previous release tag; ``None`` for the whole history.
            new: The release branch (or any commit-ish).
            limit: At most this many, the newest ones.

        Raises:
            GitError: A revision is unknown.
        """
        rev = f"{old}..{new}" if old else new

        def read() -> list[Commit]:
            return self._log(rev, "--first-parent", "-n", str(limit))[::-1]

        return await self._call(f"log --first-parent {rev}", read)

    def _log_with_bullets(self, rev: str, changelog: str) -> CommitLog | None:
        """Every commit of ``rev``, oldest first, each with the bullet lines it added to
        ``changelog``, from one ``git log`` walk (in a worker thread).

        ``--full-history --sparse`` keeps every commit while the pathspec limits the
        ``-U0`` diffs to the changelog: one walk instead of the whole log plus a
        path-limited second one (20,000 commits: ~150 ms of git instead of 2 x ~110 ms).
        The walk runs newest first (``--reverse`` costs git ~30 ms more per 20,000
        commits than reversing the columns here). The commits are read and classified
        (:func:`~iact_tui.services.changelog.classify_columns`) as git writes them
        (:meth:`_log_chunks`), so that work overlaps git's own.

        Returns:
            The commits, with their classification; ``None`` when the output is not of
            the expected shape (the caller falls back to two logs).

        Raises:
            git.GitCommandError: git failed (an unknown revision, no commit yet...).
        """
        args = (rev, "--full-history", "--sparse", _WALK_FORMAT, "-U0", "--no-color", "--", changelog)
        # Every field starts and ends with a NUL, which no commit message or name can hold
        # (git keeps them as C strings) and a -U0 diff never shows (a file holding one is
        # binary to git). So splitting the whole output gives "", then six parts per
        # commit: id, parents, author, subject, body, and what git wrote after the body
        # (the commit's diff of the changelog when it touched it, and newlines).
        decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        parts: list[str] = []
        tail = ""  # the text after the last NUL so far
        bodies: list[str] = []
        parents: list[int] = []
        entries: list[tuple[str, str] | None] = []
        for chunk in self._log_chunks(*args):
            *done, tail = (tail + decoder.decode(chunk)).split("\0")
            parts += done
            _read_records(parts, bodies, parents, entries)
        parts.append(tail + decoder.decode(b"", final=True))
        _read_records(parts, bodies, parents, entries)
        if len(parts) % 6 != 1 or parts[0].strip():
            return None
        shas = parts[1::6]
        if not _all_object_ids(shas) or len(entries) != len(shas):
            return None
        # Columns, no Commit objects (see CommitLog), reversed to oldest first.
        return CommitLog(
            shas[::-1],
            parts[-3::-6],
            bodies[::-1],
            parts[-4::-6],
            parents[::-1],
            [_added_bullets(after) if "\n+" in after else () for after in parts[:0:-6]],
            entries[::-1],
        )

    def _log_chunks(self, *args: str) -> Iterator[bytes]:
        """The output of ``git log ARGS`` (in a worker thread), in pieces as git writes it.

        git writes to a temporary file (``--output``), read while git runs (pausing 2 ms
        when less than 64 KiB came) and to the end once it has exited: through a pipe the
        reader took about 7,000 small reads for 20,000 commits (about 40 ms of CPU, a
        third of a draft's own work then). The file is private to this process
        (``mkstemp``, mode 0600) and removed after. Through the pipe, in one piece: without
        a writable temp dir, or when the file stayed empty (a git whose ``log`` does not
        write its log to ``--output``; or an empty range, read twice then).

        Raises:
            git.GitCommandError: git failed, or was killed after the call's timeout (as
                any GitPython command, see ``_Git.execute``).
        """
        try:
            fd, name = tempfile.mkstemp(prefix="iact-git-log-")
        except OSError:  # no writable temp dir
            out = self._repo.git.log(*args, stdout_as_string=False)
            yield out if isinstance(out, bytes) else str(out).encode()
            return
        os.close(fd)
        watchdog: threading.Timer | None = None
        try:
            command = [self._repo.git.GIT_PYTHON_GIT_EXECUTABLE or "git", "log", f"--output={name}", *args]
            # Its own process group, so a timeout also kills what git started (a textconv
            # filter holding the stderr pipe would keep the read of git's errors waiting).
            process = self._repo.git.execute(command, as_process=True, with_stdout=False, start_new_session=True)
            kill_after = self._repo.git.kill_after
            if kill_after is not None and sys.platform != "win32":
                watchdog = threading.Timer(kill_after, _kill_group, (process.proc.pid,))
                watchdog.daemon = True
                watchdog.start()
            written = 0
            with open(name, "rb") as file:
                while True:
                    ended = process.proc.poll() is not None  # before reading: then all is read
                    chunk = file.read()
                    if chunk:
                        written += len(chunk)
                        yield chunk
                    if ended:
                        break
                    if len(chunk) < _CHUNK:
                        time.sleep(0.002)
            process.wait()  # raises GitCommandError, with git's stderr, when git failed
            if not written:
                out = self._repo.git.log(*args, stdout_as_string=False)
                if out:
                    yield out if isinstance(out, bytes) else str(out).encode()
        finally:
            if watchdog is not None:
                watchdog.cancel()
            with contextlib.suppress(OSError):
                os.unlink(name)

    def _log(self, rev: str, *options: str) -> list[Commit]:
        """``git log`` of ``rev`` parsed into :class:`Commit` values, in git's order (in a
        worker thread; text decoded as UTF-8 with replacement)."""
        raw = self._repo.git.log(rev, *options, "--format=%H%x00%P%x00%an%x00%s%x00%b%x00", stdout_as_string=False)
        text = raw.decode("utf-8", errors="replace") if isinstance(raw, bytes) else str(raw)
        # Every field ends with a NUL, which no commit message or name can hold (git
        # keeps them as C strings); git puts a newline between records. One split gives
        # five fields per commit (a draft reads 20,000 of them).
        parts = text.split("\0")
        tail = parts.pop()
        shas = [p.strip("\n") for p in parts[::5]]
        if not tail.strip() and len(parts) % 5 == 0 and all(len(sha) in (40, 64) and sha.isalnum() for sha in shas):
            it = iter(parts)
            return [
                # %P: the parents' ids, one space between them.
                Commit(sha.strip("\n"), subject, body.strip(), author, parents.count(" ") + 1 if parents else 0)
                for sha, parents, author, subject, body in zip(it, it, it, it, it, strict=True)
            ]
        # Not the shape expected (a git that drops NULs): record by record, as it used to be.
        raw = self._repo.git.log(rev, *options, "--format=%H%x1f%P%x1f%an%x1f%s%x1f%b%x1e", stdout_as_string=False)
        text = raw.decode("utf-8", errors="replace") if isinstance(raw, bytes) else str(raw)
        commits = []
        for rec in text.split("\x1e"):
            rec = rec.strip("\n")
            if rec:
                sha, parents, author, subject, body = [*rec.split("\x1f"), "", "", "", ""][:5]
                commits.append(Commit(sha, subject, body.strip(), author, len(parents.split())))
        return commits

    async def added_paths(self, old: str, new: str, pattern: str) -> list[str]:
        """Files added between two commits whose path matches ``pattern``, sorted.

        Args:
            old: The older commit-ish (e.g. ``v1.3.2``).
            new: The newer one (e.g. ``v1.4.0``).
            pattern: An :mod:`fnmatch` pattern over the whole path, where ``*`` also
                crosses ``/`` and a leading ``**/`` means any folder, e.g.
                ``**/migrations/[0-9]*.py``.

        Raises:
            GitError: Either revision is unknown.
        """

        def read() -> list[str]:
            out = str(self._repo.git.diff("--name-only", "--diff-filter=A", old, new))
            return _matching(out.splitlines(), pattern)

        return await self._call(f"diff {old} {new}", read)

    async def list_paths(self, ref: str, pattern: str) -> list[str]:
        """Files at ``ref`` whose path matches ``pattern`` (as in :meth:`added_paths`), sorted.

        Raises:
            GitError: ``ref`` is unknown.
        """

        def read() -> list[str]:
            out = str(self._repo.git.ls_tree("-r", "--name-only", ref))
            return _matching(out.splitlines(), pattern)

        return await self._call(f"ls-tree {ref}", read)

    async def head_subject(self) -> str:
        """The subject line of HEAD's commit."""
        return await self._call("log -1", lambda: str(self._repo.head.commit.summary))

    async def show_file(self, ref: str, path: str) -> str:
        """The text of ``path`` at ``ref`` (``git show REF:PATH``)."""
        return await self._call(f"show {ref}:{path}", lambda: str(self._repo.git.show(f"{ref}:{path}")))

    # -- changing --------------------------------------------------------------------

    async def checkout(self, branch: str) -> None:
        """Check out an existing local branch."""
        await self._call(f"checkout {branch}", lambda: self._repo.git.checkout(branch))

    async def create_branch(self, branch: str, start: str) -> None:
        """Create ``branch`` at ``start`` and check it out (``git checkout -b``)."""
        check_ref_name(branch)
        await self._call(f"checkout -b {branch}", lambda: self._repo.git.checkout("-b", branch, start))

    async def delete_merged_branch(self, branch: str) -> None:
        """Delete a local branch with ``git branch -d``: git refuses one whose commits are
        not on its upstream or on HEAD, so no work can be lost.

        Raises:
            GitError: ``branch`` is not a valid name, does not exist or is not fully merged.
        """
        check_ref_name(branch)
        await self._call(f"branch -d {branch}", lambda: self._repo.git.branch("-d", branch))

    async def commit_paths(self, paths: list[str], message: str) -> str:
        """Commit exactly ``paths`` (relative to the root) with ``message``.

        Only those paths are staged and committed, whatever else the tree holds.

        Returns:
            The new commit's sha.
        """

        def do() -> str:
            self._repo.git.add("--", *paths)
            self._repo.git.commit("-m", message, "--only", "--", *paths)
            return str(self._repo.head.commit.hexsha)

        return await self._call("commit", do)

    async def merge_no_ff(self, branch: str, message: str) -> str:
        """Merge ``branch`` into the checked-out branch with a merge commit.

        Raises:
            GitError: A conflict (the merge is aborted, the tree left as before).

        Returns:
            The merge commit's sha.
        """

        def do() -> str:
            try:
                self._repo.git.merge("--no-ff", "-m", message, branch)
            except git.GitCommandError:
                with contextlib.suppress(git.GitCommandError):
                    self._repo.git.merge("--abort")
                raise
            return str(self._repo.head.commit.hexsha)

        return await self._call(f"merge {branch}", do)

    async def fast_forward(self, remote: str, branch: str) -> None:
        """Fast-forward the checked-out ``branch`` to ``remote/branch`` (``merge --ff-only``)."""
        await self._call(
            f"merge --ff-only {remote}/{branch}", lambda: self._repo.git.merge("--ff-only", f"{remote}/{branch}")
        )

    async def create_annotated_tag(self, tag: str, ref: str, message: str) -> str:
        """Create annotated tag ``tag`` on ``ref``; returns the tagged commit's sha."""
        check_ref_name(tag)

        def do() -> str:
            created = self._repo.create_tag(tag, ref=ref, message=message)
            return str(created.commit.hexsha)

        return await self._call(f"tag -a {tag}", do)

    async def is_annotated_tag(self, tag: str) -> bool:
        """Whether ``tag`` is an annotated tag (has a tag object)."""
        return await self._call("cat-file", lambda: self._repo.git.cat_file("-t", f"refs/tags/{tag}").strip() == "tag")

    async def push(self, remote: str, refspec: str) -> PushResult:
        """Push one refspec and check the remote accepted it.

        Raises:
            GitError: The remote rejected the ref (names the ref and git's reason, e.g.
                ``[rejected] (fetch first)``), or the push failed outright.
        """
        await self.require_remote(remote)
        messages: list[str] = []

        class Progress(git.RemoteProgress):
            # A server hook's message arrives only through the progress handler.
            def line_dropped(self, line: str) -> None:
                if line.strip():
                    messages.append(line.strip().removeprefix("remote:").strip())

            def update(
                self, op_code: int, cur_count: str | float, max_count: str | float | None = None, message: str = ""
            ) -> None:
                if message:
                    messages.append(message.strip())

        def do() -> PushResult:
            infos = self._repo.remote(remote).push(
                refspec, progress=Progress(), kill_after_timeout=self._repo.git.kill_after
            )
            if not infos:
                raise GitError(f"git push {remote} {refspec} reported nothing", "check the remote and retry")
            for info in infos:
                if info.flags & (
                    PushInfo.ERROR | PushInfo.REJECTED | PushInfo.REMOTE_REJECTED | PushInfo.REMOTE_FAILURE
                ):
                    reason = info.summary.strip() or "rejected"
                    # The remote's own words (a hook's message), without git's progress chatter.
                    hook = "; ".join(m for m in messages if m and not _NOISE.match(m))
                    raise GitError(
                        f"the remote {remote} refused {info.local_ref or refspec}: {reason}"
                        + (f" ({hook})" if hook else ""),
                        _push_fix(reason),
                    )
            return PushResult(refspec, infos[0].summary.strip())

        return await self._call(f"push {remote} {refspec}", do)

    # -- hotfix backports ------------------------------------------------------------

    async def remote_heads(self, remote: str, prefix: str) -> list[str]:
        """Names of the remote's branches starting with ``prefix`` (``git ls-remote --heads``)."""

        def read() -> list[str]:
            out = str(self._repo.git.ls_remote("--heads", remote))
            names = [line.split("refs/heads/", 1)[1] for line in out.splitlines() if "refs/heads/" in line]
            return sorted(n for n in names if n.startswith(prefix))

        return await self._call(f"ls-remote --heads {remote}", read)

    async def count_commits(self, *revs: str) -> int:
        """How many commits ``git rev-list --count REVS...`` lists (``A..B``, ``^C`` work)."""
        return await self._call("rev-list --count", lambda: int(str(self._repo.git.rev_list("--count", *revs))))

    async def add_worktree(self, path: Path, ref: str) -> None:
        """A new working tree at ``path`` with ``ref`` checked out detached (``git worktree add --detach``)."""
        await self._call(f"worktree add {path}", lambda: self._repo.git.worktree("add", "--detach", str(path), ref))

    async def remove_worktree(self, path: Path) -> None:
        """Remove the working tree at ``path`` (forced: it may hold an aborted merge) and prune."""

        def do() -> None:
            with contextlib.suppress(git.GitCommandError):
                self._repo.git.worktree("remove", "--force", str(path))
            self._repo.git.worktree("prune")

        await self._call(f"worktree remove {path}", do)

    async def merge_or_conflicts(self, ref: str, message: str) -> list[str]:
        """``git merge --no-ff -m MESSAGE REF`` into the checked-out HEAD.

        Returns:
            ``[]`` when merged (committed); else the conflicted paths, with the merge
            left in progress for :meth:`abort_merge` or :meth:`conclude_merge`.

        Raises:
            GitError: The merge failed for another reason (it is aborted first).
        """

        def do() -> list[str]:
            try:
                self._repo.git.merge("--no-ff", "-m", message, ref)
                return []
            except git.GitCommandError:
                files = _unmerged(self._repo)
                if files:
                    return files
                with contextlib.suppress(git.GitCommandError):
                    self._repo.git.merge("--abort")
                raise

        return await self._call(f"merge {ref}", do)

    async def abort_merge(self) -> None:
        """``git merge --abort``: the tree as before the merge."""
        await self._call("merge --abort", lambda: self._repo.git.merge("--abort"))

    async def conclude_merge(self, ours: list[str], written: dict[str, str]) -> str:
        """Finish a merge in progress: ``ours`` take the checked-out side, ``written``
        (path → text) are written as given; every one is staged, then committed.

        Returns:
            The merge commit's sha.
        """

        def do() -> str:
            for path in ours:
                self._repo.git.checkout("--ours", "--", path)
            for path, text in written.items():
                write_atomic(Path(str(self._repo.working_tree_dir)) / path, text)
            self._repo.git.add("--", *ours, *written)
            self._repo.git.commit("--no-edit")
            return str(self._repo.head.commit.hexsha)

        return await self._call("commit (merge)", do)

    async def cherry_pick_or_conflicts(self, sha: str) -> list[str]:
        """``git cherry-pick -x SHA`` onto HEAD.

        Returns:
            ``[]`` when picked; else the conflicted paths (the pick is aborted, HEAD as before).
        """

        def do() -> list[str]:
            try:
                self._repo.git.cherry_pick("-x", sha)
                return []
            except git.GitCommandError:
                files = _unmerged(self._repo)
                with contextlib.suppress(git.GitCommandError):
                    self._repo.git.cherry_pick("--abort")
                if files:
                    return files
                raise

        return await self._call(f"cherry-pick {sha[:10]}", do)

    async def update_branch_from_remote(self, remote: str, branch: str) -> None:
        """Fast-forward the local ``branch`` to the remote's: ``git fetch REMOTE
        BRANCH:BRANCH``, or, when ``branch`` is checked out, ``git fetch REMOTE BRANCH``
        then ``git merge --ff-only REMOTE/BRANCH`` (local changes the merge would touch
        refuse it, and nothing changes).

        Raises:
            GitError: It is not a fast-forward, or the checked-out tree refuses it.
        """
        if await self.current_branch() == branch:
            await self._call(f"fetch {remote} {branch}", lambda: self._repo.git.fetch(remote, branch))
            await self._call(
                f"merge --ff-only {remote}/{branch}", lambda: self._repo.git.merge("--ff-only", f"{remote}/{branch}")
            )
            return
        await self._call(
            f"fetch {remote} {branch}:{branch}", lambda: self._repo.git.fetch(remote, f"{branch}:{branch}")
        )


def _unmerged(repo: git.Repo) -> list[str]:
    """The paths left conflicted by a merge or a cherry-pick."""
    out = str(repo.git.diff("--name-only", "--diff-filter=U"))
    return sorted({line.strip() for line in out.splitlines() if line.strip()})


def _drop_outcome(task: asyncio.Future[Any]) -> None:
    if not task.cancelled():
        task.exception()


_KILL_GRACE = 1.0
"""Seconds past a call's deadline before its git command is killed, so the caller's own
timeout (the clearer message) always comes first."""


class _Git(git.Git):
    """GitPython's command runner, killing each command after ``kill_after`` seconds.

    ``GitService`` sets ``kill_after`` for the call holding its lock; ``None`` waits for
    ever, as GitPython does. Not on Windows, where GitPython cannot kill.
    """

    kill_after: float | None = None

    def execute(self, *args: Any, **kwargs: Any) -> Any:
        if self.kill_after is not None and sys.platform != "win32" and not kwargs.get("as_process"):
            kwargs.setdefault("kill_after_timeout", self.kill_after)
        return super().execute(*args, **kwargs)


class _Repo(git.Repo):
    GitCommandWrapperType = _Git
    git: _Git


_NOISE = re.compile(
    r"^(Enumerating|Counting|Compressing|Delta compression|Writing|Total|Error lines received|To )", re.IGNORECASE
)


def _push_fix(reason: str) -> str:
    """What to do about a refused push, by git's reason (``[remote rejected] (pre-receive
    hook declined)``, ``[rejected] (already exists)``, ``(fetch first)``...)."""
    if "hook" in reason or "remote rejected" in reason:
        return "the remote's hook refused it (its message is shown): fix what it asks, or ask the remote's admins, then retry"
    if "already exists" in reason:
        return "that tag exists on the remote: choose another version, or remove the tag if it is a leftover"
    return "the remote moved on: fetch, reconcile with the remote branch, then retry"


def _stderr(exc: git.GitCommandError) -> str:
    text = str(exc.stderr or exc.stdout or exc).strip()
    text = re.sub(r"^\s*stderr:\s*", "", text)
    return " ".join(line.strip().strip("'") for line in text.splitlines() if line.strip())[:500]


def _reason(exc: git.GitCommandError) -> str:
    """git's first two messages, without ``fatal:`` prefixes, joined by ``; ``."""
    text = re.sub(r"^\s*stderr:\s*", "", str(exc.stderr or exc.stdout or exc).strip())
    lines = [re.sub(r"^(fatal|error):\s*", "", line.strip().strip("'")) for line in text.splitlines()]
    return "; ".join([line for line in lines if line][:2])[:500] or f"git exited {exc.status}"
