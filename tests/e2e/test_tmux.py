"""The real `iact-tui --demo` in tmux, driven by keys and read off the screen like a person.

The sandbox is built by the command itself; the test walks a whole release from the
Welcome screen to the announcement, then checks origin and the servers.
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e

IACT = Path(sys.executable).parent / "iact-tui"


class Tmux:
    """One tmux server (its own socket) running one session of 120x40."""

    def __init__(self, command: str) -> None:
        assert shutil.which("tmux"), "tmux is required for the end-to-end test (apt-get install tmux)"
        self.socket = f"iact-test-{uuid.uuid4().hex[:8]}"
        self._tmux("new-session", "-d", "-s", "main", "-x", "120", "-y", "40", command)

    def _tmux(self, *args: str) -> str:
        # COLUMNS/LINES from the test runner would override the window size in Textual.
        env = {k: v for k, v in os.environ.items() if k not in {"COLUMNS", "LINES", "TMUX"}}
        done = subprocess.run(
            ["tmux", "-L", self.socket, "-f", "/dev/null", *args], capture_output=True, text=True, timeout=30, env=env
        )
        return done.stdout

    def screen(self) -> str:
        return self._tmux("capture-pane", "-p", "-t", "main")

    def keys(self, *keys: str) -> None:
        for key in keys:
            self._tmux("send-keys", "-t", "main", key)

    def type(self, text: str) -> None:
        self._tmux("send-keys", "-t", "main", "-l", text)

    def wait_for(self, text: str, timeout: float = 90.0) -> str:
        """Poll the screen until ``text`` shows (the screen is the only clock a person has)."""
        deadline = time.monotonic() + timeout
        screen = ""
        while time.monotonic() < deadline:
            screen = self.screen()
            if text in screen:
                return screen
            time.sleep(0.2)
        raise AssertionError(f"{text!r} did not appear within {timeout:g} s; the screen shows:\n{screen}")

    def wait_until(self, ok: Callable[[str], bool], what: str, timeout: float = 30.0) -> str:
        """Poll the screen until ``ok(screen)``; ``what`` names the wait in the failure."""
        deadline = time.monotonic() + timeout
        screen = ""
        while time.monotonic() < deadline:
            screen = self.screen()
            if ok(screen):
                return screen
            time.sleep(0.2)
        raise AssertionError(f"waited {timeout:g} s for {what}; the screen shows:\n{screen}")

    def kill(self) -> None:
        self._tmux("kill-server")


@pytest.fixture
def demo_dir(tmp_path: Path) -> Iterator[Path]:
    root = tmp_path / "demo"
    try:
        yield root
    finally:
        if root.exists():
            subprocess.run([str(IACT), "demo", str(root), "--stop"], capture_output=True, timeout=60)


def test_walk_a_whole_release_in_the_real_terminal(demo_dir: Path, tmp_path: Path) -> None:
    log = tmp_path / "stdout.txt"
    command = f"{shlex.quote(str(IACT))} --demo --dir {shlex.quote(str(demo_dir))} > /dev/tty 2>&1; echo EXIT=$? > {shlex.quote(str(log))}; sleep 60"
    term = Tmux(command)
    try:
        screen = term.wait_for("What are we doing today?", timeout=120)
        assert "Patch what production runs from its tag" in screen and "Follow production's logs" in screen
        term.keys("Enter")

        screen = term.wait_for("MINOR  → 1.4.0")
        assert "Ignored (not SemVer)" in screen
        term.keys("Enter")  # MINOR is highlighted first

        screen = term.wait_for("every automatic check passed")
        for label in ("Working tree is clean", "Tests pass", "Coverage meets the threshold"):
            line = next(row for row in screen.splitlines() if label in row)
            assert "passed" in line, line
        assert "Tick the 3 remaining item(s)" in screen
        term.keys("Space", "Tab", "Space", "Tab", "Space")
        screen = term.wait_for("▐✔▌ Documentation is updated")
        assert screen.count("▐✔▌") == 3
        term.keys("Enter")

        term.wait_for("Edit the changelog")
        term.wait_for("### Added")  # the draft arrives from a worker
        term.keys("C-s")

        screen = term.wait_for("v1.4.0 on ", timeout=60)
        assert "Tag release" in screen
        term.keys("Enter")

        term.wait_for("v1.4.0 deployed to staging", timeout=120)
        term.keys("Enter")
        screen = term.wait_for("every smoke test passed on staging", timeout=60)
        term.keys("Enter")

        # Production prep: the rollback plan is read from production and must be acknowledged.
        screen = term.wait_for("production runs v1.3.2 now; this deploy replaces it with v1.4.0", timeout=60)
        assert "press a to acknowledge" in screen.replace("\n", " ") or "a to acknowledge" in screen
        term.keys("a")
        term.wait_for("production is ready to deploy", timeout=60)
        term.keys("Enter")

        term.wait_for("Type the version 1.4.0 to deploy to production")
        term.type("1.3.9")
        term.keys("Enter")
        term.wait_for("is not the version being released")
        assert "Deployed" not in term.screen()
        term.type("1.4.0")
        term.keys("Enter")
        term.wait_for("v1.4.0 deployed to production", timeout=120)
        term.keys("Enter")

        # Verification: the figures, then the two items checked by hand (the first is focused).
        screen = term.wait_for("Verification passed. Now tick what you verified by hand", timeout=60)
        assert "Response time · GET http://127.0.0.1:" in screen
        term.keys("Enter")  # refused until both are ticked, and it says so
        term.wait_for("Tick both items you verified by hand to continue")
        # One key at a time, each waited for on the screen: Textual routes a key to the widget
        # focused when it arrives, so a key sent before a Tab took effect goes to the old one.
        term.keys("Space")
        term.wait_for("▐✔▌ Critical functionality verified by hand")
        term.keys("Tab")  # to the first note: the footer drops its keys while a text field has the focus
        term.wait_until(lambda screen: "q Quit" not in screen, "the note to take the focus")
        term.type("logged in, opened a project")
        term.wait_for("logged in, opened a project")
        term.keys("Tab")
        term.wait_for("q Quit")
        term.keys("Space")  # the second tick; Continue gets the focus
        term.wait_for("▐✔▌ Metrics normal")
        term.wait_for("production healthy on v1.4.0")
        term.keys("Enter")
        term.wait_for("Announcement written")
        screen = term.wait_for("What's new")  # the Markdown view renders after the step
        assert "Release v1.4.0" in screen
        term.keys("Enter")
        deadline = time.monotonic() + 60
        while not log.exists() and time.monotonic() < deadline:
            time.sleep(0.2)
        assert log.read_text().strip() == "EXIT=0"
    finally:
        term.kill()
    origin = demo_dir / "origin.git"
    tag = subprocess.run(["git", "cat-file", "-t", "v1.4.0"], cwd=origin, capture_output=True, text=True)
    assert tag.stdout.strip() == "tag"
    # The wizard stopped the demo's servers on exit.
    assert not any((demo_dir / "run").glob("*.pid"))
