"""The plan view from Welcome (``p``): the release's steps and actions, the read-only
probes against the demo sandbox's loopback servers as they come, cancelling them."""

from __future__ import annotations

import asyncio
import subprocess
from pathlib import Path

from textual.pilot import Pilot
from ui_helpers import settle

from iact_tui import demo
from iact_tui.app import IactApp, make_app
from iact_tui.config import load_config
from iact_tui.screens import WelcomeScreen
from iact_tui.screens.plan import PlanScreen


def _text(screen: PlanScreen, selector: str) -> str:
    return str(screen.query_one(selector).render())


async def _open_plan(app: IactApp, pilot: Pilot[None]) -> PlanScreen:
    """Press p on Welcome and wait until the plan view is done."""
    await settle(app, pilot)
    await pilot.press("p")
    await settle(app, pilot)
    screen = app.screen
    assert isinstance(screen, PlanScreen) and screen.state == "done", screen.state
    return screen


async def test_p_on_welcome_lists_every_step_then_the_probes(sandbox: demo.Sandbox, tmp_path: Path) -> None:
    refs = subprocess.run(["git", "show-ref"], cwd=sandbox.origin, capture_output=True, text=True).stdout
    app = make_app(load_config(sandbox.config_path), state_dir=tmp_path / "state", snapshot_mode=True)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(app, pilot)
        assert isinstance(app.screen, WelcomeScreen)
        await pilot.press("p")
        await settle(app, pilot)
        screen = app.screen
        assert isinstance(screen, PlanScreen) and screen.state == "done", screen.state
        steps = _text(screen, "#plan-steps")
        for step, _ in app.release_run.plan():
            assert step.title in steps
        assert "manage.py migrate --noinput" in steps and "@production" in steps
        assert {(r.kind, r.env, r.status) for r in screen.results} == {
            ("health", "staging", "ok"),
            ("health", "production", "ok"),
            ("migrate", "production", "ok"),
        }
        probes = _text(screen, "#plan-probes")
        assert "(read-only, 3 of 3)" in probes and "200, version 1.3.2" in probes
        changes = _text(screen, "#plan-changes")
        assert "staging: 1.3.2 → 1.4.0" in changes and "core.0003_project_archived" in changes
        assert "v1.4.0 (minor, from v1.3.2): every probe answered" in _text(screen, "#plan-status")
        checks = _text(screen, "#plan-checks")
        assert "Repository checks" in checks and "✘" not in checks
        assert "Changelog has content" in checks
        await pilot.press("escape")
        await settle(app, pilot)
        assert isinstance(app.screen, WelcomeScreen)
        assert not app.release_run.state.version  # the wizard's own run is untouched
    after = subprocess.run(["git", "show-ref"], cwd=sandbox.origin, capture_output=True, text=True).stdout
    assert after == refs


async def test_the_repository_checks_show_what_would_stop_the_release(
    quiet_sandbox: demo.Sandbox, tmp_path: Path
) -> None:
    """The same checks as ``iact-tui plan release`` (found by an operator trial: the plan
    view said "every probe answered" while the CLI's plan failed on the changelog)."""
    tracked = next(p for p in sorted(quiet_sandbox.repo.iterdir()) if p.suffix == ".md")
    tracked.write_text(tracked.read_text() + "\nan edit not committed\n")
    app = make_app(load_config(quiet_sandbox.config_path), state_dir=tmp_path / "state", snapshot_mode=True)
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await _open_plan(app, pilot)
        checks = _text(screen, "#plan-checks")
        assert "✘ Working tree is clean" in checks, checks
        assert tracked.name in checks and "→ commit or stash" in checks, checks
        assert len(screen.problems) == 1, screen.problems
        assert "✘ 1 problem(s) would stop this release" in _text(screen, "#plan-status")


async def test_c_cancels_probes_that_do_not_answer(quiet_sandbox: demo.Sandbox, tmp_path: Path) -> None:
    async def hang(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await asyncio.sleep(3600)

    server = await asyncio.start_server(hang, "127.0.0.1", 0)
    silent = f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}/api/health"
    path = quiet_sandbox.config_path
    text = path.read_text()
    for line in [ln for ln in text.splitlines() if ln.startswith("health_url")]:
        text = text.replace(line, f'health_url = "{silent}"')
    path.write_text(
        text.replace("[timeouts]", "[timeouts]\nhttp = 60")
        if "[timeouts]" in text
        else text + "\n[timeouts]\nhttp = 60\n"
    )
    app = make_app(load_config(path), state_dir=tmp_path / "state", snapshot_mode=True)
    try:
        async with app.run_test(size=(120, 40)) as pilot:
            await settle(app, pilot)
            await pilot.press("p")
            await pilot.pause()
            screen = app.screen
            assert isinstance(screen, PlanScreen)
            for _ in range(400):  # until the migrate probe (no server needed) has answered
                if screen.results:
                    break
                await pilot.pause(0.05)
            assert screen.state == "probing" and [r.kind for r in screen.results] == ["migrate"], screen.results
            await pilot.press("c")
            await settle(app, pilot)
            assert screen.state == "cancelled"
            assert "Probes cancelled" in _text(screen, "#plan-status")
            assert "(read-only, 1 of 3)" in _text(screen, "#plan-probes")
            await pilot.press("escape")
            await settle(app, pilot)
            assert isinstance(app.screen, WelcomeScreen)
    finally:
        server.close()


async def test_the_header_counts_probes_that_warned_and_no_word_is_doubled(
    quiet_sandbox: demo.Sandbox, tmp_path: Path
) -> None:
    # No server runs: both health probes warn ("cannot connect"); the migrate probe answers.
    app = make_app(load_config(quiet_sandbox.config_path), state_dir=tmp_path / "state", snapshot_mode=True)
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await _open_plan(app, pilot)
        assert sorted(r.status for r in screen.results) == ["ok", "warning", "warning"], screen.results
        status = _text(screen, "#plan-status")
        assert "every probe answered" not in status
        assert "1 of 3 probes answered, 2 warned (they do not stop a release)" in status, status
        steps = _text(screen, "#plan-steps")
        assert "Create release branch [branch]" in steps and "branch branch" not in steps, steps
        probes = _text(screen, "#plan-probes")
        assert "migrate production:" in probes and "production production" not in probes, probes
