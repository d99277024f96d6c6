"""The journal: torn and damaged lines are reported and left out, output is batched, records
that matter are written before ``write`` returns and synced by the background writer,
``close`` and interpreter exit drain."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from iact_tui.engine import journal as journal_mod
from iact_tui.engine.events import OutputLine, StepFinished
from iact_tui.engine.journal import Journal, read_journal


def _lines_seen_by_another_process(path: Path) -> list[dict[str, object]]:
    """The records another process reads from ``path`` right now (what reached the kernel)."""
    code = "import json,sys; print(json.dumps([json.loads(l) for l in open(sys.argv[1], 'rb').read().splitlines()]))"
    out = subprocess.run([sys.executable, "-c", code, str(path)], capture_output=True, text=True, check=True)
    return list(json.loads(out.stdout))


def test_a_torn_last_line_is_left_out_with_a_notice(tmp_path: Path) -> None:
    path = tmp_path / "journal.jsonl"
    journal = Journal(path)
    journal.write("run_started", flow="release")
    journal.write("step_finished", step_id="bump", status="ok")
    journal.close()
    with path.open("ab") as fh:
        fh.write(b'{"ts": 1.0, "kind": "step_fini')  # killed mid-write

    read = read_journal(path)

    assert [r["kind"] for r in read.records] == ["run_started", "step_finished"]
    assert len(read.notices) == 1
    assert "last line (3) is incomplete" in read.notices[0] and str(path) in read.notices[0]


def test_a_damaged_middle_line_is_skipped_naming_its_line(tmp_path: Path) -> None:
    path = tmp_path / "journal.jsonl"
    path.write_bytes(
        b'{"ts": 1, "kind": "run_started"}\n'
        b'{"ts": 2, "kind": "out\x00\x00\x00\n'  # a disk error
        b"\n"
        b'["not", "a", "record"]\n'
        b'{"ts": 3, "kind": "run_finished"}\n'
    )

    read = read_journal(path)

    assert [r["kind"] for r in read.records] == ["run_started", "run_finished"]
    assert [n.split(": ", 1)[1].split(" is ")[0] for n in read.notices] == ["line 2", "line 4"]


def test_a_sound_journal_has_no_notice_and_a_complete_last_line_without_newline_counts(tmp_path: Path) -> None:
    path = tmp_path / "journal.jsonl"
    path.write_bytes(b'{"ts": 1, "kind": "a"}\n{"ts": 2, "kind": "b"}')
    read = read_journal(path)
    assert [r["kind"] for r in read.records] == ["a", "b"] and read.notices == []


def test_appending_after_a_torn_line_starts_a_line_of_its_own(tmp_path: Path) -> None:
    path = tmp_path / "journal.jsonl"
    path.write_bytes(b'{"ts": 1, "kind": "run_started"}\n{"ts": 2, "ki')
    journal = Journal(path)
    journal.write("run_resumed")
    journal.close()

    read = read_journal(path)

    assert [r["kind"] for r in read.records] == ["run_started", "run_resumed"]
    assert len(read.notices) == 1 and "line 2 is not a complete record" in read.notices[0]


_WRITER = """
import sys
from pathlib import Path
from iact_tui.engine.journal import Journal
journal = Journal(Path(sys.argv[1]))
blob = "x" * 4_000_000
i = 0
while True:
    journal.write("output", sync=False, seq=i, text="line")
    journal.write("step_finished", seq=i + 1, data=blob)
    i += 2
