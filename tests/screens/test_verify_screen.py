"""Verify screen: checks with their figures, the live response-time chart, log matches by
host, and the two items verified by hand (ticks with notes) that gate the announcement.

Scripted tests feed the screen a fixed event stream (the VerifyStep's contract) through
``ReleaseRun.run_step``; the sandbox tests run the real engine against the demo's real
production site, stopped and started again for the failure.
"""

from __future__ import annotations

import asyncio
import json
import math
from collections.abc import AsyncIterator, Callable, Sequence
from pathlib import Path
from typing import Any

import pytest
import tomlkit
from textual.widgets import Button, Input, Static
from ui_helpers import build_tiny_repo, git, settle, tick_verification, walk_to_release

from iact_tui import demo
from iact_tui.app import IactApp, make_app
from iact_tui.config import load_config
from iact_tui.demo import appctl
from iact_tui.engine.events import CheckUpdate, Event, OutputLine, StepFinished, StepStarted
from iact_tui.engine.run import ReleaseRun
from iact_tui.screens import AnnouncementScreen, DeployScreen, PrepScreen, VerifyScreen
from iact_tui.screens.verify import verify_figures
from iact_tui.widgets import ConfirmModal, LogMatchesPanel, TickBox, TimingPanel, WrappedCheckTable
from iact_tui.widgets.timing_panel import chart_columns

URL = "http://127.0.0.1:9/api/health"
LIMITS = {"max_p95_ms": 1000.0, "max_error_rate": 0.0, "max_response_ms": 2000.0}
#: 20 timed requests; the sixth failed.
SAMPLES: list[float | None] = [12.0, 14.0, 11.0, 30.0, 13.0, None, 12.0, 15.0, 48.0, 13.0]
SAMPLES += [12.0, 12.0, 14.0, 11.0, 13.0, 12.0, 16.0, 13.0, 12.0, 12.0]
LOG_LINES = [
    {
        "path": "/srv/iact/logs/app.log",
        "line": 12,
        "text": "ERROR django.request: Internal Server Error",
        "pattern": "ERROR",
    },
    {
        "path": "/srv/iact/logs/app.log",
        "line": 13,
        "text": "Traceback (most recent call last):",
        "pattern": "Traceback",
    },
]
MANUAL = ("verified-by-hand", "metrics-normal")


# -- a scripted VerifyStep ---------------------------------------------------------------


def timing_figures(samples: Sequence[float | None], *, final: bool = False) -> dict[str, Any]:
    """A ``response-time`` check's data for ``samples`` (nearest-rank percentiles, as the engine)."""
    ok = sorted(s for s in samples if s is not None)

    def rank(p: float) -> float | None:
        return ok[max(math.ceil(p / 100 * len(ok)), 1) - 1] if ok else None

    errors = len(samples) - len(ok)
    data: dict[str, Any] = {
        "url": URL,
        "requests": len(samples),
        "errors": errors,
        "error_rate": round(errors / len(samples), 4) if samples else 0.0,
        "p50_ms": rank(50),
        "p95_ms": rank(95),
        "max_ms": ok[-1] if ok else None,
        "samples_ms": list(samples),
        "sparkline": "",
    }
    if final:
        data["thresholds"] = LIMITS
    return data


