"""A repository locked by another iact-tui: the app says whose the lock is; a live holder
on this host is never broken (the app says to switch to it or stop it), another host's
lock is broken only with the owner's hostname typed; headless ``run`` exits 2 naming the
holder."""

from __future__ import annotations

import contextlib
import json
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from textual.app import App
from textual.pilot import Pilot
from textual.widgets import Input, Static
from textual.worker import WorkerFailed

from iact_tui import demo
from iact_tui.app import IactApp
from iact_tui.cli import main
from iact_tui.engine.journal import state_root
from iact_tui.engine.run_lock import LockInfo, RunLock, RunLockHeld
from iact_tui.lock_app import BreakLockModal, LockHeldApp, LockHeldScreen

_HOLDER = """
import sys
from pathlib import Path
from iact_tui.engine.run_lock import RunLock
lock = RunLock(Path(sys.argv[1]), flow="hotfix", version="1.3.3", state_dir=Path(sys.argv[2]))
lock.acquire()
print("held", flush=True)
sys.stdin.read()
"""


@pytest.fixture
def holder(quiet_sandbox: demo.Sandbox) -> Iterator[subprocess.Popen[str]]:
    """Another iact-tui process holding the sandbox repository's run lock (in the state
    dir the CLI uses: ``$XDG_STATE_HOME/iact-tui``)."""
    proc = subprocess.Popen(
        [sys.executable, "-c", _HOLDER, str(quiet_sandbox.repo), str(state_root())],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None and proc.stdout.readline() == "held\n"
    try:
        yield proc
    finally:
        proc.communicate("")


def test_headless_run_exits_2_naming_the_holder(
    quiet_sandbox: demo.Sandbox, holder: subprocess.Popen[str], capsys: pytest.CaptureFixture[str]
) -> None:
    status = main(["run", "release", "--bump", "minor", "--yes", "--config", str(quiet_sandbox.config_path)])
    captured = capsys.readouterr()
    assert status == 2
    assert f"pid {holder.pid}, hotfix of 1.3.3" in captured.err and "Traceback" not in captured.err
    assert f"switch to its terminal, or stop it: `kill {holder.pid}`" in captured.err
    assert "type the hostname" not in captured.err
    assert not (state_root() / "runs").exists()  # nothing was started


def _held(repo: Path) -> RunLockHeld:
    try:
        RunLock(repo, flow="release", state_dir=state_root()).acquire()
    except RunLockHeld as exc:
        return exc
    raise AssertionError("the lock was not held")


def _foreign_lock(repo: Path) -> RunLockHeld:
    """A lock file of another host (``build-elsewhere``) on ``repo``; the refusal to take it."""
    lock = RunLock(repo, flow="release", state_dir=state_root())
    lock.path.parent.mkdir(parents=True, exist_ok=True)
    foreign = {
        "repo": lock.repo,
        "owner": "carol@build-elsewhere",
        "host": "build-elsewhere",
        "pid": 4242,
        "proc_start": 1,
        "flow": "hotfix",
        "version": "1.3.3",
        "started": "2026-11-29T10:00:00Z",
    }
    lock.path.write_text(json.dumps(foreign))
    return _held(repo)


async def test_a_live_lock_of_this_host_is_not_offered_for_breaking(
    quiet_sandbox: demo.Sandbox, holder: subprocess.Popen[str]
) -> None:
    held = _held(quiet_sandbox.repo)
    app = LockHeldApp(held, blink=False)
    async with app.run_test(size=(110, 30)) as pilot:
        await pilot.pause()
        shown = str(app.screen.query_one("#lock-what", Static).render())
        assert f"pid {holder.pid}" in shown and "hotfix of 1.3.3" in shown
        fix = str(app.screen.query_one("#lock-fix", Static).render())
        assert f"switch to its terminal, or stop it: `kill {holder.pid}`" in fix
        assert "taken over without breaking" in fix and "hostname" not in fix
        keys = {b.binding.key for b in app.screen.active_bindings.values()}
        assert "b" not in keys and "q" in keys

        await pilot.press("b")
        await pilot.pause()
        assert isinstance(app.screen, LockHeldScreen)  # nothing asked
        await pilot.press("q")
        await pilot.pause()
    assert not app.return_value
    assert LockInfo.from_json(held.lock.path.read_text()).pid == holder.pid


async def test_another_hosts_lock_is_broken_only_for_its_hostname(quiet_sandbox: demo.Sandbox) -> None:
    held = _foreign_lock(quiet_sandbox.repo)
    app = LockHeldApp(held, blink=False)
    async with app.run_test(size=(110, 30)) as pilot:
        await pilot.pause()
        shown = str(app.screen.query_one("#lock-what", Static).render())
        assert "carol@build-elsewhere, pid 4242" in shown and "hotfix of 1.3.3" in shown
        assert "b" in {b.binding.key for b in app.screen.active_bindings.values()}

        await pilot.press("b")
        await pilot.pause()
        assert isinstance(app.screen, BreakLockModal)
        await pilot.press("enter")  # nothing typed
        await pilot.pause()
        error = str(app.screen.query_one("#confirm-error", Static).render())
        assert error == "Type the lock owner's hostname build-elsewhere to confirm, or press Cancel."
        field = app.screen.query_one("#confirm-input", Input)
        field.value = socket.gethostname()
        await pilot.press("enter")
        await pilot.pause()
        error = str(app.screen.query_one("#confirm-error", Static).render())
        assert "is not the lock owner's hostname" in error and isinstance(app.screen, BreakLockModal)
        assert held.lock.path.exists()

        app.screen.query_one("#confirm-input", Input).value = "build-elsewhere"
        await pilot.press("enter")
        await app.workers.wait_for_complete()
        await pilot.pause()
    assert app.return_value is True
    assert not held.lock.path.exists()


async def test_leaving_the_app_keeps_the_lock(quiet_sandbox: demo.Sandbox, holder: subprocess.Popen[str]) -> None:
    held = _held(quiet_sandbox.repo)
    app = LockHeldApp(held, blink=False)
    async with app.run_test(size=(110, 30)) as pilot:
        await pilot.pause()
        await pilot.press("q")
        await pilot.pause()
    assert not app.return_value
    assert held.lock.path.exists()


def _headless(monkeypatch: pytest.MonkeyPatch, pilots: dict[type, Any]) -> list[App[Any]]:
    """Run every ``App.run`` of the CLI headless (Textual's own mode), driven by the
    auto-pilot given for its class; returns the apps run, in order."""
    ran: list[App[Any]] = []
    original = App.run

    def run(self: App[Any], *args: Any, **kwargs: Any) -> Any:
        ran.append(self)
        kwargs.update(headless=True, size=(110, 30), auto_pilot=pilots.get(type(self)))
        return original(self, *args, **kwargs)

    monkeypatch.setattr(App, "run", run)
    return ran


async def _leave(pilot: Pilot[Any]) -> None:
    await pilot.pause()
    await pilot.press("q")


async def _break(pilot: Pilot[Any]) -> None:
    await pilot.pause()
    await pilot.press("b")
    await pilot.pause()
    pilot.app.screen.query_one("#confirm-input", Input).value = "build-elsewhere"
    await pilot.press("enter")


async def _quit_when_loaded(pilot: Pilot[Any]) -> None:
    app = pilot.app
    assert isinstance(app, IactApp)
    with contextlib.suppress(WorkerFailed):  # the lock is held: the app ends itself
        await app.workers.wait_for_complete()
    await pilot.pause()
    if app.loaded:
        await pilot.press("q")


def test_the_wizard_shows_the_holder_and_exits_2_when_the_lock_is_left(
    quiet_sandbox: demo.Sandbox,
    holder: subprocess.Popen[str],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    ran = _headless(monkeypatch, {LockHeldApp: _leave})
    status = main(["--config", str(quiet_sandbox.config_path)])
    assert [type(app) for app in ran] == [IactApp, LockHeldApp]  # Welcome first, then the prompt
    err = capsys.readouterr().err
    assert status == 2 and f"pid {holder.pid}, hotfix of 1.3.3" in err and "Traceback" not in err
    assert not (state_root() / "runs").exists()  # nothing was started


def test_the_wizard_starts_again_once_another_hosts_lock_is_broken(
    quiet_sandbox: demo.Sandbox,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    _foreign_lock(quiet_sandbox.repo)
    ran = _headless(monkeypatch, {LockHeldApp: _break, IactApp: _quit_when_loaded})
    status = main(["--config", str(quiet_sandbox.config_path)])
    assert [type(app) for app in ran] == [IactApp, LockHeldApp, IactApp]
    out = capsys.readouterr().out
    assert status == 0 and "no step was run; nothing changed" in out
    first, _, again = ran
    assert isinstance(first, IactApp) and isinstance(again, IactApp)
    assert again.config is first.config  # read once; the retry only took the lock


def test_a_demo_refused_by_the_lock_leaves_the_holders_demo_servers_running(
    quiet_sandbox: demo.Sandbox,
    holder: subprocess.Popen[str],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    _headless(monkeypatch, {LockHeldApp: _leave})
    status = main(["--demo", "--dir", str(quiet_sandbox.root)])  # starts the sandbox's servers
    out = capsys.readouterr().out
    assert status == 2
    assert f"the demo servers stay up: pid {holder.pid} works on this sandbox" in out
    assert "stopped" not in out
    assert demo.stop_sandbox(quiet_sandbox.root)  # they were still running
