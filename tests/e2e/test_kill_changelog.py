"""``kill -9`` in the middle of editing the changelog, in the real terminal.

The real ``iact-tui`` in tmux on a demo sandbox: version, checklist, then text typed into
the changelog editor. As soon as the editor's debounced save reaches the journal, the
iact-tui process (only it) gets SIGKILL; the shell in the pane starts iact-tui again,
whose Welcome screen offers to resume the release, and the editor shows the typed text
exactly, where it was typed.
"""

from __future__ import annotations

import os
import shlex
import signal
import subprocess
import time
from pathlib import Path

import pytest
from test_tmux import IACT, Tmux

from iact_tui import demo
from iact_tui.engine.resume import read_records

pytestmark = pytest.mark.e2e

TYPED = "- Typed pre-kill: ünï 42 `x` %s"  # short: the editor wraps at ~36 columns


def _changelog_bodies(state: Path) -> list[str]:
    """Every changelog text journaled so far, oldest first."""
    bodies: list[str] = []
    for journal in sorted(state.glob("iact-tui/runs/*/journal.jsonl")):
        bodies += [str(r["body"]) for r in read_records(journal) if r["kind"] == "changelog_edited" and "body" in r]
    return bodies


def _wait_for(what: str, ok: object, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if callable(ok) and ok():
            return
        time.sleep(0.05)
    raise AssertionError(f"waited {timeout:g} s for {what}")


def _press_until(term: Tmux, key: str, text: str, timeout: float = 60.0) -> str:
    """Press ``key`` on Welcome until ``text`` shows: Welcome ignores a key while its run
    still loads (it says so), so one press may not be enough right after it is drawn. A
    key is pressed again only while Welcome is still shown (never into the next screen)."""
    deadline = time.monotonic() + timeout
    term.keys(key)
    while True:
        screen = term.screen()
        if text in screen:
            return screen
        if time.monotonic() > deadline:
            raise AssertionError(f"{text!r} did not appear within {timeout:g} s; the screen shows:\n{screen}")
        if "What are we doing today?" in screen and "Loading" not in screen:
            time.sleep(1.0)
            if text not in (screen := term.screen()) and "What are we doing today?" in screen:
                term.keys(key)
        time.sleep(0.1)


def _wizard_pid(term: Tmux) -> int:
    """The iact-tui process running in the pane (the pane's shell's child)."""
    shell = term._tmux("display-message", "-p", "-t", "main", "#{pane_pid}").strip()
    children = subprocess.run(["pgrep", "-P", shell], capture_output=True, text=True).stdout.split()
    assert len(children) == 1, children
    return int(children[0])


def test_kill_9_while_editing_the_changelog_then_resume(quiet_sandbox: demo.Sandbox, tmp_path: Path) -> None:
    state = Path(os.environ["XDG_STATE_HOME"])
    wizard = shlex.quote(str(IACT))
    log = tmp_path / "exits.txt"
    # The pane's shell runs iact-tui twice: the second start is the "next morning".
    command = (
        f"cd {shlex.quote(str(quiet_sandbox.repo))}; {wizard}; echo first=$? >> {log}; "
        f"{wizard}; echo second=$? >> {log}; sleep 60"
    )
    term = Tmux(command)
    try:
        term.wait_for("What are we doing today?", timeout=60)
        _press_until(term, "Enter", "MINOR  → 1.4.0")
        term.keys("Enter")
        term.wait_for("every automatic check passed", timeout=90)
        term.keys("Space", "Tab", "Space", "Tab", "Space")
        term.wait_for("▐✔▌ Documentation is updated")
        term.keys("Enter")
        term.wait_for("Edit the changelog")
        screen = term.wait_for("### Added")  # the draft, from a worker; the editor has the focus
        assert TYPED not in screen
        term._tmux("send-keys", "-t", "main", "-l", "--", TYPED)  # "--": the text starts with "-"
        term.keys("Enter")
        term.wait_for(TYPED)
        # The edit is saved after a debounce; kill the process the moment it is journaled.
        _wait_for("the edit in the journal", lambda: any(b.startswith(TYPED + "\n") for b in _changelog_bodies(state)))
        pid = _wizard_pid(term)
        os.kill(pid, signal.SIGKILL)
        _wait_for("the first iact-tui to end", lambda: log.exists() and "first=137" in log.read_text())
        saved = _changelog_bodies(state)[-1]
        assert saved.startswith(TYPED + "\n### Added"), saved

        screen = term.wait_for("Resume release v1.4.0", timeout=60)
        assert "Start a new release" in screen
        screen = _press_until(term, "Enter", TYPED)  # the offer is highlighted first
        assert "Edit the changelog" in screen
        lines = screen.splitlines()
        row = next(i for i, line in enumerate(lines) if TYPED in line)
        assert "### Added" in lines[row + 1], "\n".join(lines[row - 2 : row + 3])
        # Nothing was journaled over it: the resumed run holds the text as typed.
        assert _changelog_bodies(state)[-1] == saved
        run_resumed = [
            r
            for journal in state.glob("iact-tui/runs/*/journal.jsonl")
            for r in read_records(journal)
            if r["kind"] == "run_resumed"
        ]
        assert len(run_resumed) == 1 and run_resumed[0]["pid"] != pid
    finally:
        term.kill()
