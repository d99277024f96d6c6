"""The run journal: append-only JSON lines, one file per run, under the user state dir.

Every record is one line ``{"ts": <unix seconds>, "kind": ..., ...}``.

Durability without stalling the event loop (Textual's UI runs on it):

* Records that matter (step results, operator inputs: ``write(..., sync=True)``, the
  default) are in the kernel when :meth:`Journal.write` returns: the output lines still
  waiting and the record are written with one ``write(2)`` on the caller's thread. The
  ``fdatasync(2)`` (``fsync`` where there is no ``fdatasync``) that takes them to the disk
  is asked of the background writer thread, which does it right away. ``fdatasync`` is
  enough for an append: the file's new size is flushed with the data; only timestamps are
  not.
* Output lines and progress (``sync=False``; :meth:`Journal.event` for ``OutputLine`` and
  ``Progress``; a deploy can stream 100k lines/s) are only queued in memory by the caller;
  the background writer writes and syncs them in one batch at most
  :data:`FLUSH_INTERVAL` seconds after the first of a batch was queued, and every record
  that matters takes the queue with it. :meth:`Journal.close` (and ``atexit`` for a
  journal nobody closed) drains and syncs everything.

What survives what:

* The process crashes or is killed (``kill -9``, an exception, the terminal closed): no
  record that matters is lost. Once ``write(2)`` returned the record is in the page cache,
  which the kernel writes out whether or not the process lives; another process reads it
  at once. Output lines still queued in memory (at most :data:`FLUSH_INTERVAL` seconds'
  worth) are lost.
* The machine loses power or the kernel crashes: at most the records written in the last
  few milliseconds (those whose background ``fdatasync`` had not finished: one sync's
  time, typically well under 1 ms, up to tens of ms on a slow disk) plus the queued output.

Why the sync is not on the caller's thread: measured on this project's machines (Debian,
ext4 on a virtio disk, 2026-11), ``fdatasync`` of one ~90-byte append takes a median of
0.14–0.18 ms but p95 0.36–0.49 ms and max 3.7–7.3 ms, ~4.5 ms under load (175 records that
matter per release), and after a 1.7 MB output batch up to 15.5 ms; on a slow disk
(network storage, a busy laptop disk) tens of ms. On the event loop that added up to UI
stalls over the 50 ms budget; a ``write(2)`` into the page cache costs microseconds. A
slow disk is also why output lines never sync one by one.

Reading (:func:`read_journal`) never fails on a damaged journal: a torn last line (the
process was killed, or the machine lost power, mid-write) is left out with a notice, and
so is a line in the middle that is not a complete record (append-only writes cannot make
one, a disk error can), naming its line number. A journal opened again for appending
after a torn last line first ends that line, so the next record starts a line of its own.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import os
import secrets
import threading
import time
import weakref
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import platformdirs

from iact_tui.engine.events import Event, OutputLine, Progress, to_record

APP_NAME = "iact-tui"

#: Seconds at most between an output line being queued and it being on disk.
FLUSH_INTERVAL = 0.2

_sync = getattr(os, "fdatasync", os.fsync)

#: Seconds a background writer with nothing to write waits before it ends.
_IDLE_SECONDS = 5.0


def state_root(state_dir: Path | None = None) -> Path:
    """Where runs are kept: ``state_dir`` or platformdirs' user state dir for iact-tui
    (``$XDG_STATE_HOME/iact-tui`` on Linux)."""
    return state_dir if state_dir is not None else Path(platformdirs.user_state_dir(APP_NAME))


def new_run_dir(state_dir: Path | None = None) -> Path:
    """Create and return a fresh run folder ``<state>/runs/<UTC time>-<random>``."""
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    path = state_root(state_dir) / "runs" / f"{stamp}-{secrets.token_hex(3)}"
    path.mkdir(parents=True, exist_ok=False)
    return path


def _encode(kind: str, fields: dict[str, Any]) -> bytes:
    record = {"ts": round(time.time(), 3), "kind": kind, **fields}
    return (json.dumps(record, ensure_ascii=False, default=str) + "\n").encode("utf-8")


class Journal:
    """An append-only JSONL file, synced as described in the module docstring.

    Safe to write from several threads (the event loop, ``asyncio.to_thread`` workers);
    records keep the order in which :meth:`write` was called.

    Args:
        path: The journal file (created if missing; appended to if it exists); ``None``
            for a run that records nothing (``iact-tui plan``).
        flush_interval: Seconds at most an output line waits for the background writer.

    Raises:
        OSError: The file cannot be opened.
    """

    def __init__(self, path: Path | None, *, flush_interval: float = FLUSH_INTERVAL) -> None:
        self.path = path or Path("/dev/null")
        self.flush_interval = flush_interval
        self._fd: int | None = None
        self._pending: list[bytes] = []
        self._first_pending = 0.0  # time.monotonic() when the oldest pending line was queued
        self._cond = threading.Condition()  # guards _pending, _closing, _writer
        self._io = threading.Lock()  # one writer of the file at a time, in queue order
        self._closing = False
        self._writer: threading.Thread | None = None
        self._error: OSError | None = None  # the background writer's failure, raised at the next write
        self._sync_wanted = False  # a record that matters is written and waits for the writer's sync
        self._unsynced = False  # bytes were written since the last sync (guarded by _io)
        if path is None:
            return
        self._fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        size = os.fstat(self._fd).st_size
        if size:
            with open(path, "rb") as existing:
                existing.seek(size - 1)
                if existing.read(1) != b"\n":
                    # A torn last line from a killed process: end it, so our first record
                    # is a line of its own (the reader reports the torn one).
                    os.write(self._fd, b"\n")
        _open_journals.add(self)

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` has run (or the journal records nothing)."""
        return self._fd is None

    def write(self, kind: str, *, sync: bool = True, **fields: Any) -> None:
        """Append one record ``{"ts", "kind", **fields}``.

        Args:
            kind: The record's kind (``step_finished``, ``output``...).
            sync: True (a record that matters): written (in the kernel, with every
                record queued before it: a crash of this process cannot lose it) when
                this returns, and synced to the disk by the background writer right
                away. False (output): queued; on disk within :attr:`flush_interval`
                seconds.
            fields: The record's fields (JSON; other values are written as ``str``).

        Raises:
            OSError: Writing failed (disk full, I/O error), or, earlier, the background
                writer's write or sync did.
            ValueError: The journal is closed.
        """
        if self._fd is None:
            if self.path == Path("/dev/null"):
                return
            raise ValueError(f"journal {self.path} is closed")
        line = _encode(kind, fields)
        if not sync:
            with self._cond:
                if not self._pending:
                    self._first_pending = time.monotonic()
                    self._cond.notify()
                self._pending.append(line)
                self._start_writer()
            return
        self._flush(line, sync=False)
        with self._cond:
            self._sync_wanted = True
            self._cond.notify()
            self._start_writer()

    def _start_writer(self) -> None:
        """Start the background writer if it is not running (the caller holds ``_cond``)."""
        if self._writer is None:
            self._writer = threading.Thread(target=self._write_behind, name="journal-writer", daemon=True)
            self._writer.start()

    def event(self, event: Event) -> None:
        """Append an engine event; ``OutputLine`` and ``Progress`` go to the background
        writer, every other event is synced before this returns."""
        record = to_record(event)
        kind = record.pop("kind")
        record.pop("ts", None)
        self.write(kind, sync=not isinstance(event, OutputLine | Progress), **record)

    def _flush(self, last: bytes = b"", *, sync: bool = True) -> None:
        """Write the queued lines and ``last`` with one write; with ``sync``, then sync
        whatever was written since the last sync.

        Args:
            last: A record to write after the queued lines.
            sync: Sync here, under the file lock (:meth:`close`); False leaves the sync
                to the background writer (:meth:`_write_and_sync`).

        Raises:
            OSError: From the write or the sync, or the background writer's earlier one.
        """
        with self._io:
            with self._cond:
                batch, self._pending = self._pending, []
                error, self._error = self._error, None
            if error is not None:
                raise error
            if self._fd is None:
                return
            data = b"".join(batch) + last
            if data:
                view = memoryview(data)
                while view:
                    view = view[os.write(self._fd, view) :]
                self._unsynced = True
            if sync and self._unsynced:
                self._unsynced = False
                _sync(self._fd)

    def _write_behind(self) -> None:
        """The background writer: syncs as soon as a record that matters asks; writes and
        syncs queued output at most ``flush_interval`` s after its first line."""
        while True:
            with self._cond:
                while not self._pending and not self._sync_wanted and not self._closing:
                    # An idle writer ends (a run with no output for a while keeps no thread).
                    if not self._cond.wait(_IDLE_SECONDS) and not self._pending and not self._sync_wanted:
                        self._writer = None
                        return
                if self._closing:
                    return  # close() drains and syncs what is left
                while self._pending and not self._sync_wanted and not self._closing:
                    left = self._first_pending + self.flush_interval - time.monotonic()
                    if left <= 0:
                        break
                    self._cond.wait(left)
                self._sync_wanted = False
            try:
                self._write_and_sync()
            except OSError as exc:
                with self._cond:
                    self._error = exc

    def _write_and_sync(self) -> None:
        """Write what is queued (under the file lock), then sync outside it, so a record
        that matters written meanwhile waits for no sync. :meth:`close` joins this thread
        before it closes the descriptor, so it stays open during the sync."""
        self._flush(sync=False)
        with self._io:
            fd = self._fd if self._unsynced else None
            self._unsynced = False  # a write after this sets it again and asks again
        if fd is not None:
            _sync(fd)

    def close(self) -> None:
        """Write and sync everything queued, stop the background writer, close the file.

        Raises:
            OSError: The last write or sync failed (the file is closed all the same).
        """
        if self._fd is None:
            return
        with self._cond:
            self._closing = True
            self._cond.notify_all()
            writer = self._writer
        if writer is not None and writer is not threading.current_thread():
            writer.join()
        try:
            self._flush()
        finally:
            with self._io:
                fd, self._fd = self._fd, None
                if fd is not None:
                    os.close(fd)
            _open_journals.discard(self)


