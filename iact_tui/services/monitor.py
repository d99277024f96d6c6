"""The monitor's services: live log tails on every host, health polling and host load.

This module owns, with no knowledge of any UI:

- :class:`LogFollower` (and :func:`follow`): one long-running command per host for its
  log files (``tail -F -v -n 0 -- FILE...``) and one for its systemd units
  (``journalctl -f -n 0 -o short-iso --no-pager -u UNIT...``), each a
  :meth:`Host.stream <iact_tui.services.remote.Host.stream>` without a real timeout
  that a cancel (or :meth:`LogFollower.stop`) ends — on an SSH host by killing the
  remote process group, on the local host by killing the local one. Lines come out in
  batches of :class:`TailLine` (host, source, text, whether an error pattern matched).
  A dropped connection or a command that ended is restarted with backoff (1 s doubling
  to 30 s), saying so in a notice line. Memory is bounded: the lines waiting for the
  consumer are at most ``max_pending`` (older ones are dropped and counted), and every
  figure is a counter (:class:`HostTailStats`), so a follow can run for hours.
- :func:`read_host_stats`: the load average and memory of a host from one cheap command.
- :func:`poll_health` and :class:`HealthStats`: one timed health request, and bounded
  figures over all of them (recent history for the sparkline, the worst few, counts).
- :class:`LineFilter`: the operator's filter, text (smart case) or ``/regex/``.

Paths reach the shell through ``shlex.quote``; a glob is expanded by the host's shell
from a quoted variable with field splitting off (``IFS=''``), as in
:mod:`iact_tui.services.log_scan`, and a leading ``~/`` is the remote ``$HOME``.

After a reconnect nothing is missed when it can be helped: a follow of one file
remembers the file's inode and the bytes read (:class:`FileMark`) and, when the file is
the same, not shorter and the byte before that offset is a newline, resumes there with
``tail -c +N -F`` (notice ``resumed FILE where it stopped``). Otherwise (several files,
a file replaced or truncated, a journal, a count that did not match) the restart
follows from the end and a marker notice says so:
``── web1: reconnected after 4 s; lines written meanwhile may be missing (app.log:
2,345 bytes written meanwhile not shown) ──``, with what is known per file.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import re
import secrets
import shlex
import time
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, NamedTuple

import httpx

from iact_tui.config import DEFAULT_LOG_PATTERNS
from iact_tui.errors import ConfigError, IactError
from iact_tui.services.remote import CommandResult, Host, run_collect
from iact_tui.services.tls import ssl_context_now

#: A follow's timeout in seconds: in effect none (about ten years); a cancel ends it.
FOREVER = 10 * 365 * 24 * 3600.0
#: Longest line kept, in characters (the rest is cut with ``…``): one huge line must not
#: hold megabytes in the pane.
MAX_LINE_CHARS = 4000
#: The source of the follower's own notices (connection lost, reconnecting...).
NOTICE_SOURCE = "monitor"
#: Exit statuses meaning the program is not there to run (``sh``: not executable / not found).
_NOT_RUNNABLE = {126, 127}
_GLOB_CHARS = re.compile(r"[*?\[]")
#: tail's words when a followed name is a new file, or was cut: a byte count no longer applies.
_NEW_FILE = ("has been replaced", "file truncated", "has appeared", "has become inaccessible")

SourceKind = Literal["file", "unit"]


# ----------------------------------------------------------------------------- sources


@dataclass(frozen=True)
class LogSource:
    """One configured log: a file path or glob on the hosts, or a systemd unit.

    Attributes:
        kind: ``"file"`` (a path or glob) or ``"unit"``.
        target: The path or glob, or the unit's name.
    """

    kind: SourceKind
    target: str

    @property
    def label(self) -> str:
        """Short name for the pane: a file's (or glob's) last part, or the unit."""
        if self.kind == "file":
            return self.target.rstrip("/").rsplit("/", 1)[-1] or self.target
        return self.target


def log_sources(paths: Sequence[str], units: Sequence[str]) -> list[LogSource]:
    """The sources of ``[environments.X.logs]``: its ``paths`` then its ``units``.

    Raises:
        ConfigError: A path that is empty or holds a newline.
    """
    for path in paths:
        if not path.strip() or "\n" in path or "\0" in path:
            raise ConfigError(f"log path {path!r} is empty or holds a newline", "fix [environments.X.logs] paths")
    return [LogSource("file", p) for p in paths] + [LogSource("unit", u) for u in units]


def _shell_word(path: str) -> str:
    """``path`` quoted for the shell; a leading ``~/`` becomes the remote ``$HOME``."""
    if path.startswith("~/"):
        return '"$HOME"/' + shlex.quote(path[2:])
    return shlex.quote(path)


@dataclass
class FileMark:
    """How far one followed file has been read, to resume there after a reconnect.

    Attributes:
        inode: The file's inode when its follow started (``None``: unknown, or it was
            replaced or truncated since: no resume).
        offset: Bytes of it read: its size when the follow started plus the bytes of every
            line received since (a line's UTF-8 bytes and its newline).
    """

    inode: int | None
    offset: int


def files_command(nonce: str, paths: Sequence[str], resume: tuple[str, FileMark] | None = None) -> str:
    """The shell script following ``paths`` on a host.

    It expands the globs (one ``<nonce> nomatch <glob>`` line for a glob matching
    nothing), prints ``<nonce> file <path>`` for every file it follows (or
    ``<nonce> nofiles`` and exits 0 when there are none), then
    ``<nonce> at <inode> <size> <path>`` for each (``- -`` when it cannot be read), then
    becomes ``tail -F -v -n 0 -- FILE...``: from the end, following renames (rotation),
    with a ``==> FILE <==`` header whenever the file the lines come from changes. An exact
    path that does not exist yet is followed all the same (``tail -F`` waits for it).

    With ``resume`` (a path and how far it was read) and that path the only file to follow,
    it resumes there instead, with ``tail -F -v -c +OFFSET``, printing ``<nonce> resume``,
    when the file is the same (its inode), is not shorter than the offset, and the byte
    just before the offset is a newline (so the count of bytes received was right).

    Raises:
        ValueError: A resume offset or inode that is negative.
    """
    out = ["IFS=''", "set --"]
    for path in paths:
        if _GLOB_CHARS.search(path):
            out.append(
                f'p={_shell_word(path)}; n=$#; for f in $p; do [ -e "$f" ] && set -- "$@" "$f"; done; '
                f"[ $# -gt $n ] || printf '%s nomatch %s\\n' {nonce} {shlex.quote(path)}"
            )
        else:
            out.append(f'set -- "$@" {_shell_word(path)}')
    out.append(f"[ $# -gt 0 ] || {{ printf '%s nofiles\\n' {nonce}; exit 0; }}")
    out.append(f'for f in "$@"; do printf \'%s file %s\\n\' {nonce} "$f"; done')
    path, mark = resume if resume is not None else ("", FileMark(None, 0))
    if mark.inode is not None:
        inode, offset = int(mark.inode), int(mark.offset)
        if inode < 0 or offset < 0:
            raise ValueError("a resume inode or offset is negative")
        # The byte before the offset must be a newline: else the count was off (a CRLF
        # line, bytes that were not UTF-8) and following from the end is the safe choice.
        newline = (
            ""
            if offset == 0
            else f" && [ \"$(tail -c +{offset} -- \"$1\" | head -c 1 | od -An -c | tr -d ' ')\" = '\\n' ]"
        )
        out.append(
            f'if [ $# -eq 1 ] && [ "$1" = {shlex.quote(path)} ]; then '
            f"s=$(stat -L -c '%i %s' -- \"$1\" 2>/dev/null) || s='- -'; "
            f'if [ "${{s% *}}" = {inode} ] && [ "${{s#* }}" -ge {offset} ]{newline}; then '
            f"printf '%s resume\\n' {nonce}; printf '%s tailing\\n' {nonce}; "
            f'exec tail -F -v -c +{offset + 1} -- "$@"; fi; fi'
        )
    out.append(
        f"for f in \"$@\"; do printf '%s at %s %s\\n' {nonce} "
        f'"$(stat -L -c \'%i %s\' -- "$f" 2>/dev/null || echo \'- -\')" "$f"; done'
    )
    out.append(f"printf '%s tailing\\n' {nonce}")
    out.append('exec tail -F -v -n 0 -- "$@"')
    return "\n".join(out)


def units_command(nonce: str, units: Sequence[str]) -> str:
    """The shell command following the journal of ``units`` from now on."""
    flags = " ".join(f"-u {shlex.quote(u)}" for u in units)
    return (
        f"command -v journalctl >/dev/null 2>&1 || {{ echo 'journalctl: not found' >&2; exit 127; }}\n"
        f"printf '%s units\\n' {nonce}\n"
        f"exec journalctl -f -n 0 -o short-iso --no-pager {flags}"
    )


def error_matcher(patterns: Sequence[str]) -> re.Pattern[str]:
    """One regular expression matching a line that any of ``patterns`` matches.

    Raises:
        ConfigError: A pattern is not a valid Python regular expression, or none is given.
    """
    if not patterns:
        raise ConfigError("no error patterns", "set [environments.X.logs] patterns or leave it out for the defaults")
    for pattern in patterns:
        try:
            re.compile(pattern)
        except re.error as exc:
            raise ConfigError(
                f"log pattern {pattern!r} is not a valid regular expression: {exc}",
                "fix [environments.X.logs] patterns (Python regular expressions)",
            ) from None
    return re.compile("|".join(f"(?:{p})" for p in patterns))


# ------------------------------------------------------------------------------- lines


class TailLine(NamedTuple):
    """One line from a host's log, or a notice from the follower about that host.

    A named tuple, not a dataclass: tuples of strings and booleans leave the garbage
    collector's tracking after their first collection, so tens of thousands of lines
    waiting for the consumer do not slow the collector's full passes.

    Attributes:
        host: The host's name.
        source: The file's name, the unit (or ``journal`` for several), or
            ``monitor`` for a notice.
        text: The line without its newline (at most :data:`MAX_LINE_CHARS`).
        error: An error pattern matched it.
        notice: A message of the follower (connection lost, reconnecting, file missing),
            not a line of the log.
    """

    host: str
    source: str
    text: str
    error: bool = False
    notice: bool = False


@dataclass(frozen=True)
class TailBatch:
    """The lines that arrived since the previous batch.

    Attributes:
        lines: In arrival order (the hosts' lines interleaved as they came).
        dropped: Lines that arrived since the previous batch but were dropped unseen
            because the consumer fell more than ``max_pending`` lines behind (counted
            per host in :class:`HostTailStats`).
    """

    lines: tuple[TailLine, ...]
    dropped: int = 0


@dataclass
class HostTailStats:
    """What one host's tails did (counters only: bounded for hours of following).

    Attributes:
        host: The host's name.
        lines: Log lines received (notices not counted).
        errors: Of those, lines an error pattern matched.
        dropped: Lines received but dropped before the consumer took them.
        reconnects: Times a tail was started again after it ended or the connection dropped.
        state: ``starting``, ``following``, ``reconnecting``, ``stopped`` or ``unavailable``.
        detail: The last notice about the host (why it reconnects...).
        errors_by_source: Error lines per source label.
    """

    host: str
    lines: int = 0
    errors: int = 0
    dropped: int = 0
    reconnects: int = 0
    state: str = "starting"
    detail: str = ""
    errors_by_source: dict[str, int] = field(default_factory=dict)

    def figures(self) -> dict[str, Any]:
        """JSON-ready counters for a summary."""
        return {
            "lines": self.lines,
            "errors": self.errors,
            "dropped": self.dropped,
            "reconnects": self.reconnects,
            "errors_by_source": dict(self.errors_by_source),
        }


@dataclass(frozen=True)
class _Stream:
    """One long-running command on one host."""

    kind: SourceKind
    what: str  # for notices: "the log files", "the journal of iact.service"
    targets: tuple[str, ...]
    label: str  # the source label of a units stream


def _streams(sources: Sequence[LogSource]) -> list[_Stream]:
    paths = tuple(s.target for s in sources if s.kind == "file")
    units = tuple(s.target for s in sources if s.kind == "unit")
    streams = []
    if paths:
        streams.append(_Stream("file", "the log files", paths, ""))
    if units:
        label = units[0] if len(units) == 1 else "journal"
        streams.append(_Stream("unit", f"the journal of {', '.join(units)}", units, label))
    return streams


def _cut(text: str) -> str:
    return text if len(text) <= MAX_LINE_CHARS else text[: MAX_LINE_CHARS - 1] + "…"


class LogFollower:
    """Follows every log source on every host until stopped (see the module docstring).

    Use it as an async context manager (:meth:`stop` on exit) and iterate
    :meth:`batches`; cancelling the iterating task and leaving the context stops every
    remote command before ``__aexit__`` returns.

    Args:
        hosts: Where the logs are (one stream of files and one of units per host).
        sources: The files, globs and units to follow on every host.
        patterns: Python regular expressions; a line matching any is an error line.
        max_pending: Most lines held for a consumer that is behind; older ones are
            dropped and counted.
        retry_min: Seconds before the first restart of an ended tail.
        retry_max: Longest wait between restarts (the wait doubles up to it).
        stable_after: Seconds a tail must have run for the wait to go back to
            ``retry_min`` at its next end.
        sleep: Awaited for every wait between restarts (tests pass a fast one).

    Attributes:
        stats: Host name → its :class:`HostTailStats`.
    """

    def __init__(
        self,
        hosts: Sequence[Host],
        sources: Sequence[LogSource],
        *,
        patterns: Sequence[str] = DEFAULT_LOG_PATTERNS,
        max_pending: int = 50_000,
        retry_min: float = 1.0,
        retry_max: float = 30.0,
        stable_after: float = 30.0,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        if max_pending < 1:
            raise ValueError("max_pending must be at least 1")
        self.hosts = list(hosts)
        self.sources = list(sources)
        self.errors = error_matcher(patterns)
        self.max_pending = max_pending
        self.retry_min = retry_min
        self.retry_max = retry_max
        self.stable_after = stable_after
        self._sleep = sleep
        self.stats: dict[str, HostTailStats] = {h.name: HostTailStats(h.name) for h in self.hosts}
        self._pending: deque[TailLine] = deque()
        self._dropped_since_batch = 0
        self._wake = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._streams = _streams(self.sources)

    @property
    def following(self) -> bool:
        """Whether the tails have been started and not stopped."""
        return bool(self._tasks)

    @property
    def pending(self) -> int:
        """Lines waiting for the consumer."""
        return len(self._pending)

    def start(self) -> None:
        """Start one task per host and stream (nothing to follow: nothing starts)."""
        if self._tasks:
            return
        for host in self.hosts:
            for stream in self._streams:
                self._tasks.append(asyncio.create_task(self._follow(host, stream), name=f"tail {host.name}"))

    async def stop(self) -> None:
        """Cancel every tail and wait until each remote command has been stopped."""
        tasks, self._tasks = self._tasks, []
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        for stats in self.stats.values():
            stats.state = "stopped"

    async def __aenter__(self) -> LogFollower:
        self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await asyncio.shield(self.stop())

    async def batches(self, interval: float = 0.1, max_batch: int = 10_000) -> AsyncIterator[TailBatch]:
        """Yield the lines that arrived, at most one batch every ``interval`` seconds.

        Waits (without polling) while nothing arrives; never ends by itself.

        Args:
            interval: Seconds between two batches (lines arriving meanwhile wait).
            max_batch: Most lines in one batch; the rest come in the next ones at once.
        """
        while True:
            if not self._pending:
                self._wake.clear()
                await self._wake.wait()
            take = min(len(self._pending), max_batch)
            lines = tuple(self._pending.popleft() for _ in range(take))
            dropped, self._dropped_since_batch = self._dropped_since_batch, 0
            yield TailBatch(lines, dropped)
            # A backlog comes in the next batches at once, but never without handing the
            # event loop back (a consumer's keys and screen updates wait otherwise).
            await asyncio.sleep(interval if len(self._pending) < max_batch else 0)

    # -- producers -----------------------------------------------------------------------

    def _put(self, line: TailLine) -> None:
        pending = self._pending
        if len(pending) >= self.max_pending:
            old = pending.popleft()
            if not old.notice:
                self.stats[old.host].dropped += 1
                self._dropped_since_batch += 1
        pending.append(line)
        if not self._wake.is_set():
            self._wake.set()

    def _notice(self, host: str, text: str, state: str | None = None) -> None:
        stats = self.stats[host]
        stats.detail = text
        if state is not None:
            stats.state = state
        self._put(TailLine(host, NOTICE_SOURCE, text, notice=True))

    def _line(self, stats: HostTailStats, source: str, text: str) -> None:
        error = self.errors.search(text) is not None
        stats.lines += 1
        if error:
            stats.errors += 1
            stats.errors_by_source[source] = stats.errors_by_source.get(source, 0) + 1
        self._put(TailLine(stats.host, source, _cut(text), error))

    async def _follow(self, host: Host, stream: _Stream) -> None:
        """Run one stream on one host, restarting it with backoff until cancelled."""
        delay = self.retry_min
        started_once = False
        # Each followed file's inode and bytes read, kept across restarts (resume or tell).
        marks: dict[str, FileMark] = {}
        ended_at: float | None = None
        while True:
            nonce = "@iact-tail-" + secrets.token_hex(6)
            if stream.kind == "file":
                known = [(path, mark) for path, mark in marks.items() if mark.inode is not None]
                resume = known[0] if started_once and len(marks) == 1 and len(known) == 1 else None
                command = files_command(nonce, stream.targets, resume)
            else:
                command = units_command(nonce, stream.targets)
            began = time.monotonic()
            result: CommandResult | None = None
            reason = ""
            parser = _TailParser(self, host, stream, nonce, restarted=started_once, marks=marks, ended_at=ended_at)
            try:
                async for item in host.stream(command, timeout=FOREVER):
                    if isinstance(item, CommandResult):
                        result = item
                    elif item.stream == "stdout":
                        parser.stdout(item.text)
                    else:
                        parser.stderr(item.text)
            except IactError as exc:
                reason = exc.what
            except Exception as exc:  # a monitor runs for hours: any failure is a reconnect
                reason = f"{type(exc).__name__}: {exc}"
            parser.flush()
            ended_at = time.monotonic()
            started_once = started_once or parser.started
            stats = self.stats[host.name]
            if result is not None and result.exit_status in _NOT_RUNNABLE and not parser.log_lines:
                program = "tail" if stream.kind == "file" else "journalctl"
                why = (result.stderr_tail or (f"exit status {result.exit_status}",))[-1]
                self._notice(host.name, f"cannot follow {stream.what}: {program} cannot run there ({why})", None)
                if stats.state != "following":
                    stats.state = "unavailable"
                return
            if time.monotonic() - began >= self.stable_after:
                delay = self.retry_min
            if parser.no_files:
                wait = self.retry_max
                text = f"no file matches the log paths; looking again in {wait:g} s"
            else:
                wait = delay
                if not reason and result is not None:
                    if result.exit_status is None:
                        reason = "stopped"
                    else:
                        last = result.stderr_tail[-1] if result.stderr_tail else ""
                        reason = f"exited {result.exit_status}" + (f": {last}" if last else "")
                text = f"{stream.what} stopped ({reason or 'ended'}); reconnecting in {wait:g} s"
                delay = min(delay * 2, self.retry_max)
            stats.reconnects += 1
            self._notice(host.name, text, "reconnecting")
            await self._sleep(wait)


class _TailParser:
    """Turns one run of a stream's output into lines and notices."""

    def __init__(
        self,
        follower: LogFollower,
        host: Host,
        stream: _Stream,
        nonce: str,
        *,
        restarted: bool,
        marks: dict[str, FileMark] | None = None,
        ended_at: float | None = None,
    ) -> None:
        self.follower = follower
        #: The follow's file marks (updated as lines arrive), and as the last run left them.
        self.marks: dict[str, FileMark] = marks if marks is not None else {}
        self.before = {path: FileMark(m.inode, m.offset) for path, m in self.marks.items()}
        self.ended_at = ended_at
        self.resumed = False
        #: What is known of the lines written while disconnected, per file label.
        self.missed: list[str] = []
        self.current_path = ""
        self.stats = follower.stats[host.name]
        self.host = host.name
        self.stream = stream
        self.marker = nonce + " "
        self.restarted = restarted
        self.started = False
        self.no_files = False
        self.log_lines = 0
        self.files: dict[str, str] = {}  # path -> label
        self.headers: dict[str, str] = {}  # "==> path <==" -> path
        self.current = stream.label
        self._blank = False  # an empty line held: tail prints one before each header
        # Files tail has not opened yet: "following" is said once each has its header (or
        # tail's complaint), so lines appended after the notice are never missed.
        self._opening: set[str] | None = None

    def _opened(self, path: str) -> None:
        if self._opening is None or self.started:
            return
        self._opening.discard(path)
        if not self._opening:
            self._started()

    def _started(self) -> None:
        self.started = True
        if self.stream.kind == "file":
            what = f"following {', '.join(self.files.values()) or 'nothing'}"
        else:
            what = f"following {self.stream.what}"
        self.follower._notice(self.host, ("reconnected: " if self.restarted else "") + what, "following")
        if not self.restarted:
            return
        down = "" if self.ended_at is None else f" after {max(time.monotonic() - self.ended_at, 0):.0f} s"
        if self.resumed:
            label = next(iter(self.files.values()), "the file")
            self.follower._notice(self.host, f"resumed {label} where it stopped{down}: no line is missed")
            return
        details = f" ({'; '.join(self.missed)})" if self.missed else ""
        self.follower._notice(
            self.host, f"── {self.host}: reconnected{down}; lines written meanwhile may be missing{details} ──"
        )

    def _at(self, rest: str) -> None:
        """``<inode> <size> <path>``: where the follow of ``path`` starts (from its end)."""
        inode_text, _, rest = rest.partition(" ")
        size_text, _, path = rest.partition(" ")
        inode = int(inode_text) if inode_text.isdigit() else None
        size = int(size_text) if size_text.isdigit() else 0
        self.marks[path] = FileMark(inode, size)
        previous = self.before.get(path)
        if not self.restarted or previous is None:
            return
        label = self.files.get(path, path)
        if previous.inode is not None and previous.inode == inode and size >= previous.offset:
            if size > previous.offset:
                self.missed.append(f"{label}: {size - previous.offset:,} bytes written meanwhile not shown")
        else:
            self.missed.append(f"{label}: replaced or truncated meanwhile")

    def _line(self, text: str) -> None:
        if not self.started and self._opening is not None:
            self._started()  # tail's complaint about a file was not recognised: it runs
        self.log_lines += 1
        mark = self.marks.get(self.current_path) if self.current_path else None
        if mark is not None:
            mark.offset += len(text.encode("utf-8")) + 1
        self.follower._line(self.stats, self.current, text)

    def stdout(self, text: str) -> None:
        if text.startswith(self.marker):
            kind, _, rest = text[len(self.marker) :].partition(" ")
            if kind == "file":
                label = rest.rstrip("/").rsplit("/", 1)[-1] or rest
                self.files[rest] = label
                self.headers[f"==> {rest} <=="] = rest
                if not self.current:
                    self.current = label
            elif kind == "at":
                self._at(rest)
            elif kind == "resume":
                self.resumed = True
                # Only the one file left off is followed, from where it was: its mark stands.
                for path in list(self.marks):
                    if path not in self.files:
                        del self.marks[path]
            elif kind == "nomatch":
                self.follower._notice(self.host, f"no file matches {rest}")
            elif kind == "nofiles":
                self.no_files = True
            elif kind == "tailing":
                self._opening = set(self.files)
                for gone in [p for p in self.marks if p not in self.files]:
                    del self.marks[gone]  # no longer followed (a glob matches other files)
            elif kind == "units":
                self._started()
            return
        if self.stream.kind == "unit":
            self._line(text)
            return
        header = self.headers.get(text)
        if header is not None:
            self._blank = False
            self.current = self.files[header]
            self.current_path = header
            self._opened(header)
            return
        if self._blank:
            self._blank = False
            self._line("")
        if text == "":
            self._blank = True
            return
        self._line(text)

    def stderr(self, text: str) -> None:
        if not text:
            return
        self.follower._notice(self.host, text.removeprefix("tail: "))
        if any(word in text for word in _NEW_FILE):
            # tail follows the file from a new start: the count no longer matches an offset.
            for path, mark in self.marks.items():
                if f"'{path}'" in text or f" {path}:" in text:
                    mark.inode = None
        if self._opening:
            for path in [p for p in self._opening if f"'{p}'" in text or f" {p}:" in text]:
                self._opened(path)

    def flush(self) -> None:
        if self._blank:
            self._blank = False
            self._line("")


async def follow(
    hosts: Sequence[Host], sources: Sequence[LogSource], *, interval: float = 0.1, **options: Any
) -> AsyncIterator[tuple[TailBatch, dict[str, HostTailStats]]]:
    """Follow ``sources`` on ``hosts``: each batch with the counters as they stand.

    A convenience over :class:`LogFollower` (``options`` are its keyword arguments);
    cancelling the consumer stops every remote command before the cancel completes.
    """
    async with LogFollower(hosts, sources, **options) as follower:
        async for batch in follower.batches(interval):
            yield batch, follower.stats


# -------------------------------------------------------------------------- host stats

#: One cheap command for a host's load and memory (Linux ``/proc``).
HOST_STATS_COMMAND = "cat /proc/loadavg; grep -E '^(MemTotal|MemAvailable):' /proc/meminfo"


@dataclass(frozen=True)
class HostStats:
    """A host's load average and memory at one moment.

    Attributes:
        host: The host's name.
        at: When it was read (``time.time()``, this machine's clock).
        load: 1, 5 and 15 minute load averages; ``None`` when unreadable.
        mem_total_kib: ``MemTotal`` in KiB; ``None`` when unreadable.
        mem_available_kib: ``MemAvailable`` in KiB; ``None`` when unreadable.
        error: Why the reading failed, else ``""``.
    """

    host: str
    at: float
    load: tuple[float, float, float] | None = None
    mem_total_kib: int | None = None
    mem_available_kib: int | None = None
    error: str = ""

    @property
    def mem_used_fraction(self) -> float | None:
        """Share of memory in use (0.0–1.0): ``1 - MemAvailable / MemTotal``."""
        if not self.mem_total_kib or self.mem_available_kib is None:
            return None
        return max(0.0, 1.0 - self.mem_available_kib / self.mem_total_kib)

    def text(self) -> str:
        """One line, e.g. ``load 0.12 0.10 0.05 · mem 1.2 of 3.9 GiB used (31%)``."""
        if self.error:
            return f"unavailable: {self.error}"
        parts = []
        if self.load is not None:
            parts.append("load " + " ".join(f"{v:.2f}" for v in self.load))
        fraction = self.mem_used_fraction
        if fraction is not None and self.mem_total_kib and self.mem_available_kib is not None:
            used = (self.mem_total_kib - self.mem_available_kib) / 2**20
            total = self.mem_total_kib / 2**20
            parts.append(f"mem {used:.1f} of {total:.1f} GiB used ({fraction:.0%})")
        return " · ".join(parts) or "no figures"


def parse_host_stats(host: str, lines: Sequence[str], at: float | None = None) -> HostStats:
    """Read :data:`HOST_STATS_COMMAND`'s output."""
    load: tuple[float, float, float] | None = None
    total: int | None = None
    available: int | None = None
    for line in lines:
        fields = line.split()
        if len(fields) >= 3 and load is None and not line.startswith("Mem"):
            with contextlib.suppress(ValueError):
                load = (float(fields[0]), float(fields[1]), float(fields[2]))
        elif line.startswith("MemTotal:") and len(fields) >= 2 and fields[1].isdigit():
            total = int(fields[1])
        elif line.startswith("MemAvailable:") and len(fields) >= 2 and fields[1].isdigit():
            available = int(fields[1])
    error = "" if load is not None or total is not None else "no /proc/loadavg or /proc/meminfo"
    return HostStats(host, time.time() if at is None else at, load, total, available, error)


async def read_host_stats(host: Host, *, timeout: float = 10.0) -> HostStats:
    """The load average and memory of ``host`` (never raises for an unreachable host).

    Args:
        host: The host.
        timeout: Seconds for the command.

    Returns:
        The :class:`HostStats`; ``error`` says why when it could not be read.
    """
    try:
        result, lines = await run_collect(host, HOST_STATS_COMMAND, timeout=timeout, max_lines=10)
    except IactError as exc:
        return HostStats(host.name, time.time(), error=exc.what)
    if result.timed_out:
        return HostStats(host.name, time.time(), error=f"no answer within {timeout:g} s")
    stats = parse_host_stats(host.name, lines)
    if stats.error and result.stderr_tail:
        return HostStats(host.name, stats.at, error=result.stderr_tail[-1])
    return stats


# ------------------------------------------------------------------------------ health


@dataclass(frozen=True, slots=True)
class HealthSample:
    """One health request.

    Attributes:
        at: When it was sent (``time.time()``).
        elapsed_ms: Milliseconds to the whole answer, or to the error.
        status: The HTTP status; ``None`` when no answer came.
        error: The connection error or timeout, else ``""``.
    """

    at: float
    elapsed_ms: float
    status: int | None
    error: str = ""

    @property
    def ok(self) -> bool:
        """A 2xx answer."""
        return self.status is not None and 200 <= self.status < 300

    def text(self) -> str:
        """e.g. ``200 in 45 ms`` or ``cannot connect``."""
        if self.status is None:
            return self.error or "no answer"
        return f"{self.status} in {self.elapsed_ms:.0f} ms"


def health_client(timeout: float = 10.0) -> httpx.AsyncClient:
    """The client for health polls: no proxy from the environment, no redirects followed,
    the shared TLS context (:mod:`iact_tui.services.tls`; built here only if no check built
    it before)."""
    return httpx.AsyncClient(timeout=timeout, trust_env=False, follow_redirects=False, verify=ssl_context_now())


async def poll_health(client: httpx.AsyncClient, url: str) -> HealthSample:
    """``GET url`` once, timed; failures are samples, not exceptions."""
    at = time.time()
    started = time.perf_counter()
    try:
        response = await client.get(url)
    except httpx.TimeoutException:
        return HealthSample(at, (time.perf_counter() - started) * 1000, None, "timed out")
    except httpx.ConnectError:
        return HealthSample(at, (time.perf_counter() - started) * 1000, None, "cannot connect")
    except httpx.HTTPError as exc:
        return HealthSample(at, (time.perf_counter() - started) * 1000, None, type(exc).__name__)
    return HealthSample(at, (time.perf_counter() - started) * 1000, response.status_code)


class HealthStats:
    """Figures over every health request, in bounded memory.

    Args:
        history: Recent response times kept for the sparkline.
        worst: How many of the slowest answers are kept.

    Attributes:
        requests: Requests made.
        errors: Requests without a 2xx answer.
        last: The latest sample.
        history: The latest ``history`` response times, in milliseconds (failures too).
    """

    def __init__(self, *, history: int = 120, worst: int = 5) -> None:
        self.requests = 0
        self.errors = 0
        self.last: HealthSample | None = None
        self.history: deque[float] = deque(maxlen=history)
        self._worst: list[tuple[float, float, int | None]] = []  # min-heap of (ms, at, status)
        self._keep_worst = worst
        self._ok_count = 0
        self._ok_total_ms = 0.0

    def add(self, sample: HealthSample) -> None:
        """Count one sample."""
        self.requests += 1
        self.last = sample
        self.history.append(sample.elapsed_ms)
        if not sample.ok:
            self.errors += 1
            return
        self._ok_count += 1
        self._ok_total_ms += sample.elapsed_ms
        entry = (sample.elapsed_ms, sample.at, sample.status)
        if len(self._worst) < self._keep_worst:
            heapq.heappush(self._worst, entry)
        elif entry > self._worst[0]:
            heapq.heapreplace(self._worst, entry)

    @property
    def worst(self) -> list[tuple[float, float, int | None]]:
        """The slowest 2xx answers, slowest first: (milliseconds, when, status)."""
        return sorted(self._worst, reverse=True)

    @property
    def mean_ms(self) -> float | None:
        """Mean response time of the 2xx answers."""
        return self._ok_total_ms / self._ok_count if self._ok_count else None

    def figures(self) -> dict[str, Any]:
        """JSON-ready figures for a summary."""
        mean = self.mean_ms
        return {
            "requests": self.requests,
            "errors": self.errors,
            "mean_ms": None if mean is None else round(mean, 1),
            "worst": [
                {"ms": round(ms, 1), "at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(at)), "status": status}
                for ms, at, status in self.worst
            ],
            "last": None
            if self.last is None
            else {"status": self.last.status, "ms": round(self.last.elapsed_ms, 1), "error": self.last.error},
        }


# ------------------------------------------------------------------------------ filter


@dataclass(frozen=True)
class LineFilter:
    """The operator's filter: plain text (case-insensitive unless it has a capital) or
    ``/regex/`` (a Python regular expression, the same smart case; the closing slash
    is optional, so a regex is live while it is typed).

    Build it with :meth:`parse`; call it with a line.

    Attributes:
        text: What the operator typed.
    """

    text: str = ""
    _match: Callable[[str], bool] | None = field(default=None, repr=False, compare=False)

    @classmethod
    def parse(cls, text: str) -> LineFilter:
        """The filter for ``text`` (empty: every line).

        Raises:
            ValueError: ``/regex/`` that is not a valid regular expression (the message
                says why).
        """
        if not text.strip() or text == "/":
            return cls("")
        if text.startswith("/"):
            source = text[1:-1] if len(text) > 2 and text.endswith("/") else text[1:]
            flags = 0 if source != source.lower() else re.IGNORECASE
            try:
                rx = re.compile(source, flags)
            except re.error as exc:
                raise ValueError(f"not a valid regular expression: {exc}") from None
            return cls(text, lambda line: rx.search(line) is not None)
        if text != text.lower():
            return cls(text, lambda line: text in line)
        return cls(text, lambda line: text in line.lower())

    @property
    def is_regex(self) -> bool:
        """Whether it is a ``/regex/``."""
        return self._match is not None and self.text.startswith("/")

    @property
    def active(self) -> bool:
        """Whether it hides anything (an empty filter shows every line)."""
        return self._match is not None

    def __call__(self, line: str) -> bool:
        return self._match is None or self._match(line)
