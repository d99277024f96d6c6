"""The run journal: append-only JSON lines, one file per run, under the user state dir.

Every record is one line ``{"ts": <unix seconds>, "kind": ..., ...}``. Records that
matter (step results, operator inputs) are flushed and fsynced as they are written;
output lines are flushed and synced at the next record that matters.
"""

from __future__ import annotations

import json
import os
import secrets
import time
from pathlib import Path
from typing import Any

import platformdirs

from iact_tui.engine.events import Event, OutputLine, Progress, to_record

APP_NAME = "iact-tui"


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


class Journal:
    """An append-only JSONL file.

    Args:
        path: The journal file (created if missing); ``None`` for a run that records
            nothing (``iact-tui plan``).
    """

    def __init__(self, path: Path | None) -> None:
        self.path = path or Path("/dev/null")
        self._file = path.open("a", encoding="utf-8") if path else None

    def write(self, kind: str, *, sync: bool = True, **fields: Any) -> None:
        """Append one record; fsync it when ``sync``."""
        if self._file is None:
            return
        record = {"ts": round(time.time(), 3), "kind": kind, **fields}
        self._file.write(json.dumps(record, ensure_ascii=False, default=str) + "\n")
        if sync:
            self._file.flush()
            os.fsync(self._file.fileno())

    def event(self, event: Event) -> None:
        """Append an engine event (output and progress are not fsynced one by one)."""
        record = to_record(event)
        kind = record.pop("kind")
        record.pop("ts", None)
        self.write(kind, sync=not isinstance(event, OutputLine | Progress), **record)

    def close(self) -> None:
        """Flush and close the file."""
        if self._file is not None and not self._file.closed:
            self._file.flush()
            os.fsync(self._file.fileno())
            self._file.close()


def read_journal(path: Path) -> list[dict[str, Any]]:
    """All records of a journal; a torn last line (cut mid-write) is skipped."""
    records = []
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    return records
