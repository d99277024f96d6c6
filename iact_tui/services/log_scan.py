"""Scan a host's logs for errors written since a deploy started.

This module owns the two halves of a log scan on one :class:`~iact_tui.services.remote.Host`:

1. :func:`record_offsets`, before the deploy: every file the configured paths and
   globs match, with its size in bytes (the offset to read from later), inode and
   modification time, and the host's clock — a :class:`LogMarks`, JSON-ready for the
   journal so a retried verification reuses it.
2. :func:`scan_logs`, after it: the bytes appended to each file since its mark, matched
   line by line against Python regular expressions (default :data:`DEFAULT_PATTERNS`),
   the matching lines returned with host and file, and the count judged against a
   threshold.

A scan can be given **windows**: spans of each file between two marks (a deploy's
maintenance window: marked before its ``pre`` commands and again after its ``post``
commands succeeded). A line that starts inside a window and matches one of
``window_ignore`` (``'" 503 '``: answered "service unavailable" while the site was in
maintenance) is not counted; it is reported as a figure (``ignored``). A line after the
window, or one matching only the other patterns, is judged as usual. The window is cut
by byte offset: the read command splits the file at each window's edge, so the edge is
exact whatever the lines hold (invalid UTF-8, ``\r``). The file must be the same at
both marks and now (same inode, never shorter): a file rotated, replaced or truncated
during or since the window gets nothing ignored, and its scan says why.

What "since the mark" means per file:

- same inode, at least as long: the bytes after the recorded offset;
- same inode, shorter (``copytruncate`` rotation): from its start, with a note;
- another inode (rotated by rename): the new file from its start, and the old one's
  tail from the recorded offset when it is found as ``<path>.1``;
- not marked (created since, or no marks taken): from its start when modified at or
  after the reference time (``since``, else the marks' host time), else left alone as
  unchanged. ``since`` is compared with the host's clock (file mtimes): a local
  ``time.time()`` is off by the clocks' skew, so prefer the marks.

Every path reaches the shell through ``shlex.quote``; a glob is expanded by the host's
shell from a quoted variable with field splitting off (``IFS=''``), so a path with spaces
or shell characters is never re-parsed as a command, and a leading ``~/`` means the
remote ``$HOME``. Reading is bounded: at most ``max_bytes`` per file (the rest is
counted as unread), lines of at most 500 characters kept, at most ``keep`` matches
returned (all are counted). A missing or unreadable file is reported per file, never an
exception.
"""

from __future__ import annotations

import asyncio
import re
import secrets
import shlex
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from iact_tui.config import DEFAULT_LOG_PATTERNS
from iact_tui.errors import CommandError, ConfigError, IactError
from iact_tui.services.remote import CommandResult, Host

#: The default patterns (see :data:`iact_tui.config.DEFAULT_LOG_PATTERNS`).
DEFAULT_PATTERNS: tuple[str, ...] = DEFAULT_LOG_PATTERNS
MAX_LINE_CHARS = 500  # of a matching line, kept in a result
DEFAULT_MAX_BYTES = 8 * 1024 * 1024  # read per file per scan

FileStatus = Literal["scanned", "unchanged", "missing", "unreadable", "not-a-file"]

# The shell half. $1: index, $2: path. Prints one record per path:
#   <nonce> F <index> <inode> <size> <mtime> <path>   a readable regular file
#   <nonce> U|N|M <index> <path>                       unreadable / not a regular file / missing
# GNU stat first, then BSD's.
_STAT_FN = r"""_iact_stat() {
  if [ -f "$2" ]; then
    if [ -r "$2" ] && s=$(stat -c '%i %s %Y' -- "$2" 2>/dev/null || stat -f '%i %z %m' -- "$2" 2>/dev/null); then
      printf '%s F %s %s %s\n' "$N" "$1" "$s" "$2"
    else
      printf '%s U %s %s\n' "$N" "$1" "$2"
    fi
  elif [ -e "$2" ]; then
    printf '%s N %s %s\n' "$N" "$1" "$2"
  else
    printf '%s M %s %s\n' "$N" "$1" "$2"
  fi
}"""