def verify_events(
    *,
    samples: Sequence[float | None] = SAMPLES,
    max_error_rate: float = 0.1,
    health_ok: bool = True,
    web1: dict[str, Any] | None = None,
    timing_error: str = "",
) -> list[Event]:
    """The VerifyStep's events in contract order: health, smoke again, timing (live), logs per host."""
    sid = "verify"
    events: list[Event] = [
        StepStarted(sid, "Verify production"),
        CheckUpdate(sid, "health", f"GET {URL}", "running"),
        CheckUpdate(
            sid,
            "health",
            f"GET {URL}",
            "passed" if health_ok else "failed",
            "HTTP 200, version 0.2.0" if health_ok else "cannot connect: connection refused",
            {"status": 200, "elapsed_ms": 8.4, "version": "0.2.0"} if health_ok else {"status": None},
        ),
        CheckUpdate(
            sid,
            "smoke:login",
            "POST /api/auth/login as demo",
            "passed",
            "HTTP 200",
            {"status": 200, "elapsed_ms": 95.2},
        ),
        CheckUpdate(sid, "smoke:cmd:Django system check", "Django system check", "passed", "exited 0 in 0.8 s"),
    ]
    limits = {**LIMITS, "max_error_rate": max_error_rate}
    label = f"Response time of {len(samples)} requests"
    events.append(
        CheckUpdate(sid, "response-time", label, "running", f"0 of {len(samples)} requests", {"thresholds": limits})
    )
    events.append(CheckUpdate(sid, "error-rate", "Error rate", "running"))
    failed: list[str] = [] if health_ok else ["health"]
    if timing_error:
        for check_id, name in (("response-time", label), ("error-rate", "Error rate")):
            events.append(
                CheckUpdate(
                    sid,
                    check_id,
                    name,
                    "failed",
                    f"cannot time the requests: {timing_error}",
                    {"error": timing_error, "thresholds": limits},
                )
            )
            failed.append(check_id)
    else:
        for n in range(1, len(samples)):
            data = timing_figures(samples[:n]) | {"thresholds": limits}
            events.append(CheckUpdate(sid, "response-time", label, "running", f"{n} of {len(samples)} requests", data))
        final = timing_figures(samples, final=True) | {"thresholds": limits}
        events.append(
            CheckUpdate(
                sid,
                "response-time",
                label,
                "passed",
                "p50 12 ms, p95 30 ms, max 48 ms over 19 successful request(s) (limit p95 1000 ms, max 2000 ms)",
                final,
            )
        )
        er_ok = final["error_rate"] <= max_error_rate
        if not er_ok:
            failed.append("error-rate")
        er_data = {k: final[k] for k in ("requests", "errors", "error_rate")} | {"thresholds": limits}
        events.append(
            CheckUpdate(
                sid,
                "error-rate",
                "Error rate",
                "passed" if er_ok else "failed",
                f"{final['errors']} of {final['requests']} failed ({final['error_rate']:.0%}; limit {max_error_rate:.0%}): 1× 503",
                er_data,
            )
        )
    events.append(CheckUpdate(sid, "logs:web1", "Logs on web1 since the deploy", "running"))
    events.append(CheckUpdate(sid, "logs:web2", "Logs on web2 since the deploy", "running"))
    web1 = (
        web1
        if web1 is not None
        else {
            "host": "web1",
            "total_matches": 0,
            "max_matches": 2,
            "matches": [],
            "files": [{"path": "/srv/iact/logs/app.log", "status": "scanned"}],
        }
    )
    for m in web1.get("matches", []):
        events.append(OutputLine(sid, f"{m['path']}:+{m['line']}: {m['text']}", "stderr", "web1"))
    web1_ok = "error" not in web1 and web1.get("total_matches", 0) <= web1.get("max_matches", 0)
    if not web1_ok:
        failed.append("logs:web1")
    events.append(
        CheckUpdate(
            sid, "logs:web1", "Logs on web1 since the deploy", "passed" if web1_ok else "failed", "web1: scanned", web1
        )
    )
    web2 = {
        "host": "web2",
        "total_matches": 0,
        "max_matches": 2,
        "matches": [],
        "files": [{"path": "/srv/iact/logs/app.log", "status": "scanned"}],
    }
    events.append(
        CheckUpdate(
            sid, "logs:web2", "Logs on web2 since the deploy", "passed", "web2: 0 matching line(s) (limit 2)", web2
        )
    )
    if failed:
        events.append(
            StepFinished(
                sid,
                "failed",
                f"verification failed on production: {', '.join(failed)}",
                "look at production, then retry the verification",
                {"failed": failed},
            )
        )
    else:
        events.append(StepFinished(sid, "ok", "production healthy on v0.2.0", data={"failed": []}))
    return events


def scripted_verify(
    run: ReleaseRun, *runs: list[Event], gate: asyncio.Event | None = None
) -> Callable[[str], AsyncIterator[Event]]:
    """A ``run_step`` playing one event list per call of ``verify`` (recording the result as
    the run does); other steps run for real. With ``gate``, waits for it after the tenth event."""
    real = run.run_step
    queue = list(runs)

    async def run_step(step_id: str) -> AsyncIterator[Event]:
        if step_id != "verify":
            async for event in real(step_id):
                yield event
            return
        record = run.records["verify"]
        record.status = "running"
        for i, event in enumerate(queue.pop(0)):
            if gate is not None and i == 10:
                await gate.wait()
            if isinstance(event, StepFinished):
                record.status, record.message, record.fix, record.data = (
                    event.status,
                    event.message,
                    event.fix,
                    dict(event.data),
                )
            yield event
            await asyncio.sleep(0)

    return run_step


@pytest.fixture
def production_app(tmp_path: Path) -> IactApp:
    """The tiny repository with a production environment (nothing listens on its port)."""
    path = build_tiny_repo(tmp_path / "tiny")
    with path.open("a", encoding="utf-8") as fh:
        fh.write(
            f'\n[environments.production]\napp_dir = "."\nhealth_url = "{URL}"\n\n[verify]\nrequests = 20\nmax_response_ms = 2000\n'
        )
    git(path.parent, "commit", "-q", "-am", "chore: add production")
    git(path.parent, "push", "-q", "origin", "main")
    return make_app(load_config(path), state_dir=tmp_path / "state", snapshot_mode=True)


