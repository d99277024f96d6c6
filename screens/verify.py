"""Stage 9: verify production: health, response time and error rate."""

from __future__ import annotations

from collections.abc import Iterable

from textual.widget import Widget

from iact_tui.engine.events import CheckUpdate
from iact_tui.screens.base import StepScreen
from iact_tui.screens.smoke import figures
from iact_tui.widgets import CheckTable


class VerifyScreen(StepScreen):
    """Runs ``verify`` and shows each check with its figures (median, max, error rate)."""

    STAGE = "verify"
    TITLE_TEXT = "Verify production"
    ALLOW_BACK = False

    def compose_step(self) -> Iterable[Widget]:
        yield CheckTable(id="verify-checks", title="Verification")

    def check_detail(self, event: CheckUpdate) -> str:
        extra = figures(event.data)
        return f"{event.detail}  ({extra})" if extra and event.detail else extra or event.detail