@dataclass(frozen=True)
class FileMark:
    """Where one log file stood before the deploy.

    Attributes:
        path: The file's path on the host.
        size: Its length in bytes: the offset to read from.
        inode: Its inode, to tell a rotated file from the same one.
        mtime: Its modification time, host clock, seconds since the epoch.
    """

    path: str
    size: int
    inode: int
    mtime: float


@dataclass(frozen=True)
class LogMarks:
    """Every log file's mark on one host, taken before a deploy.

    Attributes:
        host: The host's name.
        taken_at: The host's clock when the marks were taken (seconds since the epoch).
        files: Path → mark, for each readable regular file the patterns matched.
        missing: Paths or globs that matched no file.
    """

    host: str
    taken_at: float
    files: Mapping[str, FileMark] = field(default_factory=dict)
    missing: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict (for the journal and ``RunState``)."""
        return {
            "host": self.host,
            "taken_at": self.taken_at,
            "files": {p: {"size": m.size, "inode": m.inode, "mtime": m.mtime} for p, m in self.files.items()},
            "missing": list(self.missing),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> LogMarks:
        """The marks :meth:`to_json` wrote."""
        files = {
            p: FileMark(p, int(m["size"]), int(m["inode"]), float(m["mtime"])) for p, m in dict(data["files"]).items()
        }
        return cls(str(data["host"]), float(data["taken_at"]), files, tuple(data.get("missing", ())))


@dataclass(frozen=True)
class LogMatch:
    """One line that matched.

    Attributes:
        host: The host's name.
        path: The file it is in.
        line_no: 1-based, counted from where the scan of this file started (the mark).
        text: The line, at most 500 characters (cut with ``…``), redacted if asked.
        pattern: The first pattern it matched.
    """

    host: str
    path: str
    line_no: int
    text: str
    pattern: str

    def __str__(self) -> str:
        return f"{self.host}:{self.path}:+{self.line_no}: {self.text}"


@dataclass(frozen=True)
class FileScan:
    """What the scan did with one file.

    Attributes:
        path: The file (or the glob that matched nothing, when ``missing``).
        status: ``scanned``; ``unchanged`` (not modified since the reference time);
            ``missing``; ``unreadable``; ``not-a-file`` (a directory...).
        from_offset: Byte offset the reading started at.
        bytes_read: Bytes read (at most the scan's ``max_bytes``).
        unread_bytes: Bytes past ``max_bytes`` left unread (0 when all were read).
        matches: Matching lines in it (counted).
        note: Why it was read as it was (rotation, truncation, no mark), or ``""``.
        ignored: Matching lines not counted: inside a window and matching
            ``window_ignore``.
        window_note: Why a window could not be applied to this file (rotated or
            truncated between or since the marks), or ``""``.
    """

    path: str
    status: FileStatus
    from_offset: int = 0
    bytes_read: int = 0
    unread_bytes: int = 0
    matches: int = 0
    note: str = ""
    ignored: int = 0
    window_note: str = ""


@dataclass(frozen=True)
class LogScanResult:
    """One host's log scan.

    Attributes:
        host: The host's name.
        ok: At most ``max_matches`` matching lines (and, when files were required,
            every configured path found).
        total_matches: Every matching line, including those beyond ``matches``.
        max_matches: The threshold.
        matches: The first matching lines (at most the scan's ``keep``).
        files: Each file considered, in order.
        ignored: Matching lines not counted because they lie inside a window and match
            ``window_ignore`` (0 without windows).
        windows: How many windows the scan was given.
    """

    host: str
    ok: bool
    total_matches: int
    max_matches: int
    matches: tuple[LogMatch, ...] = ()
    files: tuple[FileScan, ...] = ()
    ignored: int = 0
    windows: int = 0

    @property
    def missing(self) -> list[str]:
        """Paths and globs that matched no file."""
        return [f.path for f in self.files if f.status == "missing"]

    @property
    def detail(self) -> str:
        """One line for the check list."""
        scanned = [f for f in self.files if f.status == "scanned"]
        read = sum(f.bytes_read for f in scanned)
        text = (
            f"{self.host}: {self.total_matches} matching line(s) (limit {self.max_matches}) "
            f"in {len(scanned)} file(s), {read} bytes since the deploy"
        )
        problems = [f"{f.status}: {f.path}" for f in self.files if f.status in ("missing", "unreadable", "not-a-file")]
        cut = [f.path for f in scanned if f.unread_bytes]
        if problems:
            text += "; " + "; ".join(problems)
        if cut:
            text += f"; only the first part read of {', '.join(cut)}"
        return text

    def figures(self) -> dict[str, Any]:
        """JSON-ready numbers and the kept matches, for a ``CheckUpdate``'s data."""
        return {
            "host": self.host,
            "total_matches": self.total_matches,
            "max_matches": self.max_matches,
            "matches": [
                {"path": m.path, "line": m.line_no, "text": m.text, "pattern": m.pattern} for m in self.matches
            ],
            "files": [
                {
                    "path": f.path,
                    "status": f.status,
                    "from_offset": f.from_offset,
                    "bytes_read": f.bytes_read,
                    "unread_bytes": f.unread_bytes,
                    "matches": f.matches,
                    "note": f.note,
                    "ignored": f.ignored,
                    "window_note": f.window_note,
                }
                for f in self.files
            ],
            "ignored": self.ignored,
            "windows": self.windows,
        }


# --------------------------------------------------------------------------- listing


@dataclass(frozen=True)
class _Listed:
    index: str  # pattern index, or "r" for a rotation candidate
    kind: str  # F U N M
    path: str
    inode: int = 0
    size: int = 0
    mtime: float = 0.0


def _check_paths(paths: Sequence[str]) -> None:
    for path in paths:
        if not path.strip() or "\n" in path or "\0" in path:
            raise ConfigError(f"log path {path!r} is empty or holds a newline", "fix log_paths in iact-release.toml")


def _shell_word(path: str) -> str:
    """``path`` quoted for an assignment; a leading ``~/`` becomes the remote ``$HOME``."""
    if path.startswith("~/"):
        return '"$HOME"/' + shlex.quote(path[2:])
    return shlex.quote(path)


def _list_script(nonce: str, globs: Sequence[str], exact: Sequence[str]) -> str:
    # IFS='': $p below is one field; pathname expansion still applies to it.
    lines = [f"N={nonce}", "IFS=''", _STAT_FN, 'printf \'%s T %s\\n\' "$N" "$(date +%s)"']
    for i, pattern in enumerate(globs):
        lines.append(f'p={_shell_word(pattern)}; for f in $p; do _iact_stat {i} "$f"; done')
    for path in exact:
        lines.append(f"_iact_stat r {shlex.quote(path)}")
    lines.append("exit 0")
    return "\n".join(lines)


def _failed(host: Host, what: str, result: CommandResult, timeout: float) -> CommandError:
    if result.timed_out:
        return CommandError(
            f"{host.name}: {what} took longer than {timeout:g} s", "check the host, or raise the log scan's timeout"
        )
    why = (result.stderr_tail or ("no message",))[-1]
    return CommandError(f"{host.name}: {what} exited {result.exit_status}: {why}", "check the log paths and the host")


async def _list(host: Host, globs: Sequence[str], exact: Sequence[str], timeout: float) -> tuple[float, list[_Listed]]:
    nonce = "@iact-" + secrets.token_hex(8)
    script = _list_script(nonce, globs, exact)
    result: CommandResult | None = None
    taken_at = 0.0
    listed: list[_Listed] = []
    async for item in host.stream(script, timeout=timeout):
        if isinstance(item, CommandResult):
            result = item
            continue
        if item.stream != "stdout" or not item.text.startswith(nonce + " "):
            continue
        parts = item.text.split(" ", 6)
        kind = parts[1]
        try:
            if kind == "T":
                taken_at = float(parts[2])
            elif kind == "F":
                listed.append(_Listed(parts[2], "F", parts[6], int(parts[3]), int(parts[4]), float(parts[5])))
            else:
                listed.append(_Listed(parts[2], kind, item.text.split(" ", 3)[3]))
        except (IndexError, ValueError):
            continue  # a record stat could not fill in: the file is reported as not found
    assert result is not None
    if not result.ok:
        raise _failed(host, "listing the log files", result, timeout)
    return taken_at, listed


async def record_offsets(host: Host, paths: Sequence[str], *, timeout: float = 60.0) -> LogMarks:
    """Mark every log file before a deploy: size (the offset to read from), inode, mtime.

    Args:
        host: Where the logs are.
        paths: Absolute paths or globs (``/var/log/nginx/*.log``; ``~/`` for the remote
            home).
        timeout: Seconds for the command.

    Returns:
        The :class:`LogMarks` (paths matching nothing are listed in ``missing``).

    Raises:
        ConfigError: An empty path or one holding a newline.
        CommandError: The listing command failed or timed out.
        SshError: The host cannot be reached.
    """
    _check_paths(paths)
    taken_at, listed = await _list(host, paths, (), timeout)
    files = {e.path: FileMark(e.path, e.size, e.inode, e.mtime) for e in listed if e.kind == "F"}
    missing = tuple(dict.fromkeys(e.path for e in listed if e.kind == "M"))
    return LogMarks(host.name, taken_at, files, missing)


# --------------------------------------------------------------------------- scanning


_STATUS: dict[str, FileStatus] = {"M": "missing", "U": "unreadable", "N": "not-a-file"}


@dataclass
class _Plan:
    path: str
    offset: int
    size: int
    note: str
    origin: str = ""  # the path its marks are kept under (``<path>`` for a ``<path>.1`` read)
    inode: int = 0
    truncated: bool = False  # same file as marked, shorter than its mark: offsets cannot be trusted

    def __post_init__(self) -> None:
        self.origin = self.origin or self.path


def _plan(listed: Sequence[_Listed], marks: LogMarks | None, since: float | None) -> tuple[list[_Plan], list[FileScan]]:
    """What to read from which offset, and the files reported without reading."""
    plans: list[_Plan] = []
    reports: list[FileScan] = []
    seen: set[str] = set()
    rotated = {e.path: e for e in listed if e.index == "r" and e.kind == "F"}
    reference = since if since is not None else (marks.taken_at if marks else None)
    marked = dict(marks.files) if marks else {}
    # An old file found at <path>.1 is read from its mark with <path>, even when a glob lists it too.
    for e in listed:
        mark = marked.get(e.path)
        old = rotated.get(e.path + ".1")
        if e.index != "r" and e.kind == "F" and mark and e.inode != mark.inode and old and old.inode == mark.inode:
            seen.add(old.path)
    for e in listed:
        if e.index == "r" or e.path in seen:
            continue  # rotation candidates are read with their file; globs may overlap
        seen.add(e.path)
        if e.kind != "F":
            status = _STATUS[e.kind]
            note = "it was there before the deploy" if e.path in marked else ""
            reports.append(FileScan(e.path, status, note=note))
            continue
        mark = marked.get(e.path)
        if mark is None:
            if reference is not None and e.mtime < reference - 1:  # mtimes are whole seconds
                reports.append(FileScan(e.path, "unchanged", note="not modified since the deploy started"))
            else:
                why = "no mark before the deploy" if marks is None else "not there before the deploy"
                plans.append(_Plan(e.path, 0, e.size, f"{why}: read from its start", inode=e.inode))
        elif e.inode == mark.inode and e.size >= mark.size:
            plans.append(_Plan(e.path, mark.size, e.size, "", inode=e.inode))
        elif e.inode == mark.inode:
            plans.append(
                _Plan(
                    e.path,
                    0,
                    e.size,
                    f"truncated since the mark ({mark.size} → {e.size} bytes): read from its start",
                    inode=e.inode,
                    truncated=True,
                )
            )
        else:
            old = rotated.get(e.path + ".1")
            if old is not None and old.inode == mark.inode:
                plans.append(
                    _Plan(
                        old.path,
                        mark.size,
                        old.size,
                        f"{e.path} rotated: its old file's tail",
                        origin=e.path,
                        inode=old.inode,
                    )
                )
                plans.append(
                    _Plan(e.path, 0, e.size, "rotated since the mark: the new file from its start", inode=e.inode)
                )
            else:
                plans.append(
                    _Plan(
                        e.path,
                        0,
                        e.size,
                        "replaced since the mark (rotated) and the old file is not at .1: "
                        "read the new file from its start; lines written before the rotation are not scanned",
                        inode=e.inode,
                    )
                )
    return plans, reports


# --------------------------------------------------------------------------- windows


@dataclass(frozen=True)
class Window:
    """A span of every log file on one host between two marks: a maintenance window.

    Attributes:
        start: The marks taken when it began (before the deploy's ``pre`` commands).
        end: The marks taken when it ended (after the ``post`` commands succeeded).
    """

    start: LogMarks
    end: LogMarks


def _spans(plan: _Plan, windows: Sequence[Window]) -> tuple[list[tuple[int, int]], str]:
    """The byte ranges ``[lo, hi)`` of ``plan``'s file that lie inside ``windows``, and why
    a window could not be applied to it (``""`` when none failed).

    A window applies to a file only when the file is the same one (inode) at the window's
    start, at its end and now, and was never shorter than at an earlier mark; anything else
    is a rotation or truncation during or since the window, and nothing of that window is
    ignored in the file. A file missing from the start marks is not assumed created during
    the window (the log paths may have changed since): nothing of it is ignored either.
    """
    spans: list[tuple[int, int]] = []
    notes: list[str] = []
    for window in windows:
        start = window.start.files.get(plan.origin)
        end = window.end.files.get(plan.origin)
        own = plan.inode
        concerned = (start is not None and start.inode == own) or (end is not None and end.inode == own)
        if plan.truncated:
            if concerned:
                notes.append("truncated since the marks")
            continue
        if end is None:
            if start is not None and start.inode == own:
                notes.append("not found when the window's end was marked")
            continue  # otherwise: created after the window
        if end.inode != own:
            if start is not None and start.inode == own:
                notes.append("rotated during the window (another file at its end)")
            continue  # otherwise the window concerned another file (older or newer than this one)
        if start is None:
            notes.append("not marked when the window began (created during it, or the log paths changed)")
            continue
        if start.inode != own:
            notes.append("replaced during the window (another file at its start)")
            continue
        lo = start.size
        if end.size < lo:
            notes.append(f"shorter at the window's end than at its start ({lo} → {end.size} bytes)")
            continue
        if plan.size < end.size:
            notes.append(f"truncated since the window ended ({end.size} → {plan.size} bytes)")
            continue
        lo = max(lo, plan.offset)
        if end.size > lo:
            spans.append((lo, end.size))
    note = ""
    if notes:
        note = "nothing ignored: " + "; ".join(dict.fromkeys(notes))
        spans = []  # one doubtful window: the file's offsets are not trusted for any
    return sorted(spans), note


@dataclass(frozen=True)
class _Segment:
    start: int  # byte offset in the file
    length: int  # bytes to read
    in_window: bool


def _segments(plan: _Plan, spans: Sequence[tuple[int, int]], max_bytes: int) -> list[_Segment]:
    """``plan``'s bytes from its offset cut at each span's edges, at most ``max_bytes`` in all
    (the last segment reads to the end of the file within that budget)."""
    cuts: list[tuple[int, int | None, bool]] = []
    at = plan.offset
    for lo, hi in spans:
        if hi <= at:
            continue
        if lo > at:
            cuts.append((at, lo - at, False))
            at = lo
        cuts.append((at, hi - at, True))
        at = hi
    cuts.append((at, None, False))
    out: list[_Segment] = []
    budget = max_bytes
    for start, length, in_window in cuts:
        if budget <= 0:
            break
        size = budget if length is None else min(length, budget)
        out.append(_Segment(start, size, in_window))
        budget -= size
    return out


def _read_script(nonce: str, plans: Sequence[_Plan], segments: Sequence[Sequence[_Segment]]) -> str:
    lines = [f"N={nonce}"]
    for k, plan in enumerate(plans):
        for j, seg in enumerate(segments[k]):
            lines.append(
                f"printf '%s B %s.%s\\n' \"$N\" {k} {j}; "
                f"{{ tail -c +{seg.start + 1} < {shlex.quote(plan.path)} | head -c {seg.length}; }} 2>/dev/null; "
                f"printf '\\n%s E %s.%s\\n' \"$N\" {k} {j}"
            )
    lines.append("exit 0")
    return "\n".join(lines)


def _compile(
    patterns: Sequence[str], *, what: str = "log_patterns", allow_empty: bool = False
) -> list[tuple[str, re.Pattern[str]]]:
    compiled = []
    for pattern in patterns:
        try:
            compiled.append((pattern, re.compile(pattern)))
        except re.error as exc:
            raise ConfigError(
                f"log pattern {pattern!r} is not a valid regular expression: {exc}",
                f"fix {what} in iact-release.toml (Python regular expressions)",
            ) from None
    if not compiled and not allow_empty:
        raise ConfigError("no log patterns to match", "set log_patterns in iact-release.toml or leave it out")
    return compiled


def _index(text: str) -> tuple[int, int] | None:
    """``"3.1"`` → ``(3, 1)``: a read record's file and segment."""
    k, _, j = text.partition(".")
    return (int(k), int(j)) if k.isdigit() and j.isdigit() else None


async def scan_logs(
    host: Host,
    paths: Sequence[str],
    marks: LogMarks | None = None,
    *,
    patterns: Sequence[str] = DEFAULT_PATTERNS,
    since: float | None = None,
    max_matches: int = 0,
    keep: int = 50,
    max_bytes: int = DEFAULT_MAX_BYTES,
    require_files: bool = False,
    redact: Callable[[str], str] | None = None,
    timeout: float = 120.0,
    windows: Sequence[Window] = (),
    window_ignore: Sequence[str] = (),
) -> LogScanResult:
    """Match the lines written to ``host``'s logs since ``marks`` (see the module docstring).

    Args:
        host: Where the logs are.
        paths: The same paths and globs given to :func:`record_offsets`.
        marks: What :func:`record_offsets` returned before the deploy; ``None`` to read
            files modified since ``since`` whole.
        patterns: Python regular expressions (``re.search``, case-sensitive); a line
            matching any counts once.
        since: Reference time, host clock, seconds since the epoch, for files without a
            mark; defaults to ``marks.taken_at``. Without either, every file is read whole.
        max_matches: The threshold: the scan passes with at most this many matching lines.
        keep: Most matching lines returned (all are counted).
        max_bytes: Most bytes read per file.
        require_files: Fail when a path or glob matches no readable file (otherwise it
            is reported and the scan can pass).
        redact: Applied to every kept line (e.g. a :class:`Secret`'s ``redact``).
        timeout: Seconds for each of the two commands (list, read).
        windows: Spans between two marks (maintenance windows) where lines matching
            ``window_ignore`` are not counted.
        window_ignore: Python regular expressions; a line that matches one of
            ``patterns``, starts inside a window and matches one of these is counted in
            ``ignored`` instead. Empty: nothing is ignored.

    Returns:
        The :class:`LogScanResult`.

    Raises:
        ConfigError: An invalid pattern or path.
        CommandError: A command failed or timed out.
        SshError: The host cannot be reached.
    """
    _check_paths(paths)
    compiled = _compile(patterns)
    ignore_rx = [rx for _, rx in _compile(window_ignore, what="maintenance_ignore", allow_empty=True)]
    if not ignore_rx:
        windows = ()
    marked = list(marks.files) if marks else []
    _, listed = await _list(host, paths, [p + ".1" for p in marked], timeout)
    # A marked file that no glob lists any more is gone (deleted or rotated away).
    listed_paths = {e.path for e in listed if e.index != "r"}
    listed += [_Listed("gone", "M", p) for p in marked if p not in listed_paths]
    plans, reports = _plan(listed, marks, since)

    matches: list[LogMatch] = []
    total = 0
    scans: list[FileScan] = []
    if plans:
        nonce = "@iact-" + secrets.token_hex(8)
        cut = [_spans(plan, windows) for plan in plans]
        segments = [_segments(plan, spans, max_bytes) for plan, (spans, _) in zip(plans, cut, strict=True)]
        counts = [0] * len(plans)
        ignored = [0] * len(plans)
        read = [0] * len(plans)
        current: tuple[int, int] | None = None  # (file, segment) being read
        last_file = -1
        line_no = 0
        pending: str | None = None  # the last line seen, taken once the next one (or the end) shows it whole
        pending_in = False  # it began inside a window
        carry: str | None = None  # a line cut by a window's edge, continued in the next segment
        carry_in = False
        first = False

        def take(k: int, text: str, in_window: bool) -> None:
            nonlocal total, line_no
            line_no += 1
            read[k] += len(text.encode("utf-8", "replace")) + 1
            for pattern, rx in compiled:
                if rx.search(text):
                    if in_window and any(r.search(text) for r in ignore_rx):
                        ignored[k] += 1
                        break
                    total += 1
                    counts[k] += 1
                    if len(matches) < keep:
                        shown = text if len(text) <= MAX_LINE_CHARS else text[: MAX_LINE_CHARS - 1] + "…"
                        shown = redact(shown) if redact else shown
                        matches.append(LogMatch(host.name, plans[k].path, line_no, shown, pattern))
                    break

        result: CommandResult | None = None
        async for item in host.stream(_read_script(nonce, plans, segments), timeout=timeout):
            if isinstance(item, CommandResult):
                result = item
                continue
            if item.stream != "stdout":
                continue
            text = item.text
            if text.startswith(nonce + " "):
                kind, _, rest = text[len(nonce) + 1 :].partition(" ")
                index = _index(rest)
                if kind == "B" and index is not None:
                    if index[0] != last_file:
                        line_no, carry, last_file = 0, None, index[0]  # another file
                    current, pending, first = index, None, True
                    continue
                if kind == "E" and current is not None:
                    # The E record follows a newline printed after the content: when the
                    # content ended with its own newline, that made one empty line.
                    k, j = current
                    if pending and j + 1 < len(segments[k]):
                        carry, carry_in = pending, pending_in  # cut at a window's edge: continued next
                    elif pending:
                        take(k, pending, pending_in)
                    current, pending = None, None
                    continue
            if current is None:
                continue
            k, j = current
            in_window = segments[k][j].in_window
            if first and carry is not None:
                text, in_window, carry = carry + text, carry_in, None  # a line belongs where it starts
            first = False
            if pending is not None:
                take(k, pending, pending_in)
            pending, pending_in = text, in_window
        assert result is not None
        if not result.ok:
            raise _failed(host, "reading the log files", result, timeout)
        for k, plan in enumerate(plans):
            # Bytes as counted from the lines (a last line without its newline counts one more).
            unread = max(plan.size - plan.offset - max_bytes, 0)
            scans.append(
                FileScan(
                    plan.path,
                    "scanned",
                    plan.offset,
                    min(read[k], max_bytes),
                    unread,
                    counts[k],
                    plan.note,
                    ignored[k],
                    cut[k][1],
                )
            )
    files = tuple(scans + reports)
    found_all = not any(f.status in ("missing", "unreadable", "not-a-file") for f in files)
    ok = total <= max_matches and (found_all or not require_files)
    ignored_total = sum(f.ignored for f in scans)
    return LogScanResult(host.name, ok, total, max_matches, tuple(matches), files, ignored_total, len(windows))


async def scan_hosts(
    hosts: Sequence[Host],
    paths: Sequence[str],
    marks: Mapping[str, LogMarks] | None = None,
    *,
    windows: Mapping[str, Sequence[Window]] | None = None,
    **options: Any,
) -> dict[str, LogScanResult | IactError]:
    """:func:`scan_logs` on every host at once, keeping each host's result or error.

    Args:
        hosts: The environment's hosts.
        paths: Paths and globs, the same on every host.
        marks: Host name → its marks; a host without marks is scanned as with ``None``.
        windows: Host name → its windows (see :func:`scan_logs`); none for a host not in it.
        **options: Passed to :func:`scan_logs`.

    Returns:
        Host name → its :class:`LogScanResult`, or the :class:`IactError` that stopped
        its scan (one unreachable host does not hide the others' results).
    """
    marks = marks or {}
    windows = windows or {}

    async def one(host: Host) -> LogScanResult | IactError:
        try:
            return await scan_logs(host, paths, marks.get(host.name), windows=windows.get(host.name, ()), **options)
        except IactError as exc:
            return exc

    results = await asyncio.gather(*(one(h) for h in hosts))
    return {h.name: r for h, r in zip(hosts, results, strict=True)}