async def open_verify(app: IactApp, pilot: Any) -> VerifyScreen:
    await settle(app, pilot)
    app.push_screen(VerifyScreen())
    await settle(app, pilot)
    screen = app.screen
    assert isinstance(screen, VerifyScreen)
    return screen


def rendered(widget: Static | LogMatchesPanel) -> str:
    return str(widget.render())


def still_on(app: IactApp, screen: VerifyScreen) -> bool:
    """Whether ``screen`` is still the one shown (Enter was refused)."""
    return app.screen is screen


def hint(screen: VerifyScreen) -> str:
    return rendered(screen.query_one("#actions-hint", Static))


def focus_of(screen: VerifyScreen) -> object:
    """The focused widget (untyped: mypy would narrow ``screen.focused`` across presses)."""
    return screen.focused


def journal_ticks(run: ReleaseRun) -> list[dict[str, Any]]:
    lines = run.journal_path.read_text(encoding="utf-8").splitlines()
    return [r for r in map(json.loads, lines) if r["kind"] == "verify_tick"]


# -- pure helpers ------------------------------------------------------------------------


def test_chart_columns_line_failures_up_with_their_requests() -> None:
    values, failed = chart_columns([10.0, None, 30.0], width=12, expected=3)
    assert len(values) == len(failed) == 12  # 4 columns a request
    assert failed == [False] * 4 + [True] * 4 + [False] * 4
    assert values[4:8] == [10.0] * 4  # a failure is drawn as the lowest bar; its × says why
    # Fewer samples than expected: the chart grows at the final scale, no redraw at another.
    assert chart_columns([10.0], width=12, expected=3)[0] == [10.0] * 4
    # More requests than columns: each column shows its slowest, and any failure in it.
    values, failed = chart_columns([1.0, 2.0, None, 4.0, 5.0, 6.0], width=3)
    assert values == [2.0, 4.0, 6.0] and failed == [False, True, False]
    assert chart_columns([None, None], width=5) == ([0.0, 0.0, 0.0, 0.0], [True] * 4)
    assert chart_columns([], width=5) == ([], [])


def test_figures_are_text_never_a_dict() -> None:
    assert (
        verify_figures("health", {"status": 200, "elapsed_ms": 8.4, "version": "1.4.0"})
        == "HTTP 200 · version 1.4.0 · 8 ms"
    )
    running = verify_figures("response-time", timing_figures(SAMPLES[:7]), expected=20, running=True)
    assert running == "7 of 20 requests · p50 12 ms · p95 30 ms · max 30 ms · 1 failed"
    final = verify_figures("response-time", timing_figures(SAMPLES), expected=20)
    assert final == "p50 13 ms · p95 48 ms · max 48 ms"  # the error rate's own row counts the failures
    assert verify_figures("error-rate", {"requests": 20, "errors": 0, "error_rate": 0.0}) == "0 of 20 failed (0%)"
    assert verify_figures("logs:web1", {"total_matches": 1, "max_matches": 0}) == "1 matching line (limit 0)"
    assert verify_figures("logs:web1", {"error": "cannot connect"}) == ""
    assert verify_figures("smoke:cmd:check", {"exit_status": 2}) == "exit 2"


# -- scripted streams --------------------------------------------------------------------


async def test_checks_figures_chart_and_log_lines_by_host(
    production_app: IactApp, monkeypatch: pytest.MonkeyPatch
) -> None:
    run = production_app.release_run
    web1 = {
        "host": "web1",
        "total_matches": 3,
        "max_matches": 5,
        "matches": LOG_LINES,
        "files": [
            {"path": "/srv/iact/logs/app.log", "status": "scanned"},
            {"path": "/srv/iact/logs/celery.log", "status": "missing"},
        ],
    }
    monkeypatch.setattr(run, "run_step", scripted_verify(run, verify_events(web1=web1)))
    async with production_app.run_test(size=(100, 30)) as pilot:
        screen = await open_verify(production_app, pilot)
        table = screen.query_one(WrappedCheckTable)
        assert list(table.statuses) == [
            "health",
            "smoke:login",
            "smoke:cmd:Django system check",
            "response-time",
            "error-rate",
            "logs:web1",
            "logs:web2",
        ]
        assert set(table.statuses.values()) == {"passed"}
        assert table.detail_of("health") == "HTTP 200, version 0.2.0 (8 ms)"  # figures not already said
        assert table.detail_of("smoke:login") == "HTTP 200 (95 ms)"
        assert table.detail_of("response-time") == "p50 13 ms · p95 48 ms · max 48 ms"
        assert table.detail_of("error-rate") == "1 of 20 failed (5%)"
        assert table.detail_of("logs:web1") == "3 matching lines (limit 5)"
        assert not any("{" in (table.detail_of(c) or "") for c in table.statuses)

        timing = screen.query_one(TimingPanel)
        assert (
            timing.sparkline.data is not None and len(timing.sparkline.data) == 20 * 2
        )  # 2 columns a request at 100x30
        failures = rendered(timing.query_one(".timing-panel--failures", Static))
        assert failures.index("×") == 10 and "× 1 failed request" in failures  # under the sixth request
        figures = rendered(timing.query_one(".timing-panel--figures", Static))
        assert "p95 48 ms ≤ 1000 ms ✔" in figures and "max 48 ms ≤ 2000 ms ✔" in figures
        assert "errors 5% ≤ 10% ✔ (1 of 20)" in figures
        assert timing.border_title == f"Response time · GET {URL}" and timing.border_subtitle == "20 requests"

        logs = rendered(screen.query_one(LogMatchesPanel)).splitlines()
        assert logs[0].startswith("✔ web1 · 3 matching lines (limit 5) in 1 file read")
        assert logs[1].strip() == "missing: /srv/iact/logs/celery.log"
        assert logs[2].strip() == "/srv/iact/logs/app.log:+12  ERROR django.request: Internal Server Error"
        assert logs[3].strip().startswith("/srv/iact/logs/app.log:+13  Traceback")
        assert logs[4].strip() == "… and 1 more"
        assert logs[5].startswith("✔ web2 · no matching line (limit 2)")
        # The matching lines are in the output pane too, with their host.
        from iact_tui.widgets import CommandLog

        log = screen.query_one(CommandLog)
        log.flush()
        assert (
            "[web1] ! /srv/iact/logs/app.log:+12: ERROR django.request: Internal Server Error" in log.log_widget.lines
        )


