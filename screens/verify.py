"""Stage 10: verify production after its deploy, by the wizard and by hand.

``verify`` checks health, runs production's smoke checks again, times requests (p50,
p95, slowest, error rate against ``[verify]``) and scans each host's logs for lines
written since the deploy. The screen shows every check with its figures, the timed
requests as a live chart, and the matching log lines by host. Two items are done by
hand (``ReleaseRun.verify_manual_checks``), each ticked with an optional note; the
operator goes on to the announcement only when the step passed and both are ticked.
``r`` re-runs a failed verification; the ticks and notes are kept.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from textual.widget import Widget
from textual.widgets import Button

from iact_tui.engine.events import CheckUpdate, StepFinished, StepStarted
from iact_tui.engine.run_lock import RunLockLost
from iact_tui.screens.base import StepScreen, with_figures
from iact_tui.screens.lock_lost import say_not_recorded
from iact_tui.widgets import LogMatchesPanel, TimingPanel, VerifyTicks, WrappedCheckTable

#: The environment verified (the step's own).
ENV = "production"


def _num(data: Mapping[str, Any], key: str) -> float | None:
    value = data.get(key)
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def verify_figures(check_id: str, data: Mapping[str, Any], expected: int = 0, *, running: bool = False) -> str:
    """Short text for a verification check's figures, or ``""`` (never a raw dict).

    Args:
        check_id: ``health``, ``smoke:…``, ``response-time``, ``error-rate``, ``logs:<host>``.
        data: The check's data.
        expected: Requests the timing will make.
        running: The check is running: the response time also counts the requests made
            and the failures so far (the error rate's own row says them at the end).
    """
    if isinstance(data.get("error"), str):
        return ""
    if check_id.startswith("logs:"):
        total, limit = data.get("total_matches"), data.get("max_matches")
        if not isinstance(total, int):
            return ""
        text = f"{total} matching line{'s' if total != 1 else ''}"
        return f"{text} (limit {limit})" if isinstance(limit, int) else text
    requests, errors, rate = data.get("requests"), data.get("errors"), _num(data, "error_rate")
    if check_id == "error-rate":
        if isinstance(requests, int) and isinstance(errors, int) and rate is not None:
            return f"{errors} of {requests} failed ({rate:.0%})"
        return ""
    if check_id == "response-time":
        parts: list[str] = []
        if running and isinstance(requests, int):
            parts.append(f"{requests} of {expected} requests" if expected else f"{requests} requests")
        for key, name in (("p50_ms", "p50"), ("p95_ms", "p95"), ("max_ms", "max")):
            value = _num(data, key)
            if value is not None:
                parts.append(f"{name} {value:.0f} ms")
        if running and isinstance(errors, int) and errors:
            parts.append(f"{errors} failed")
        return " · ".join(parts)
    parts = []
    status = data.get("status_code", data.get("status"))
    if isinstance(status, int) and not isinstance(status, bool):
        parts.append(f"HTTP {status}")
    version = data.get("version")
    if isinstance(version, str) and version:
        parts.append(f"version {version}")
    elapsed = _num(data, "elapsed_ms")
    if elapsed is not None:
        parts.append(f"{elapsed:.0f} ms")
    attempts = data.get("attempts")
    if isinstance(attempts, int) and attempts > 1:
        parts.append(f"{attempts} attempts")
    exit_status = data.get("exit_status")
    if isinstance(exit_status, int):
        parts.append(f"exit {exit_status}")
    return " · ".join(parts)


class VerifyScreen(StepScreen):
    """Runs ``verify``: checks with their figures, the response-time chart, log matches
    by host, and the two items verified by hand (ticks with notes) that gate Continue."""

    STAGE = "verify"
    TITLE_TEXT = "Verify production"
    ALLOW_BACK = False

    # -- layout ------------------------------------------------------------------------

    @property
    def configured(self) -> bool:
        """Whether there is a production environment to verify (otherwise the step skips)."""
        return ENV in self.run.config.environments

    def compose_step(self) -> Iterable[Widget]:
        yield WrappedCheckTable(id="verify-checks", title="Verification")
        yield TimingPanel(id="verify-timing", mask=self.iact.mask)
        # The items done by hand before the log matches (as long as the hosts make them):
        # on a 40-line terminal the screen opens at its top with the ticks in view.
        yield VerifyTicks(
            self.run.verify_manual_checks(), self.run.state.verify_ticks, id="verify-manual", classes="panel"
        )
        yield LogMatchesPanel(id="verify-logs", mask=self.iact.mask)

    def on_mount(self) -> None:
        manual = self.manual
        v = self.run.config.verify
        self.timing.expect(
            v.requests,
            {"max_p95_ms": v.max_p95_ms, "max_error_rate": v.max_error_rate, "max_response_ms": v.max_response_ms},
        )
        self.logs.display = False  # shown once a host reports its scan
        # Without production the step skips at once: the output pane says why.
        self.checks.display = self.timing.display = manual.display = self.configured
        super().on_mount()
        record = self.run.records.get("verify")
        if record is not None and record.status == "ok":
            self.replay_checks("verify")
            self._show_result(dict(record.data))
            self.call_after_refresh(self._focus_next_tick)

    @property
    def timing(self) -> TimingPanel:
        """The response-time panel."""
        return self.query_one(TimingPanel)

    @property
    def checks(self) -> WrappedCheckTable:
        """The table of checks."""
        return self.query_one(WrappedCheckTable)

    @property
    def manual(self) -> VerifyTicks:
        """The items done by hand."""
        return self.query_one(VerifyTicks)

    @property
    def logs(self) -> LogMatchesPanel:
        """The log matches panel."""
        return self.query_one(LogMatchesPanel)

    # -- events ------------------------------------------------------------------------

    def on_step_started(self, event: StepStarted) -> None:
        super().on_step_started(event)
        # A retry starts a new series and a new scan (the check rows update in place).
        self.timing.reset()
        self.logs.reset()

    def on_check(self, event: CheckUpdate) -> None:
        if event.check_id == "response-time":
            self.timing.show(event.data, event.status)
        elif event.check_id.startswith("logs:"):
            self.logs.display = True
            host = event.data.get("host")
            name = host if isinstance(host, str) else event.check_id.removeprefix("logs:")
            self.logs.show_host(name, event.status, event.data)
        super().on_check(event)  # the table's row; a failure's whole reason also goes to the output pane

    def check_detail(self, event: CheckUpdate) -> str:
        """The check's detail with its figures: for the timing and log checks, the figures
        alone unless they failed (their panels below show the rest); for the others, the
        engine's detail followed by whatever figures it does not already say."""
        expected = self.run.config.verify.requests
        extra = verify_figures(event.check_id, event.data, expected, running=event.status == "running")
        if event.check_id in ("response-time", "error-rate") or event.check_id.startswith("logs:"):
            if event.status == "failed":
                return event.detail or extra
            return extra or event.detail
        return with_figures(event.detail, extra.split(" · "))

    def on_step_finished(self, event: StepFinished) -> None:
        super().on_step_finished(event)
        if event.status == "ok":
            self._show_result(dict(event.data))
            self.call_after_refresh(self._focus_next_tick)

    def _show_result(self, data: dict[str, Any]) -> None:
        """Fill the panels from a passed step's result when no live update did (the screen
        was opened again after the step ran)."""
        timing = data.get("timing")
        if isinstance(timing, Mapping) and not self.timing.data:
            merged = {**timing}
            if isinstance(data.get("thresholds"), Mapping):
                merged.setdefault("thresholds", data["thresholds"])
            self.timing.show(merged, "passed")
        logs = data.get("logs")
        if isinstance(logs, Mapping) and not self.logs.hosts:
            for host, figures in logs.items():
                if isinstance(figures, Mapping):
                    self.logs.show_host(str(host), "passed", figures)
            self.logs.display = bool(self.logs.hosts)

    def _focus_next_tick(self) -> None:
        """Once verification passed: focus the first item not ticked yet, else Continue."""
        if not self.manual.focus_next_tick() and self.is_ready():
            self.query_one("#continue", Button).focus()

    @property
    def focus_chain(self) -> list[Widget]:
        """Tab goes tick, note, tick, note, then Continue (the output pane after it):
        the operator's way through the items done by hand ends on the way on."""
        chain = super().focus_chain
        manual = self.manual
        button = self.query_one("#continue", Button)
        if button not in chain:
            return chain
        chain.remove(button)
        last = max((i for i, widget in enumerate(chain) if manual in widget.ancestors), default=None)
        chain.insert(len(chain) if last is None else last + 1, button)
        return chain

    # -- ticks and notes ---------------------------------------------------------------

    def note(self, check_id: str) -> str:
        """The note typed for ``check_id`` (stripped)."""
        return self.manual.note(check_id)

    def on_verify_ticks_changed(self, event: VerifyTicks.Changed) -> None:
        """Record a tick, an untick or a ticked item's new note (journaled)."""
        try:
            self.run.tick_verify(event.check_id, event.ticked, event.note)
        except RunLockLost as exc:
            say_not_recorded(self, exc)
        self.refresh_state()

    def on_verify_ticks_note_submitted(self, event: VerifyTicks.NoteSubmitted) -> None:
        """Enter in a note with every item ticked goes on to Continue."""
        if event.panel.complete() and self.is_ready():
            self.query_one("#continue", Button).focus()

    def go_next(self) -> None:
        self.manual.save_notes()
        super().go_next()

    # -- state -------------------------------------------------------------------------

    def unticked(self) -> list[tuple[str, str]]:
        """The items done by hand that are not ticked yet, as ``(id, label)``."""
        return [(c, label) for c, label in self.run.verify_manual_checks() if c not in self.run.state.verify_ticks]

    def is_ready(self) -> bool:
        """The step passed (or skipped: nothing to verify) and every item done by hand is ticked."""
        return super().is_ready() and self.run.verification_complete()

    def status_text(self) -> tuple[str, str]:
        passed = self.step_status.get("verify") == "ok"
        if passed and self.failure is None and not self.running and self.unticked():
            # Short: the figures are above, the step's whole message is in the output pane.
            return "✔ Verification passed. Now tick what you verified by hand below.", "-ok"
        return super().status_text()

    def blocked_hint(self) -> str:
        if self.failure:
            return "Your ticks and notes are kept for the retry."
        missing = self.unticked()
        if self.step_status.get("verify") == "ok" and missing:
            if len(missing) == 1:
                return f"Tick “{missing[0][1]}” to continue (space)."
            return "Tick both items you verified by hand to continue (space)."
        return super().blocked_hint()

    def describe(self) -> dict[str, Any]:
        return {
            **super().describe(),
            "ticks": dict(self.run.state.verify_ticks),
            "complete": self.run.verification_complete(),
        }
