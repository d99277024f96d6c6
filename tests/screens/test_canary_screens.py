"""No secret reaches the wizard's screens: a whole release driven through the TUI on
the canary demo (see ``support/canary.py``), the screen captured at every stage and
while the steps run, every output pane read in full, and the files the run wrote
searched as in ``tests/e2e/test_canary.py``.
"""

from __future__ import annotations

import asyncio
import html
import re

import pytest
from support.canary import CanaryDemo
from support.webhook import WebhookReceiver
from ui_helpers import settle, tick_all, tick_verification

from iact_tui.app import IactApp, make_app
from iact_tui.config import load_config
from iact_tui.screens import AnnouncementScreen, DeployScreen, PrepScreen, SmokeScreen, VerifyScreen
from iact_tui.widgets import CommandLog, ConfirmModal, WrappedCheckTable

pytestmark = pytest.mark.e2e


class Captures:
    """Every screen captured (SVG text of the whole terminal) and every output pane's lines."""

    def __init__(self, app: IactApp) -> None:
        self.app = app
        self.texts: list[tuple[str, str]] = []

    def take(self, label: str) -> None:
        screen = self.app.screen
        svg = self.app.export_screenshot()
        # The SVG splits a row into one <text> per style run: joined, a secret drawn in
        # two styles is whole again.
        joined = "".join(html.unescape(t) for t in re.findall(r"<text[^>]*>(.*?)</text>", svg, re.S))
        self.texts.append((f"{label}: screen", svg + "\n" + joined))
        for log in screen.query(CommandLog):
            self.texts.append((f"{label}: {log.id} ({log.line_count} lines)", "\n".join(log.log_widget.lines)))

    async def while_running(self, label: str) -> None:
        """Capture every 50 ms until the screen's workers are done (the live output)."""
        while any(w.is_running for w in self.app.workers):
            self.take(f"{label} (running)")
            await asyncio.sleep(0.05)
        self.take(label)

    def leaks(self, needles: tuple[str, ...]) -> list[str]:
        return [f"{label}: {n[:6]}…" for label, text in self.texts for n in needles if n in text]


async def test_the_wizard_never_shows_a_secret(canary_demo: CanaryDemo, webhook: WebhookReceiver) -> None:
    app = make_app(load_config(canary_demo.config_path), state_dir=canary_demo.state)
    seen = Captures(app)
    async with app.run_test(size=(130, 40)) as pilot:
        await settle(app, pilot)
        seen.take("welcome")
        await pilot.press("enter")
        await settle(app, pilot)
        seen.take("version")
        await pilot.press("enter")  # the advised bump
        await seen.while_running("checklist")
        await settle(app, pilot)
        await tick_all(app, pilot)
        await pilot.click("#continue")
        await settle(app, pilot)
        seen.take("changelog")
        await pilot.press("ctrl+s")
        await seen.while_running("release")
        await settle(app, pilot)
        version = app.release_run.state.version

        await pilot.press("enter")
        await seen.while_running("deploy staging")
        await settle(app, pilot)
        assert isinstance(app.screen, DeployScreen) and app.screen.step_status == {"deploy-staging": "ok"}

        await pilot.press("enter")
        await seen.while_running("smoke staging")
        await settle(app, pilot)
        smoke = app.screen
        assert isinstance(smoke, SmokeScreen) and smoke.step_status == {"smoke-staging": "ok"}, smoke.describe()
        # The canaries were in play: the smoke password was read and the API token sent.
        assert smoke.query_one(WrappedCheckTable).status_of("login") == "passed"
        assert smoke.query_one(WrappedCheckTable).status_of("http:health with a token") == "passed"

        await pilot.press("enter")
        await settle(app, pilot)
        assert isinstance(app.screen, PrepScreen)
        seen.take("prep")
        await pilot.press("a")
        await seen.while_running("prep")
        await settle(app, pilot)
        assert app.screen.step_status == {"prep-production": "ok"}, app.screen.describe()
        assert len(webhook.received) == 1  # the notice was posted to the canary URL

        await pilot.press("enter")
        await pilot.pause()
        assert isinstance(app.screen, ConfirmModal)
        await pilot.press(*version, "enter")
        await seen.while_running("deploy production")
        await settle(app, pilot)
        assert isinstance(app.screen, DeployScreen) and app.screen.step_status == {"deploy-production": "ok"}

        await pilot.press("enter")
        await seen.while_running("verify")
        await settle(app, pilot)
        assert isinstance(app.screen, VerifyScreen) and app.screen.step_status == {"verify": "ok"}
        await tick_verification(app, pilot)
        seen.take("verify ticked")

        await pilot.press("enter")
        await seen.while_running("announcement")
        await settle(app, pilot)
        assert isinstance(app.screen, AnnouncementScreen)
        seen.take("announcement")
        await pilot.press("q")
        await pilot.pause()

    assert len(seen.texts) > 20
    assert seen.leaks(canary_demo.needles) == []
    assert canary_demo.leaks() == []