async def test_the_chart_follows_the_requests_live(production_app: IactApp, monkeypatch: pytest.MonkeyPatch) -> None:
    run = production_app.release_run
    gate = asyncio.Event()
    monkeypatch.setattr(run, "run_step", scripted_verify(run, verify_events(), gate=gate))
    async with production_app.run_test(size=(130, 40)) as pilot:
        await settle(production_app, pilot)
        production_app.push_screen(VerifyScreen())
        for _ in range(5):
            await pilot.pause()
        screen = production_app.screen
        assert isinstance(screen, VerifyScreen) and screen.running
        timing = screen.query_one(TimingPanel)
        # Ten events in: the timing has started and three requests are shown (3 columns each here).
        assert timing.status == "running" and timing.samples == SAMPLES[:3]
        assert timing.sparkline.data == [12.0] * 3 + [14.0] * 3 + [11.0] * 3
        assert timing.border_subtitle == "3 of 20 requests…"
        assert "3 of 20 requests" in (screen.query_one(WrappedCheckTable).detail_of("response-time") or "")
        gate.set()
        await settle(production_app, pilot)
        assert timing.status == "passed" and len(timing.sparkline.data or []) == 60


async def test_enter_waits_for_both_ticks_then_goes_on_with_the_notes(
    production_app: IactApp, monkeypatch: pytest.MonkeyPatch
) -> None:
    run = production_app.release_run
    monkeypatch.setattr(run, "run_step", scripted_verify(run, verify_events()))
    async with production_app.run_test(size=(100, 30)) as pilot:
        screen = await open_verify(production_app, pilot)
        assert screen.step_status == {"verify": "ok"}
        assert isinstance(screen.focused, TickBox) and screen.focused.id == "verify-tick-verified-by-hand"
        await pilot.press("enter")
        await settle(production_app, pilot)
        assert still_on(production_app, screen)  # refused, and it says why
        assert screen.query_one("#continue", Button).disabled
        assert "Tick both items you verified by hand" in hint(screen)
        assert "Now tick what you verified by hand" in rendered(screen.query_one("#step-status", Static))
        assert screen.check_action("continue", ()) is False  # hidden from the footer

        await tick_verification(production_app, pilot, {"verified-by-hand": "logged in, opened a project"})
        assert run.state.verify_ticks == {"verified-by-hand": "logged in, opened a project", "metrics-normal": ""}
        assert run.verification_complete()
        # Focus stays on the last tick (no jump): Tab goes on to its note, then Continue.
        assert screen.focused is screen.query_one("#verify-tick-metrics-normal", TickBox)

        # Untick one: refused again, naming the one missing.
        screen.query_one("#verify-tick-metrics-normal", TickBox).focus()
        await pilot.press("space")
        await pilot.press("enter")
        await settle(production_app, pilot)
        assert still_on(production_app, screen)
        assert hint(screen) == "Tick “Metrics normal (dashboards, error tracker)” to continue (space)."
        # A note typed after the tick is recorded when the operator moves on (enter in the note).
        screen.query_one("#verify-note-metrics-normal", Input).focus()
        await pilot.press(*"error tracker quiet", "enter")
        assert screen.focused is screen.query_one("#verify-tick-metrics-normal", TickBox)  # its own tick is next
        await pilot.press("space")
        assert run.state.verify_ticks["metrics-normal"] == "error tracker quiet"
        await pilot.press("enter")
        await settle(production_app, pilot)
        assert isinstance(production_app.screen, AnnouncementScreen)
    ticks = journal_ticks(run)
    assert [(t["check"], t["ticked"], t["note"]) for t in ticks] == [
        ("verified-by-hand", True, "logged in, opened a project"),
        ("metrics-normal", True, ""),
        ("metrics-normal", False, ""),
        ("metrics-normal", True, "error tracker quiet"),
    ]


