"""``kill -9`` at every step boundary of a real release, each time resumed: the same end
as an uninterrupted release.

Two demo sandboxes. In one, ``iact-tui run release --bump minor --yes`` runs to its end
(the reference, in the background while the other is walked). In the other, the test
watches the run's journal and SIGKILLs the process as soon as it journals a
``step_finished`` record; the next process (``run release --resume --yes``) resumes it
and is killed at the next ``step_finished``, and so on: one process per step of
:data:`~iact_tui.engine.flows.RELEASE_STEP_IDS`, then one more to finish. No test hook in
iact-tui: the kill is a real SIGKILL from outside, at whatever point the process has
reached a few milliseconds after the record.

The end must be the reference's: the tag annotated on main's head, main's tree (the
changelog, the version files) the same file for file, the same commits on main since
the last release, both servers on 1.4.0, no deploy lock left, one journal with one
``run_started``, a ``run_resumed`` per kill, each step ``ok`` once, and ``report.md``.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from iact_tui import demo
from iact_tui.engine.flows import RELEASE_STEP_IDS
from iact_tui.engine.resume import read_records

pytestmark = pytest.mark.e2e

CLI = [sys.executable, "-m", "iact_tui"]
START = ["run", "release", "--bump", "minor", "--yes"]
RESUME = ["run", "release", "--resume", "--yes"]


def git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=repo, capture_output=True, text=True, check=True).stdout.strip()


def version_on(url: str) -> object:
    with urllib.request.urlopen(url, timeout=10) as response:
        return json.loads(response.read())["version"]


class Watched:
    """One ``iact-tui`` process, its output collected by a thread (the pipe never fills)."""

    def __init__(self, args: list[str], cwd: Path, env: dict[str, str]) -> None:
        self.proc = subprocess.Popen(
            [*CLI, *args], cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env
        )
        self.lines: list[str] = []
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.append(line)

    def output(self) -> str:
        self.reader.join(timeout=30)
        return "".join(self.lines)

    def journal(self, timeout: float = 60.0) -> Path:
        """The journal path the process prints first (``journal: …``)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for line in list(self.lines):
                if line.startswith("journal: "):
                    return Path(line.removeprefix("journal: ").strip())
            if self.proc.poll() is not None and not self.reader.is_alive():
                break
            time.sleep(0.005)
        raise AssertionError(f"no journal path printed:\n{self.output()}")

    def kill_at(self, journal: Path, offset: int, kind: str, timeout: float = 60.0) -> dict[str, Any]:
        """SIGKILL the process as soon as ``journal`` gets a ``kind`` record after byte
        ``offset``; that record. Polls the file every millisecond (the process goes on
        running meanwhile: the kill lands where it lands, as a real one does)."""
        deadline = time.monotonic() + timeout
        pending = b""
        with journal.open("rb") as fh:
            fh.seek(offset)
            while time.monotonic() < deadline:
                pending += fh.read()
                *complete, pending = pending.split(b"\n")
                for raw in complete:
                    if not raw.strip():
                        continue  # the resumed process first ends a line torn by the last kill
                    try:
                        record: dict[str, Any] = json.loads(raw)
                    except json.JSONDecodeError:
                        continue  # a torn line: the journal's reader skips it the same way
                    if record.get("kind") == kind:
                        self.proc.send_signal(signal.SIGKILL)
                        self.proc.wait(timeout=30)
                        assert self.proc.returncode == -signal.SIGKILL, self.output()
                        return record
                if self.proc.poll() is not None:
                    raise AssertionError(f"ended ({self.proc.returncode}) before a {kind} record:\n{self.output()}")
                time.sleep(0.001)
        self.proc.kill()
        raise AssertionError(f"no {kind} record within {timeout:g} s:\n{self.output()}")


