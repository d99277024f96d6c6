"""Helpers for the screen tests: a tiny real git repository, waiting on the app."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from iact_tui.app import IactApp

CONFIG = """\
[project]
main_branch = "main"
remote = "origin"
tag_prefix = "v"
changelog = "CHANGELOG.md"

[checks]
tests = ""
coverage_report = ""
"""

CHANGELOG = """\
# Changelog

All notable changes to this project are documented in this file.

## [Unreleased]

### Added
- A release wizard in the terminal.

## [0.1.0] - 2024-01-02

### Added
- First release.
"""


def git(cwd: Path, *args: str) -> str:
    """Run git in ``cwd`` (identity from the environment, no global config)."""
    env = {
        **os.environ,
        "GIT_AUTHOR_NAME": "Test Operator",
        "GIT_AUTHOR_EMAIL": "operator@example.invalid",
        "GIT_COMMITTER_NAME": "Test Operator",
        "GIT_COMMITTER_EMAIL": "operator@example.invalid",
        "GIT_CONFIG_GLOBAL": os.devnull,
    }
    done = subprocess.run(["git", *args], cwd=cwd, env=env, check=True, capture_output=True, text=True)
    return done.stdout


def build_tiny_repo(root: Path) -> Path:
    """A clone with one tagged release (v0.1.0), one feature commit and a bare origin.

    Returns:
        The path of the config file in the clone.
    """
    origin = root / "origin.git"
    repo = root / "repo"
    root.mkdir(parents=True, exist_ok=True)
    git(root, "init", "-q", "--bare", "-b", "main", str(origin))
    git(root, "init", "-q", "-b", "main", str(repo))
    (repo / "iact-release.toml").write_text(CONFIG, encoding="utf-8")
    (repo / "CHANGELOG.md").write_text(CHANGELOG, encoding="utf-8")
    (repo / "app.py").write_text('__version__ = "0.1.0"\n', encoding="utf-8")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "feat: first release")
    git(repo, "tag", "v0.1.0")
    git(repo, "tag", "nightly")
    (repo / "app.py").write_text('__version__ = "0.1.0"\nGREETING = "hi"\n', encoding="utf-8")
    git(repo, "commit", "-q", "-am", "feat: greet the operator")
    git(repo, "commit", "-q", "--allow-empty", "-m", "fix: spell the greeting")
    git(repo, "tag", "v0.2.0-rc.1")
    git(repo, "remote", "add", "origin", str(origin))
    git(repo, "push", "-q", "origin", "main", "--tags")
    git(repo, "branch", "-q", "--set-upstream-to=origin/main", "main")
    return repo / "iact-release.toml"


async def settle(app: IactApp, pilot: object) -> None:
    """Let screen switches, workers and their posted events finish (no sleeps)."""
    from textual.pilot import Pilot

    assert isinstance(pilot, Pilot)
    await pilot.pause()
    # A step screen starts its steps after its first frame: wait for that before waiting
    # for its workers (under load the frame can come after the pause above).
    for _ in range(500):
        if getattr(app.screen, "begun", True):
            break
        await pilot.pause(0.01)
    await app.workers.wait_for_complete()
    await pilot.pause()
    await pilot.pause()


async def tick_all(app: IactApp, pilot: object) -> None:
    """Tick every manual checklist item on the checklist screen."""
    from textual.pilot import Pilot

    assert isinstance(pilot, Pilot)
    for check_id, _ in app.release_run.manual_checks():
        await pilot.click(f"#tick-{check_id}")
    await pilot.pause()


async def walk_to_checklist(app: IactApp, pilot: object, bump_keys: tuple[str, ...] = ("enter",)) -> None:
    """Welcome → Version (MINOR) → Checklist, preflight finished."""
    from textual.pilot import Pilot

    assert isinstance(pilot, Pilot)
    await settle(app, pilot)
    await pilot.press("enter")
    await settle(app, pilot)
    await pilot.press(*bump_keys)
    await settle(app, pilot)


async def walk_to_release(app: IactApp, pilot: object) -> None:
    """… → Checklist (ticked) → Changelog → Release, release steps finished."""
    from textual.pilot import Pilot

    assert isinstance(pilot, Pilot)
    await walk_to_checklist(app, pilot)
    await tick_all(app, pilot)
    await pilot.click("#continue")
    await settle(app, pilot)
    await pilot.press("ctrl+s")
    await settle(app, pilot)


async def tick_verification(app: IactApp, pilot: object, notes: dict[str, str] | None = None) -> None:
    """On the verify screen, tick the items done by hand not ticked yet, typing each note
    given first (keys, as an operator would: focus the note, type, focus the tick, space)."""
    from textual.pilot import Pilot

    assert isinstance(pilot, Pilot)
    for check_id, _ in app.release_run.verify_manual_checks():
        note = (notes or {}).get(check_id, "")
        if note:
            app.screen.query_one(f"#verify-note-{check_id}").focus()
            await pilot.press(*note)
        if check_id not in app.release_run.state.verify_ticks:
            app.screen.query_one(f"#verify-tick-{check_id}").focus()
            await pilot.press("space")
    await pilot.pause()