async def test_a_failed_verification_names_the_failed_checks_and_r_keeps_the_ticks(
    production_app: IactApp, monkeypatch: pytest.MonkeyPatch
) -> None:
    run = production_app.release_run
    web1 = {"host": "web1", "total_matches": 3, "max_matches": 0, "matches": LOG_LINES, "files": []}
    first = verify_events(health_ok=False, max_error_rate=0.0, web1=web1)
    second = verify_events(samples=[11.0] * 20)
    monkeypatch.setattr(run, "run_step", scripted_verify(run, first, second))
    async with production_app.run_test(size=(100, 30)) as pilot:
        screen = await open_verify(production_app, pilot)
        table = screen.query_one(WrappedCheckTable)
        assert {c: s for c, s in table.statuses.items() if s == "failed"} == {
            "health": "failed",
            "error-rate": "failed",
            "logs:web1": "failed",
        }
        assert table.border_subtitle == "4 passed · 3 failed"
        status = rendered(screen.query_one("#step-status", Static))
        assert (
            "verification failed on production: health, error-rate, logs:web1" in status
            and "Press r to retry" in status
        )
        assert screen.query_one(TimingPanel).has_class("-failed")  # the error rate is over its limit
        assert "✘ web1 · 3 matching lines (limit 0)" in rendered(screen.query_one(LogMatchesPanel))
        # Ticks may be given while it is failed; they do not open the way.
        await tick_verification(production_app, pilot, {"metrics-normal": "dashboards green"})
        await pilot.press("enter")
        await settle(production_app, pilot)
        assert still_on(production_app, screen) and not screen.is_ready()
        assert "ticks and notes are kept" in hint(screen)

        await pilot.press("r")
        await settle(production_app, pilot)
        assert screen.step_status == {"verify": "ok"}, screen.describe()
        assert set(table.statuses.values()) == {"passed"}
        timing = screen.query_one(TimingPanel)
        assert timing.samples == [11.0] * 20 and not timing.has_class("-failed")
        assert run.state.verify_ticks == {"verified-by-hand": "", "metrics-normal": "dashboards green"}
        assert screen.query_one("#verify-note-metrics-normal", Input).value == "dashboards green"
        assert screen.query_one("#verify-tick-verified-by-hand", TickBox).value
        await pilot.press("enter")
        await settle(production_app, pilot)
        assert isinstance(production_app.screen, AnnouncementScreen)


async def test_timing_and_scan_errors_are_said_plainly(
    production_app: IactApp, monkeypatch: pytest.MonkeyPatch
) -> None:
    run = production_app.release_run
    events = verify_events(
        timing_error="'http://x' is not an http(s) URL", web1={"host": "web1", "error": "cannot connect to web1"}
    )
    monkeypatch.setattr(run, "run_step", scripted_verify(run, events))
    async with production_app.run_test(size=(130, 40)) as pilot:
        screen = await open_verify(production_app, pilot)
        timing = screen.query_one(TimingPanel)
        figures = rendered(timing.query_one(".timing-panel--figures", Static))
        assert figures == "✘ could not time the requests: 'http://x' is not an http(s) URL"
        assert timing.has_class("-failed")
        assert "✘ web1 · could not scan: cannot connect to web1" in rendered(screen.query_one(LogMatchesPanel))
        table = screen.query_one(WrappedCheckTable)
        assert table.detail_of("response-time") == "cannot time the requests: 'http://x' is not an http(s) URL"


async def test_log_lines_are_masked_like_every_other_text(
    production_app: IactApp, monkeypatch: pytest.MonkeyPatch
) -> None:
    run = production_app.release_run
    root = str(run.config.root)
    line = {"path": f"{root}/logs/app.log", "line": 1, "text": f"ERROR reading {root}/settings.py", "pattern": "ERROR"}
    web1 = {"host": "web1", "total_matches": 1, "max_matches": 5, "matches": [line], "files": []}
    monkeypatch.setattr(run, "run_step", scripted_verify(run, verify_events(web1=web1)))
    async with production_app.run_test(size=(130, 40)) as pilot:
        screen = await open_verify(production_app, pilot)
        shown = rendered(screen.query_one(LogMatchesPanel))
        assert root not in shown
        assert "<repo>/logs/app.log:+1  ERROR reading <repo>/settings.py" in shown


