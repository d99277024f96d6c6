"""Quitting while a deploy runs: the command stops, the post commands still run, then the app exits."""

from __future__ import annotations

import subprocess
import urllib.error
import urllib.request
from pathlib import Path

from ui_helpers import walk_to_release

from iact_tui import demo
from iact_tui.app import make_app
from iact_tui.config import load_config
from iact_tui.screens import DeployScreen
from iact_tui.widgets import CommandLog, QuitModal


def status(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return exc.code


async def test_quit_during_a_deploy_leaves_maintenance_off(sandbox: demo.Sandbox, tmp_path: Path) -> None:
    path = sandbox.config_path
    path.write_text(
        path.read_text().replace(
            '{ name = "fetch tags", run = "git fetch --tags --force {remote}" },',
            '{ name = "slow step", run = "echo started-slow; sleep 30" },\n    { name = "fetch tags", run = "git fetch --tags --force {remote}" },',
            1,
        )
    )
    for args in (["commit", "-qam", "chore: a slow staging step"], ["push", "-q", "origin", "main"]):
        subprocess.run(["git", *args], cwd=sandbox.repo, check=True)
    url = sandbox.environments["staging"]
    app = make_app(load_config(path), state_dir=tmp_path / "state", snapshot_mode=True)
    async with app.run_test(size=(120, 40)) as pilot:
        await walk_to_release(app, pilot)
        await pilot.press("enter")
        for _ in range(600):  # until the slow command runs (the screen is the clock)
            await pilot.pause(0.05)
            screen = app.screen
            if isinstance(screen, DeployScreen) and _log_has(screen.query_one(CommandLog), "started-slow"):
                break
        else:
            raise AssertionError("the slow step never started")
        assert status(url) == 503
        await pilot.press("q")
        await pilot.pause()
        assert isinstance(app.screen, QuitModal)
        await pilot.press("y")
        for _ in range(600):
            await pilot.pause(0.05)
            if not app.is_running:
                break
    assert not app.is_running
    assert status(url) == 200  # the post command switched maintenance mode off
    assert app.release_run.records["deploy-staging"].status == "cancelled"
    journal = app.release_run.journal_path.read_text().splitlines()
    assert '"kind": "run_finished"' in journal[-1]


def _log_has(log: CommandLog, text: str) -> bool:
    log.flush()
    return any(text in line for line in log.log_widget.lines)