def end_state(box: demo.Sandbox) -> dict[str, object]:
    """What a finished release leaves, comparable between two sandboxes (commit ids and
    dates differ; trees, subjects and versions do not)."""
    origin = box.origin
    return {
        "tag type": git(origin, "cat-file", "-t", "v1.4.0"),
        "tag on main": git(origin, "rev-parse", "v1.4.0^{commit}") == git(origin, "rev-parse", "main"),
        # What the release changed on main, file for file (the config holds the sandbox's path).
        "release diff": git(origin, "diff", "v1.3.2", "main", "--", ".", ":(exclude)iact-release.toml"),
        "main subjects": git(origin, "log", "--format=%s", "v1.3.2..main").splitlines(),
        "tags": git(origin, "tag", "--sort=v:refname").splitlines(),
        "branches": git(origin, "for-each-ref", "--format=%(refname:short)", "refs/heads").splitlines(),
        "changelog": git(origin, "show", "main:CHANGELOG.md"),
        "versions": {env: version_on(url) for env, url in box.environments.items()},
        "deployed": {env: git(box.root / env, "describe", "--tags") for env in box.environments},
        "locks left": sorted(str(p.relative_to(box.root)) for p in box.root.glob("*/.iact-deploy.lock")),
        "clone branch": git(box.repo, "branch", "--show-current"),
    }


def test_kill_9_at_every_step_boundary_then_resume(tmp_path: Path) -> None:
    started = time.monotonic()
    walked, reference = (demo.build_sandbox(tmp_path / name) for name in ("walked", "reference"))
    try:
        ref_env = {**os.environ, "XDG_STATE_HOME": str(tmp_path / "reference-state")}
        ref = Watched(START, reference.repo, ref_env)

        env = os.environ.copy()
        first = Watched(START, walked.repo, env)
        journal = first.journal()
        killed = [first.kill_at(journal, 0, "step_finished")]
        outputs = [first.output()]
        assert killed[-1]["status"] == "ok", outputs[-1]
        while killed[-1]["step_id"] != RELEASE_STEP_IDS[-1]:
            offset = journal.stat().st_size
            nxt = Watched(RESUME, walked.repo, env)
            killed.append(nxt.kill_at(journal, offset, "step_finished"))
            outputs.append(nxt.output())
            assert "resuming release v1.4.0" in outputs[-1], outputs[-1]
            assert killed[-1]["status"] == "ok", outputs[-1]
        # The last kill lands right after the announcement's record: before or after the
        # run's end and report were written (microseconds apart). Resuming writes what is
        # missing; when nothing is, there is nothing to resume.
        tail = read_records(journal)
        ended = tail[-1]["kind"] == "run_finished" and (journal.parent / "report.md").is_file()
        done = subprocess.run([*CLI, *RESUME], cwd=walked.repo, capture_output=True, text=True, timeout=120, env=env)

        assert ref.proc.wait(timeout=120) == 0, ref.output()
        walk_seconds = time.monotonic() - started
        assert done.returncode == (2 if ended else 0), done.stdout + done.stderr
        if not ended:
            assert "only its end and report were missing" in done.stdout, done.stdout
        # Each process was killed right after a step it finished: every boundary, in order.
        assert [(r["step_id"], r["status"]) for r in killed] == [(s, "ok") for s in RELEASE_STEP_IDS]

        assert end_state(walked) == end_state(reference)
        assert end_state(walked)["versions"] == {"staging": "1.4.0", "production": "1.4.0"}

        records = read_records(journal)
        kinds = [r["kind"] for r in records]
        assert kinds.count("run_started") == 1
        assert kinds.count("run_resumed") == len(RELEASE_STEP_IDS) - (1 if ended else 0)
        assert kinds.count("version_chosen") == 1
        finished = [(r["step_id"], r["status"]) for r in records if r["kind"] == "step_finished"]
        assert finished == [(s, "ok") for s in RELEASE_STEP_IDS], finished
        assert records[-1]["kind"] == "run_finished"
        assert set(records[-1]["steps"].values()) == {"ok"}
        assert (journal.parent / "report.md").is_file()
        assert "# Release v1.4.0" in (journal.parent / "report.md").read_text()
        # Nothing is left to resume.
        again = subprocess.run([*CLI, *RESUME], cwd=walked.repo, capture_output=True, text=True, timeout=60, env=env)
        assert again.returncode == 2, again.stdout
        adopted = [r["host"] for r in records if r["kind"] == "deploy_lock_taken" and r.get("adopted")]
        print(f"walk of {len(killed)} kills: {walk_seconds:.1f} s; deploy locks adopted on resume: {adopted}")
    finally:
        for box in (walked, reference):
            demo.stop_sandbox(box.root)