async def test_nothing_to_verify_without_production(tiny_app: IactApp) -> None:
    async with tiny_app.run_test(size=(100, 30)) as pilot:
        await walk_to_release(tiny_app, pilot)
        for _ in range(5):  # deploy staging, smoke, prep, deploy production: all skipped
            await pilot.press("enter")
            await settle(tiny_app, pilot)
        screen = tiny_app.screen
        assert isinstance(screen, VerifyScreen) and screen.step_status == {"verify": "skipped"}
        assert not screen.query_one("#verify-manual").display and not screen.query_one(TimingPanel).display
        assert screen.is_ready()  # no ticks asked for what was not verified
        await pilot.press("enter")
        await settle(tiny_app, pilot)
        assert isinstance(tiny_app.screen, AnnouncementScreen)


# -- the demo sandbox, real engine -------------------------------------------------------


def ensure_live_timing(sandbox: demo.Sandbox) -> None:
    """Make the sandbox time enough requests, spaced, for live updates (committed, pushed)."""
    text = sandbox.config_path.read_text(encoding="utf-8")
    doc = tomlkit.parse(text)
    verify = doc["verify"]
    assert isinstance(verify, dict)
    verify["requests"] = 20
    verify["interval_seconds"] = 0.05
    if tomlkit.dumps(doc) != text:
        sandbox.config_path.write_text(tomlkit.dumps(doc), encoding="utf-8")
        git(sandbox.repo, "commit", "-q", "-am", "chore: time 20 requests, 50 ms apart")
        git(sandbox.repo, "push", "-q", "origin", "main")


async def walk_to_production_deploy(app: IactApp, pilot: Any) -> None:
    """… → Release → staging → smoke → prep (acknowledged) → production deployed."""
    await walk_to_release(app, pilot)
    for _ in range(3):
        await pilot.press("enter")
        await settle(app, pilot)
    assert isinstance(app.screen, PrepScreen)
    await pilot.press("a")
    await settle(app, pilot)
    await pilot.press("enter")
    await pilot.pause()
    await pilot.pause()
    assert isinstance(app.screen, ConfirmModal)
    await pilot.press(*app.release_run.state.version, "enter")
    await settle(app, pilot)
    production = app.screen
    assert isinstance(production, DeployScreen) and production.step_status == {"deploy-production": "ok"}, (
        production.describe()
    )