"""


def _mid_write(path: Path) -> bool:
    """Whether ``path`` ends inside a line now: a large write(2) is being copied in (the
    file grows page by page, and readers see each page as it lands)."""
    try:
        with path.open("rb") as fh:
            size = os.fstat(fh.fileno()).st_size
            return size > 10_000_000 and os.pread(fh.fileno(), 1, size - 1) != b"\n"
    except OSError:
        return False


def test_a_process_killed_while_writing_leaves_a_readable_journal(tmp_path: Path) -> None:
    """SIGKILL is sent while the file ends inside a 4 MB record being written: reading back
    never fails, every complete record is kept in order, and the cut last line is reported."""
    torn = 0
    for attempt in range(10):
        path = tmp_path / f"journal-{attempt}.jsonl"
        proc = subprocess.Popen([sys.executable, "-c", _WRITER, str(path)])
        try:
            deadline = time.monotonic() + 20
            while not _mid_write(path):
                assert time.monotonic() < deadline, "the writer never got going"
        finally:
            proc.send_signal(signal.SIGKILL)
            proc.wait()
        data = path.read_bytes()

        read = read_journal(path)

        assert len(read.records) == data.count(b"\n")  # every complete line, nothing else
        seqs = [r["seq"] for r in read.records]
        assert seqs == list(range(len(seqs)))
        assert all(len(r["data"]) == 4_000_000 for r in read.records if r["kind"] == "step_finished")
        if data.endswith(b"\n"):
            assert read.notices == []
        else:
            assert len(read.notices) == 1 and "is incomplete" in read.notices[0]
            torn += 1
            if torn >= 2:
                break
    assert torn, "no kill landed mid-record in 10 tries"


def test_output_is_batched_and_a_record_that_matters_takes_it_to_the_kernel_before_returning(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    syncs: list[int] = []
    synced = threading.Semaphore(0)
    real = journal_mod._sync

    def counted(fd: int) -> None:
        real(fd)
        syncs.append(fd)
        synced.release()

    monkeypatch.setattr(journal_mod, "_sync", counted)
    path = tmp_path / "journal.jsonl"
    journal = Journal(path, flush_interval=30)
    for i in range(5000):
        journal.event(OutputLine("deploy-staging", f"line {i}"))

    assert _lines_seen_by_another_process(path) == []  # queued, not one write per line
    assert syncs == []

    journal.event(StepFinished("deploy-staging", "ok", "deployed"))

    # Written when write() returns (a kill -9 now loses nothing): another process sees it.
    seen = _lines_seen_by_another_process(path)
    assert len(seen) == 5001 and seen[-1]["kind"] == "step_finished"
    assert [r["text"] for r in seen[:3]] == ["line 0", "line 1", "line 2"]
    assert synced.acquire(timeout=5), "the background writer never synced"
    assert len(syncs) == 1  # one sync for the 5000 lines and the result together
    journal.write("operator_ticked", check="backup")
    assert _lines_seen_by_another_process(path)[-1]["kind"] == "operator_ticked"
    assert synced.acquire(timeout=5), "the background writer never synced"
    assert len(syncs) == 2
    journal.close()


def test_a_record_that_matters_never_waits_for_the_disk_sync(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The sync runs on the background writer: write() returns while a sync is stuck (a slow
    disk), the record already readable; close() waits for the sync."""
    release = threading.Event()
    threads: list[str] = []
    real = journal_mod._sync

    def slow(fd: int) -> None:
        threads.append(threading.current_thread().name)
        release.wait(10)
        real(fd)

    monkeypatch.setattr(journal_mod, "_sync", slow)
    path = tmp_path / "journal.jsonl"
    journal = Journal(path)
    journal.write("step_finished", step="tag", status="ok")
    journal.write("operator_ticked", check="backup")  # returns although the first sync hangs

    assert not release.is_set()
    assert [r["kind"] for r in _lines_seen_by_another_process(path)] == ["step_finished", "operator_ticked"]
    assert threads and set(threads) == {"journal-writer"}
    release.set()
    journal.close()
    assert [r["kind"] for r in read_journal(path).records] == ["step_finished", "operator_ticked"]


def test_output_reaches_the_disk_within_the_interval_without_any_other_record(tmp_path: Path) -> None:
    path = tmp_path / "journal.jsonl"
    journal = Journal(path, flush_interval=0.2)
    started = time.monotonic()
    for i in range(20_000):
        journal.write("output", sync=False, text=f"line {i}")
    while path.stat().st_size == 0 or not path.read_bytes().endswith(b'"line 19999"}\n'):
        assert time.monotonic() - started < 5, "output lines never written"
        time.sleep(0.01)
    # Written in one batch after the interval, not line by line as they came.
    assert time.monotonic() - started >= 0.2
    assert len(_lines_seen_by_another_process(path)) == 20_000
    journal.close()


def test_close_drains_what_is_queued(tmp_path: Path) -> None:
    path = tmp_path / "journal.jsonl"
    journal = Journal(path, flush_interval=60)
    for i in range(300):
        journal.write("output", sync=False, text=f"line {i}")
    journal.close()
    assert len(read_journal(path).records) == 300
    with pytest.raises(ValueError, match="closed"):
        journal.write("late")


def test_a_journal_nobody_closed_is_drained_at_exit(tmp_path: Path) -> None:
    path = tmp_path / "journal.jsonl"
    code = (
        "import sys; from pathlib import Path; from iact_tui.engine.journal import Journal\n"
        "j = Journal(Path(sys.argv[1]), flush_interval=60)\n"
        "for i in range(1000): j.write('output', sync=False, text=str(i))\n"
    )
    subprocess.run([sys.executable, "-c", code, str(path)], check=True)
    assert [r["text"] for r in read_journal(path).records] == [str(i) for i in range(1000)]


def test_a_run_that_records_nothing_writes_nothing(tmp_path: Path) -> None:
    journal = Journal(None)
    journal.write("run_started")
    journal.write("output", sync=False)
    journal.close()
    journal.write("after")  # a plan's journal never refuses
    assert journal.path == Path("/dev/null") and os.listdir(tmp_path) == []


def test_the_history_keeps_a_torn_journals_records_and_says_what_was_left_out(tmp_path: Path) -> None:
    """Rollback targets come from every journal: one cut by a crash still counts, and the
    history carries the notice (the rollback shows it among its notes)."""
    from iact_tui.engine.history import read_history

    repo, state = tmp_path / "repo", tmp_path / "state"
    repo.mkdir()
    run = state / "runs" / "20261129T000001Z-aaaaaa"
    run.mkdir(parents=True)
    started = {"ts": 1.0, "kind": "run_started", "flow": "release", "repo": str(repo)}
    deployed = {"ts": 2.0, "kind": "step_finished", "step_id": "deploy-production", "status": "ok"}
    deployed["data"] = {"tag": "v1.3.1"}
    text = json.dumps(started) + "\n" + json.dumps(deployed) + '\n{"ts": 3.0, "kind": "outp'
    (run / "journal.jsonl").write_text(text)

    history = read_history("production", "v", state, repo=repo)

    assert [d.tag for d in history.deployments] == ["v1.3.1"]
    assert len(history.notices) == 1 and "20261129T000001Z-aaaaaa" in history.notices[0]
    assert "incomplete" in history.notices[0]
