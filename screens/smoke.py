"""Stage 7: smoke tests against the environment just deployed."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from textual.widget import Widget

from iact_tui.engine.events import CheckUpdate
from iact_tui.screens.base import StepScreen, with_figures
from iact_tui.widgets import WrappedCheckTable


def figures(data: dict[str, Any]) -> str:
    """Short text for a check's figures (status code, timings), or ``""``; parts are
    joined by `` · ``."""
    parts: list[str] = []
    if "status_code" in data:
        parts.append(f"HTTP {data['status_code']}")
    for key, name in (
        ("elapsed_ms", ""),
        ("median_ms", "median "),
        ("median", "median "),
        ("max_ms", "max "),
        ("max", "max "),
    ):
        value = data.get(key)
        if isinstance(value, int | float):
            parts.append(f"{name}{value:.0f} ms")
    if isinstance(data.get("error_rate"), int | float):
        parts.append(f"errors {data['error_rate']:.0%}")
    if isinstance(data.get("exit_status"), int):
        parts.append(f"exit {data['exit_status']}")
    return " · ".join(parts)


class SmokeScreen(StepScreen):
    """Runs ``smoke-{env}``: health, login and command checks with their figures."""

    TITLE_TEXT = "Smoke tests"
    ALLOW_BACK = False

    def __init__(self, env: str = "staging") -> None:
        super().__init__()
        self.env = env

    @property
    def stage(self) -> str:
        return f"smoke-{self.env}"

    @property
    def step_ids(self) -> tuple[str, ...]:
        return (f"smoke-{self.env}",)

    def _title_text(self) -> str:
        return super()._title_text().replace("Smoke tests", f"Smoke tests on {self.env}")

    def on_mount(self) -> None:
        super().on_mount()
        for step_id in self.step_ids:  # a resumed run: the checks of a step that passed
            record = self.run.records.get(step_id)
            if record is not None and record.status == "ok":
                self.replay_checks(step_id)

    def compose_step(self) -> Iterable[Widget]:
        # Details wrap: a failed check's reason is read whole, not cut at the column's end.
        yield WrappedCheckTable(id="smoke-checks", title="Smoke checks")

    def check_detail(self, event: CheckUpdate) -> str:
        # Each figure once: the engine's detail often says it already ("200 OK in 104 ms").
        return with_figures(event.detail, figures(event.data).split(" · "))