class ChartWatch:
    """Records what the response-time panel showed after each update it received."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.seen: list[tuple[str, int, int]] = []
        real = TimingPanel.show

        def show(panel: TimingPanel, data: Any, status: str = "running") -> None:
            real(panel, data, status)
            self.seen.append((status, len(panel.samples), len(panel.sparkline.data or [])))

        monkeypatch.setattr(TimingPanel, "show", show)

    def running(self) -> list[tuple[int, int]]:
        return [(n, cols) for status, n, cols in self.seen if status == "running" and n]


async def test_verify_on_the_sandbox_live_chart_then_ticks_then_announcement(
    sandbox: demo.Sandbox, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ensure_live_timing(sandbox)
    app = make_app(load_config(sandbox.config_path), state_dir=tmp_path / "state", snapshot_mode=True)
    watch = ChartWatch(monkeypatch)
    async with app.run_test(size=(130, 40)) as pilot:
        await walk_to_production_deploy(app, pilot)
        await pilot.press("enter")
        await settle(app, pilot)
        screen = app.screen
        assert isinstance(screen, VerifyScreen)
        assert screen.step_status == {"verify": "ok"}, screen.describe()

        # The chart grew while the requests were made, not once at the end.
        live = watch.running()
        assert len(live) >= 3, watch.seen
        counts = [n for n, _ in live]
        assert counts == sorted(counts) and counts[0] < counts[-1] <= 20  # the last may land as the 20th finishes
        assert all(cols >= n for n, cols in live)  # every request has its column(s)
        assert watch.seen[-1][0] == "passed" and watch.seen[-1][1] == 20

        table = screen.query_one(WrappedCheckTable)
        ids = list(table.statuses)
        assert ids[0] == "health" and ids.index("response-time") < ids.index("error-rate")
        assert any(i.startswith("smoke:") for i in ids) and any(i.startswith("logs:") for i in ids)
        assert set(table.statuses.values()) == {"passed"}, table.statuses
        figures = rendered(screen.query_one(TimingPanel).query_one(".timing-panel--figures", Static))
        assert "p95" in figures and "≤ 1000 ms ✔" in figures and "errors 0% ≤ 0% ✔ (0 of 20)" in figures

        await pilot.press("enter")  # not ticked yet: refused, with the reason beside Continue
        await settle(app, pilot)
        assert still_on(app, screen) and "Tick both items" in hint(screen)

        notes = {"verified-by-hand": "logged in as demo, opened a project", "metrics-normal": "error tracker quiet"}
        await tick_verification(app, pilot, notes)
        await pilot.press("enter")
        await settle(app, pilot)
        final = app.screen
        assert isinstance(final, AnnouncementScreen)
        assert final.step_status == {"announce": "ok"}, final.describe()
    ticks = journal_ticks(app.release_run)
    assert {(t["check"], t["note"]) for t in ticks if t["ticked"]} == set(notes.items())
    summary = app.release_run.verification_summary()
    assert summary["status"] == "ok" and summary["manual"]["metrics-normal"]["note"] == "error tracker quiet"


async def test_verify_fails_while_production_is_down_and_r_retries_once_it_is_back(
    sandbox: demo.Sandbox, tmp_path: Path
) -> None:
    ensure_live_timing(sandbox)
    app = make_app(load_config(sandbox.config_path), state_dir=tmp_path / "state", snapshot_mode=True)
    server = appctl.Server.from_state(sandbox.run_dir / "production.json")
    async with app.run_test(size=(100, 30)) as pilot:
        await walk_to_production_deploy(app, pilot)
        assert appctl.stop(server, say=lambda _: None) is not None
        await pilot.press("enter")
        await settle(app, pilot)
        screen = app.screen
        assert isinstance(screen, VerifyScreen)
        assert screen.step_status == {"verify": "failed"}, screen.describe()
        table = screen.query_one(WrappedCheckTable)
        assert table.status_of("health") == "failed"
        assert table.status_of("response-time") == table.status_of("error-rate") == "failed"
        status = rendered(screen.query_one("#step-status", Static))
        assert "verification failed on production" in status and "health" in status
        figures = rendered(screen.query_one(TimingPanel).query_one(".timing-panel--figures", Static))
        assert "errors 100% > 0% ✘ (20 of 20)" in figures

        await tick_verification(app, pilot, {"verified-by-hand": "checked after the restart"})
        await pilot.press("enter")
        await settle(app, pilot)
        assert still_on(app, screen)

        await asyncio.to_thread(appctl.start, server, lambda _: None)
        await pilot.press("r")
        await settle(app, pilot)
        assert screen.step_status == {"verify": "ok"}, screen.describe()
        assert set(table.statuses.values()) == {"passed"}, table.statuses
        assert app.release_run.state.verify_ticks == {
            "verified-by-hand": "checked after the restart",
            "metrics-normal": "",
        }
        await pilot.press("enter")
        await settle(app, pilot)
        assert isinstance(app.screen, AnnouncementScreen)
        assert app.screen.step_status == {"announce": "ok"}


async def test_a_screen_opened_after_the_step_passed_shows_its_figures(
    production_app: IactApp, monkeypatch: pytest.MonkeyPatch
) -> None:
    run = production_app.release_run
    record = run.records["verify"]
    record.status, record.message = "ok", "production healthy on v0.2.0"
    web2 = {"host": "web2", "total_matches": 0, "max_matches": 0, "matches": [], "files": []}
    record.data = {"timing": timing_figures(SAMPLES), "thresholds": LIMITS, "logs": {"web2": web2}}
    monkeypatch.setattr(run, "run_step", scripted_verify(run))  # nothing may run
    async with production_app.run_test(size=(100, 30)) as pilot:
        screen = await open_verify(production_app, pilot)
        assert screen.step_status == {"verify": "ok"} and not screen.running
        assert screen.query_one(TimingPanel).samples == SAMPLES
        assert rendered(screen.query_one(LogMatchesPanel)).startswith("✔ web2 · no matching line (limit 0)")
        assert "Tick both items" in hint(screen)
        assert screen.focused is screen.query_one("#verify-tick-verified-by-hand", TickBox)


# -- focus, keys and mouse on the verify screen -----------------------------------------


async def test_tab_order_is_tick_note_tick_note_continue_and_notes_take_every_key(
    production_app: IactApp, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The operator's own sequence: space, tab, a note, tab, space, tab, a note with a q."""
    run = production_app.release_run
    monkeypatch.setattr(run, "run_step", scripted_verify(run, verify_events()))
    async with production_app.run_test(size=(120, 40)) as pilot:
        screen = await open_verify(production_app, pilot)
        tick1 = screen.query_one("#verify-tick-verified-by-hand", TickBox)
        note1 = screen.query_one("#verify-note-verified-by-hand", Input)
        tick2 = screen.query_one("#verify-tick-metrics-normal", TickBox)
        note2 = screen.query_one("#verify-note-metrics-normal", Input)
        assert focus_of(screen) is tick1
        await pilot.press("space")
        assert focus_of(screen) is tick1
        await pilot.press("tab")
        assert focus_of(screen) is note1
        await pilot.press(*"login ok")
        await pilot.press("tab")
        assert focus_of(screen) is tick2
        await pilot.press("space")
        await pilot.pause()
        assert focus_of(screen) is tick2  # no jump on a tick
        await pilot.press("tab")
        assert focus_of(screen) is note2
        await pilot.press(*"quick look at grafana")
        await pilot.pause()
        assert production_app.is_running and production_app.screen is screen
        assert note2.value == "quick look at grafana" and note1.value == "login ok"
        await pilot.press("tab")
        assert focus_of(screen) is screen.query_one("#continue", Button)
        # Each tick once, each note saved when left: never a key of a note read as a tick.
        assert [(t["check"], t["ticked"], t["note"]) for t in journal_ticks(run)] == [
            ("verified-by-hand", True, ""),
            ("verified-by-hand", True, "login ok"),
            ("metrics-normal", True, ""),
            ("metrics-normal", True, "quick look at grafana"),
        ]
        assert run.state.verify_ticks == {"verified-by-hand": "login ok", "metrics-normal": "quick look at grafana"}
        await pilot.press("enter")
        await settle(production_app, pilot)
        assert isinstance(production_app.screen, AnnouncementScreen)