#: Journals not closed yet: drained at interpreter exit (the TUI leaves them open).
_open_journals: weakref.WeakSet[Journal] = weakref.WeakSet()


@atexit.register
def _drain_open_journals() -> None:
    for journal in list(_open_journals):
        with contextlib.suppress(OSError):  # nothing left to tell at exit; a reader reports a torn line
            journal.close()


@dataclass(frozen=True)
class JournalRead:
    """A journal as read back.

    Attributes:
        path: The journal file.
        records: Every complete record, in file order.
        notices: One sentence per line left out (a torn last line, a damaged line in the
            middle, by line number), for the operator; empty for a sound journal.
    """

    path: Path
    records: list[dict[str, Any]] = field(default_factory=list)
    notices: list[str] = field(default_factory=list)


def read_journal(path: Path) -> JournalRead:
    """Read every complete record of a journal; damaged lines are left out with a notice.

    A last line without its newline that is not a complete JSON object was cut mid-write
    (the process was killed): left out, with a notice. A line in the middle that is not a
    JSON object (a disk error, or the torn end of an earlier process's run): left out,
    with a notice naming its line number (1-based). Blank lines are passed over silently.

    Raises:
        OSError: The file cannot be read.
    """
    data = path.read_bytes()
    lines = data.split(b"\n")
    tail = lines.pop()  # b"" when the file ends with a newline
    result = JournalRead(path)
    for number, raw in enumerate(lines, 1):
        if not raw.strip():
            continue
        record = _parse(raw)
        if record is None:
            result.notices.append(
                f"{path}: line {number} is not a complete record ({len(raw)} bytes; "
                "a disk error or an earlier crash): skipped"
            )
        else:
            result.records.append(record)
    if tail.strip():
        record = _parse(tail)
        if record is None:
            result.notices.append(
                f"{path}: the last line ({len(lines) + 1}) is incomplete ({len(tail)} bytes; the run was "
                "stopped while writing it): ignored"
            )
        else:
            result.records.append(record)
    return result


def _parse(raw: bytes) -> dict[str, Any] | None:
    try:
        value = json.loads(raw.decode("utf-8", errors="replace"))
    except json.JSONDecodeError:
        return None
    return value if isinstance(value, dict) else None
