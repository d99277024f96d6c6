"""Cancelling a running step and staying in the app (``c`` twice, or ctrl+c twice), the
maintenance choice taken while a deploy runs, and the progress line when nothing runs.

Real demo sandbox: real git, a real local deploy with real commands, real HTTP health."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Any

import pytest
from test_quit_during_deploy import status
from textual.widgets import ProgressBar, Static
from ui_helpers import settle, walk_to_release

from iact_tui import demo
from iact_tui.app import IactApp, make_app
from iact_tui.config import load_config
from iact_tui.screens import DeployScreen
from iact_tui.widgets import CommandLog, QuitModal

#: The demo's staging recipe: the first command, before which the slow one is put.
FIRST = '{ name = "fetch tags", run = "git fetch --tags --force {remote}" },'


def add_command(sandbox: demo.Sandbox, name: str, run: str) -> None:
    """Put a command before the staging recipe's first one (after maintenance mode on),
    committed and pushed as an operator would."""
    path = sandbox.config_path
    text = path.read_text()
    assert FIRST in text
    path.write_text(text.replace(FIRST, f'{{ name = "{name}", run = "{run}" }},\n    {FIRST}', 1))
    for args in (["commit", "-qam", f"chore: {name}"], ["push", "-q", "origin", "main"]):
        subprocess.run(["git", *args], cwd=sandbox.repo, check=True)


def running(marker: str) -> bool:
    """Whether a process whose command line holds ``marker`` runs."""
    return subprocess.run(["pgrep", "-f", marker], capture_output=True).returncode == 0


def log_has(screen: DeployScreen, text: str) -> bool:
    log = screen.query_one(CommandLog)
    log.flush()
    return any(text in line for line in log.log_widget.lines)


def notices(app: IactApp) -> list[str]:
    return [n.message for n in app._notifications]


async def deploy_until(app: IactApp, pilot: object, text: str) -> DeployScreen:
    """From the release screen, go on to the staging deploy and wait until ``text`` is in its output."""
    from textual.pilot import Pilot

    assert isinstance(pilot, Pilot)
    await walk_to_release(app, pilot)
    await pilot.press("enter")
    for _ in range(600):  # the screen is the clock
        await pilot.pause(0.05)
        screen = app.screen
        if isinstance(screen, DeployScreen) and log_has(screen, text):
            return screen
    raise AssertionError(f"{text!r} never appeared in the deploy's output")


async def wait_stopped(screen: DeployScreen, pilot: object, seconds: float = 10) -> None:
    from textual.pilot import Pilot

    assert isinstance(pilot, Pilot)
    for _ in range(int(seconds / 0.05)):
        await pilot.pause(0.05)
        if not screen.running:
            await pilot.pause()
            return
    raise AssertionError(f"the deploy still runs {seconds} s later")


async def test_c_twice_cancels_the_deploy_and_r_deploys(sandbox: demo.Sandbox, tmp_path: Path) -> None:
    marker = f"30.{os.getpid() % 1000:03d}7"
    go = tmp_path / "go"  # once it exists, the slow command is quick (the operator "fixed" it)
    add_command(sandbox, "slow step", f"echo started-slow; test -e {go} || sleep {marker}")
    url = sandbox.environments["staging"]
    app = make_app(load_config(sandbox.config_path), state_dir=tmp_path / "state", snapshot_mode=True)
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await deploy_until(app, pilot, "started-slow")
        assert running(f"sleep {marker}")
        assert status(url) == 503
        assert "c" in screen.active_bindings  # offered in the footer while the deploy runs
        await pilot.press("c")
        await pilot.pause()
        assert "Press c again to stop Deploy to staging (its post commands still run)." in notices(app)
        assert screen.running
        await pilot.press("c")
        await wait_stopped(screen, pilot)
        assert isinstance(app.screen, DeployScreen)  # the app stays
        assert not running(f"sleep {marker}")
        assert app.release_run.records["deploy-staging"].status == "cancelled"
        assert screen.step_status["deploy-staging"] == "cancelled"
        assert not (sandbox.root / "staging" / "MAINTENANCE").exists()
        assert status(url) == 200  # the post command switched maintenance mode off
        pane = screen.query_one("#step-status", Static)
        assert "-skipped" in pane.classes and "-failed" not in pane.classes  # said, not in red
        assert "cancelled" in str(pane.render())
        label = str(screen.query_one("#progress-label").render())
        assert label.startswith("Cancelled at"), label
        assert screen.query_one(ProgressBar).total is not None  # not animating
        assert "c" not in screen.active_bindings and "r" in screen.active_bindings
        journal = app.release_run.journal_path.read_text()
        assert '"cancelled"' in journal
        go.touch()
        await pilot.press("r")
        await wait_stopped(screen, pilot, 60)
        await settle(app, pilot)
        assert app.release_run.records["deploy-staging"].status == "ok"
        assert str(screen.query_one("#progress-label").render()) == "Deployed"


async def test_one_press_does_not_cancel_and_ctrl_c_is_the_same_key(sandbox: demo.Sandbox, tmp_path: Path) -> None:
    marker = f"30.{os.getpid() % 1000:03d}3"
    add_command(sandbox, "slow step", f"echo started-slow; sleep {marker}")
    app = make_app(load_config(sandbox.config_path), state_dir=tmp_path / "state", snapshot_mode=True)
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await deploy_until(app, pilot, "started-slow")
        said: list[str] = []
        notify = app.notify

        def spy(message: str, **options: Any) -> None:
            said.append(message)
            notify(message, **options)

        app.notify = spy  # type: ignore[method-assign]
        await pilot.press("c")
        await pilot.pause(1.0)
        assert screen.running and running(f"sleep {marker}")
        # The second press must come within the time allowed; a late one only asks again.
        screen.CANCEL_CONFIRM_SECONDS = 0.2
        await pilot.pause(0.4)
        await pilot.press("ctrl+c")
        await pilot.pause(1.0)
        assert screen.running and running(f"sleep {marker}")
        assert said.count("Press c again to stop Deploy to staging (its post commands still run).") == 2, said
        screen.CANCEL_CONFIRM_SECONDS = 5.0
        await pilot.press("ctrl+c")  # within the time: cancels, as c does
        await wait_stopped(screen, pilot)
        assert not running(f"sleep {marker}")
        assert app.release_run.records["deploy-staging"].status == "cancelled"


async def test_m_while_the_deploy_runs_keeps_maintenance_on_after_a_failure(
    sandbox: demo.Sandbox, tmp_path: Path
) -> None:
    add_command(sandbox, "failing step", "echo started-failing; sleep 2; exit 3")
    url = sandbox.environments["staging"]
    app = make_app(load_config(sandbox.config_path), state_dir=tmp_path / "state", snapshot_mode=True)
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await deploy_until(app, pilot, "started-failing")
        assert screen.active_bindings["m"].binding.description == "Keep maintenance on failure: off"
        await pilot.press("m")
        await pilot.pause()
        assert screen.running  # chosen while the command still runs
        assert screen.active_bindings["m"].binding.description == "Keep maintenance on failure: on"
        await wait_stopped(screen, pilot)
        assert app.release_run.records["deploy-staging"].status == "failed"
        assert (sandbox.root / "staging" / "MAINTENANCE").exists()
        assert status(url) == 503  # left in maintenance mode, as chosen
        journal = app.release_run.journal_path.read_text()
        assert '"kind": "maintenance_choice"' in journal and '"keep_on_failure": true' in journal
        assert "maintenance_kept" in journal
        assert str(screen.query_one("#progress-label").render()).startswith("Failed at")


async def test_quit_dialog_says_the_step_keeps_running(sandbox: demo.Sandbox, tmp_path: Path) -> None:
    marker = f"30.{os.getpid() % 1000:03d}5"
    add_command(sandbox, "slow step", f"echo started-slow; sleep {marker}")
    app = make_app(load_config(sandbox.config_path), state_dir=tmp_path / "state", snapshot_mode=True)
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await deploy_until(app, pilot, "started-slow")
        await pilot.press("q")
        await pilot.pause()
        dialog = app.screen
        assert isinstance(dialog, QuitModal)
        text = str(dialog.query_one("#quit-text", Static).render())
        assert "keeps running while you decide" in text
        assert "No further step starts while this dialog is open" not in text
        await pilot.press("escape")
        await pilot.pause()
        await pilot.press("c", "c")
        await wait_stopped(screen, pilot)
        assert not running(f"sleep {marker}")


async def test_a_declined_production_confirmation_leaves_the_bar_still(
    tiny_app: IactApp, monkeypatch: pytest.MonkeyPatch
) -> None:
    run = tiny_app.release_run
    run.state.version = "0.2.0"
    monkeypatch.setattr(run, "needs_confirmation", lambda step_id: step_id == "deploy-production")
    async with tiny_app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        tiny_app.push_screen(DeployScreen(env="production"))
        await pilot.pause()
        await pilot.press("escape")  # Cancel on the confirmation
        await pilot.pause()
        screen = tiny_app.screen
        assert isinstance(screen, DeployScreen)
        assert screen.query_one(ProgressBar).total is not None  # an indeterminate bar animates
        assert str(screen.query_one("#progress-label").render()) == "Not started: not confirmed"


async def test_c_while_the_post_commands_run_stops_at_once(sandbox: demo.Sandbox, tmp_path: Path) -> None:
    slow, post = f"30.{os.getpid() % 1000:03d}1", f"30.{os.getpid() % 1000:03d}9"
    add_command(sandbox, "slow step", f"echo started-slow; sleep {slow}")
    path = sandbox.config_path
    off = '{ name = "maintenance mode off", run = "rm -f MAINTENANCE" }'
    text = path.read_text()
    assert off in text
    path.write_text(
        text.replace(
            off, f'{{ name = "maintenance mode off", run = "echo started-post; sleep {post}; rm -f MAINTENANCE" }}'
        )
    )
    for args in (["commit", "-qam", "chore: a slow post command"], ["push", "-q", "origin", "main"]):
        subprocess.run(["git", *args], cwd=sandbox.repo, check=True)
    app = make_app(load_config(path), state_dir=tmp_path / "state", snapshot_mode=True)
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await deploy_until(app, pilot, "started-slow")
        await pilot.press("c", "c")
        for _ in range(200):
            await pilot.pause(0.05)
            if log_has(screen, "started-post"):
                break
        else:
            raise AssertionError("the post command never started")
        assert screen.running and running(f"sleep {post}") and not running(f"sleep {slow}")
        await pilot.press("c")  # once: it is already cancelling
        await wait_stopped(screen, pilot)
        assert not running(f"sleep {post}")
        assert app.release_run.records["deploy-staging"].status == "cancelled"
        assert (sandbox.root / "staging" / "MAINTENANCE").exists()  # the skipped post command, said loudly
        assert log_has(screen, "may still be in maintenance mode")


async def test_a_resumed_run_stopped_mid_deploy_leaves_the_bar_still(tiny_config_path: Path, tmp_path: Path) -> None:
    from test_resume_offer import _journal_interrupted

    await _journal_interrupted(tiny_config_path, tmp_path / "state", "deploy-production")
    app = make_app(load_config(tiny_config_path), state_dir=tmp_path / "state", snapshot_mode=True)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(app, pilot)
        await pilot.press("enter")  # resume
        await settle(app, pilot)
        screen = app.screen
        assert isinstance(screen, DeployScreen) and not screen.running
        assert screen.query_one(ProgressBar).total is not None  # an indeterminate bar animates
        label = str(screen.query_one("#progress-label").render())
        assert label == "Interrupted (resumed run): press r to deploy", label


async def test_a_resumed_run_stopped_mid_deploy_shows_its_commands_as_they_stood(
    tiny_config_path: Path, tmp_path: Path
) -> None:
    """Found by an operator trial: after a resume the commands table stayed empty until r."""
    from test_resume_offer import _journal_interrupted

    from iact_tui.engine.events import CommandUpdate
    from iact_tui.engine.journal import Journal
    from iact_tui.widgets import DeployTable

    state = tmp_path / "state"
    await _journal_interrupted(tiny_config_path, state, "deploy-production")
    journal_path = next(state.rglob("journal.jsonl"))
    journal = Journal(journal_path)
    for index, (name, state_of) in enumerate([("lock", "ok"), ("record", "ok"), ("run migrations", "running")]):
        journal.event(CommandUpdate("deploy-production", "production", index, name, "steps", state_of, 0.5))
    journal.close()
    app = make_app(load_config(tiny_config_path), state_dir=state, snapshot_mode=True)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(app, pilot)
        await pilot.press("enter")  # resume
        await settle(app, pilot)
        screen = app.screen
        assert isinstance(screen, DeployScreen)
        table = screen.query_one(DeployTable)
        assert table.status_of("production", 0) == "ok"
        assert table.status_of("production", 2) == "running", table.rows_in_order()