@pytest.mark.parametrize("size", [(120, 40), (80, 24)])
async def test_a_click_on_continue_goes_on(
    production_app: IactApp, monkeypatch: pytest.MonkeyPatch, size: tuple[int, int]
) -> None:
    run = production_app.release_run
    monkeypatch.setattr(run, "run_step", scripted_verify(run, verify_events()))
    async with production_app.run_test(size=size) as pilot:
        screen = await open_verify(production_app, pilot)
        await tick_verification(production_app, pilot, {"metrics-normal": "grafana"})
        screen.query_one("#verify-note-metrics-normal", Input).focus()  # the operator was typing a note
        await pilot.pause()
        assert not screen.query_one("#continue", Button).disabled
        assert await pilot.click("#continue")
        await settle(production_app, pilot)
        assert isinstance(production_app.screen, AnnouncementScreen)
        assert run.state.verify_ticks["metrics-normal"] == "grafana"


async def test_enter_on_a_focused_continue_goes_on(production_app: IactApp, monkeypatch: pytest.MonkeyPatch) -> None:
    run = production_app.release_run
    monkeypatch.setattr(run, "run_step", scripted_verify(run, verify_events()))
    async with production_app.run_test(size=(120, 40)) as pilot:
        await open_verify(production_app, pilot)
        await tick_verification(production_app, pilot)
        await pilot.press("tab", "tab")  # tick 2 → note 2 → Continue
        screen = production_app.screen
        assert isinstance(screen.focused, Button) and screen.focused.id == "continue"
        await pilot.press("enter")
        await settle(production_app, pilot)
        assert isinstance(production_app.screen, AnnouncementScreen)


async def test_a_note_keeps_its_text_when_focused_again(
    production_app: IactApp, monkeypatch: pytest.MonkeyPatch
) -> None:
    run = production_app.release_run
    monkeypatch.setattr(run, "run_step", scripted_verify(run, verify_events()))
    async with production_app.run_test(size=(120, 40)) as pilot:
        screen = await open_verify(production_app, pilot)
        note = screen.query_one("#verify-note-verified-by-hand", Input)
        await pilot.click("#verify-note-verified-by-hand")
        await pilot.press(*"login ok")
        await pilot.press("tab")
        await pilot.press("shift+tab")  # back into the note: its text is not selected
        assert screen.focused is note
        await pilot.press("!")
        assert note.value == "login ok!"


async def test_the_screen_opens_at_the_top_with_the_items_done_by_hand_in_view(
    production_app: IactApp, monkeypatch: pytest.MonkeyPatch
) -> None:
    run = production_app.release_run
    monkeypatch.setattr(run, "run_step", scripted_verify(run, verify_events()))
    async with production_app.run_test(size=(120, 40)) as pilot:
        screen = await open_verify(production_app, pilot)
        main = screen.query_one("#step-main")
        assert main.scroll_y == 0  # the checks' table from its first row
        manual = screen.query_one("#verify-manual").region
        assert main.region.contains_region(manual)
        assert screen.focused is screen.query_one("#verify-tick-verified-by-hand", TickBox)


async def test_the_chart_draws_no_bar_when_every_request_failed(
    production_app: IactApp, monkeypatch: pytest.MonkeyPatch
) -> None:
    run = production_app.release_run
    monkeypatch.setattr(run, "run_step", scripted_verify(run, verify_events(samples=[None] * 20)))
    async with production_app.run_test(size=(120, 40)) as pilot:
        screen = await open_verify(production_app, pilot)
        timing = screen.query_one(TimingPanel)
        assert timing.samples == [None] * 20
        assert not timing.sparkline.display  # a row of ▁ read as fast responses
        assert "no successful response" in rendered(timing.query_one(".timing-panel--scale", Static))
        failures = rendered(timing.query_one(".timing-panel--failures", Static))
        assert failures.startswith("×" * 20) and "20 failed requests" in failures
