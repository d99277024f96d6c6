"""Engine: the run report (``report.md``) of a real release on the demo sandbox.

One whole release runs once for the module (about 12 s): the checklist, the git half,
both deploys, the smoke tests, the production prep (backup and notice skipped with the
demo's reasons), a production deploy refused once for want of the typed version and
then run, the verification and the announcement; ``finish()`` writes the report. Every
test reads that report and compares it with the journal. The canary test runs its own
release with secrets in play and searches the report for them.
"""

from __future__ import annotations

import asyncio
import io
import json
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from support.canary import CanaryDemo

from iact_tui import demo
from iact_tui.config import load_config
from iact_tui.engine import report
from iact_tui.engine.events import StepFinished
from iact_tui.engine.journal import read_journal
from iact_tui.engine.run import ReleaseRun

PLAN_ACK = ["the rollback plan was read out loud"]


@dataclass(frozen=True)
class Released:
    """The finished run's folder, its journal records and its report."""

    run_dir: Path
    steps: list[str]
    records: list[dict[str, Any]]
    text: str
    state: Path

    def finished(self, step_id: str) -> list[dict[str, Any]]:
        return [r for r in self.records if r["kind"] == "step_finished" and r["step_id"] == step_id]


def _records(path: Path) -> list[dict[str, Any]]:
    read: Any = read_journal(path)
    return list(getattr(read, "records", read))


async def _release(box: demo.Sandbox, state: Path) -> ReleaseRun:
    run = ReleaseRun(load_config(box.config_path), state_dir=state)
    await run.load_versions()
    run.choose_bump("minor")
    for check_id, _ in run.manual_checks():
        run.tick(check_id, True)
    for check_id, _ in run.verify_manual_checks():
        run.tick_verify(check_id, True, "dashboards looked normal")
    run.acknowledge_rollback_plan("production", PLAN_ACK)
    results = [e async for e in run.run_until("prep-production") if isinstance(e, StepFinished)]
    assert [r.status for r in results] == ["ok"] * len(results), results
    # Refused once (nobody typed the version): a failed attempt with its fix.
    refused = [e async for e in run.run_step("deploy-production")][-1]
    assert isinstance(refused, StepFinished) and refused.status == "failed", refused
    run.confirm("deploy-production", run.state.version)
    results = [e async for e in run.run_until() if isinstance(e, StepFinished)]
    assert [r.status for r in results] == ["ok"] * len(results), results
    run.finish()
    return run


@pytest.fixture(scope="module")
def released(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Released]:
    """One whole release on a fresh sandbox, finished (the module's tests share it)."""
    root = tmp_path_factory.mktemp("report")
    with pytest.MonkeyPatch.context() as mp:  # the autouse env fixture is per test
        for key, value in {
            "GIT_AUTHOR_NAME": "Test Operator",
            "GIT_AUTHOR_EMAIL": "operator@example.invalid",
            "GIT_COMMITTER_NAME": "Test Operator",
            "GIT_COMMITTER_EMAIL": "operator@example.invalid",
            "XDG_STATE_HOME": str(root / "xdg"),
        }.items():
            mp.setenv(key, value)
        box = demo.build_sandbox(root / "sandbox")
        try:
            run = asyncio.run(_release(box, root / "state"))
        finally:
            demo.stop_sandbox(box.root)
    report_path = run.run_dir / report.REPORT_NAME
    yield Released(
        run.run_dir, [s.id for s in run.steps], _records(run.journal_path), report_path.read_text(), root / "state"
    )


def _table(text: str, heading: str) -> list[list[str]]:
    """The rows of the Markdown table under ``## heading`` (cells stripped)."""
    section = text.split(f"## {heading}\n", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in section.splitlines() if line.startswith("| ")]
    return [[cell.strip() for cell in re.split(r"(?<!\\)\|", row)[1:-1]] for row in rows[1:]]


def test_finish_writes_the_report_next_to_the_journal(released: Released) -> None:
    assert (released.run_dir / "report.md").is_file()
    assert not list(released.run_dir.glob("*.tmp")), "no temp file is left behind"
    assert released.text.startswith("# Release v1.4.0 of repo\n")
    header = dict(row[:2] for row in _table("## Run\n" + released.text.split("\n## ", 1)[0], "Run"))
    started = next(r for r in released.records if r["kind"] == "run_started")
    assert header["Operator"] == started["operator"] and "@" in header["Operator"]
    assert header["Repository"] == started["repo"]
    assert header["Result"] == "finished ok"
    assert header["Started"] == report.both_times(started["ts"])  # the UTC time once when the zone is UTC
    ended = next(r for r in released.records if r["kind"] == "run_finished")
    assert header["Ended"] == report.both_times(ended["ts"])
    assert header["Duration"] == report.format_seconds(ended["ts"] - started["ts"])


def test_every_step_with_its_seconds_and_result(released: Released) -> None:
    rows = _table(released.text, "Steps")
    ok_rows = {row[1]: row for row in rows if row[3] == "ok"}
    assert set(ok_rows) == set(released.steps)
    for step_id in released.steps:
        journaled = released.finished(step_id)[-1]
        row = ok_rows[step_id]
        assert row[4] == report.format_seconds(journaled["data"]["seconds"]), step_id
        assert row[5] == journaled["message"]
    verify = ok_rows["verify"]
    assert "p95" in verify[5] and verify[0] == "Verify production"


def test_a_failed_attempt_keeps_its_fix_and_the_retry_its_number(released: Released) -> None:
    rows = [row for row in _table(released.text, "Steps") if row[1] == "deploy-production"]
    assert [(row[2], row[3]) for row in rows] == [("1", "failed"), ("2", "ok")]
    failed = released.finished("deploy-production")[0]
    assert rows[0][5] == failed["message"] and "type the version" in rows[0][5]
    assert rows[0][6] == failed["fix"] and rows[0][6]


def test_every_deploy_command_with_its_host_exit_status_and_seconds(released: Released) -> None:
    rows = _table(released.text, "Deploy commands")
    journaled = [r for r in released.records if r["kind"] == "command" and r["status"] not in ("pending", "running")]
    assert len(rows) == len(journaled) > 10
    for row, record in zip(rows, journaled, strict=True):
        step, _attempt, host, _n, name, phase, status, exit_status, seconds, _detail = row
        assert (step, host, name, phase, status) == (
            record["step_id"],
            record["host"],
            record["name"],
            record["phase"],
            record["status"],
        )
        assert seconds == f"{record['seconds']:.3f}"
        assert exit_status == ("0" if phase in ("pre", "steps", "post") else "—")
    migrations = [row for row in rows if row[4] == "run migrations"]
    assert [(row[0], row[1], row[2]) for row in migrations] == [
        ("deploy-staging", "1", "staging"),
        ("deploy-production", "2", "production"),
    ]


def test_the_verification_figures(released: Released) -> None:
    checks = {(row[0], row[1]): row for row in _table(released.text, "Checks")}
    timing = [
        r["data"]
        for r in released.records
        if r["kind"] == "check" and r["check_id"] == "response-time" and r["status"] != "running"
    ][-1]
    figures = checks[("verify", "response-time")][5]
    for key in ("p50_ms", "p95_ms", "max_ms", "error_rate"):
        assert f"{key} {timing[key]:g}" in figures, (key, figures)
    assert "samples_ms" not in figures
    logs = checks[("verify", "logs:production")]
    assert logs[3] == "passed" and "total_matches 0" in logs[5]
    assert checks[("smoke-staging", "login")][3] == "passed"
    assert checks[("preflight", "coverage")][4].startswith("line coverage")


def test_tag_branch_backup_skip_and_rollback_plan(released: Released) -> None:
    links = dict(row[:2] for row in _table(released.text, "Links"))
    tag = released.finished("tag")[-1]["data"]
    assert links["Tag"] == f"v1.4.0 on {tag['commit']}"
    assert links["Release branch"] == "release/v1.4.0"
    assert links["Release commit"] == released.finished("commit")[-1]["data"]["commit"]
    prep = released.text.split("## Production prep\n", 1)[1].split("\n## ", 1)[0]
    skipped = next(r for r in released.records if r["kind"] == "prep_skipped" and r["item"] == "backup")
    assert f"- Backup skipped: {skipped['reason']}" in prep
    plan = released.finished("prep-production")[-1]["data"]["rollback_plan"]["lines"]
    section = released.text.split("## Rollback plan\n", 1)[1].split("\n## ", 1)[0]
    assert len(plan) >= 3 and all(f"    {line}" in section for line in plan)
    assert PLAN_ACK[0] in section
    announce = released.finished("announce")[-1]["data"]["path"]
    assert f"- Saved to `{announce}`" in released.text
    assert "Verified by hand metrics-normal: ticked — dashboards looked normal" in released.text


def test_the_report_is_rebuilt_the_same_from_the_journal(released: Released) -> None:
    rebuilt = report.build_report(released.records, released.run_dir.name)
    assert rebuilt == released.text
    assert json.dumps(rebuilt)  # plain text
    listed = report.list_runs(released.state)
    assert [(s.run_id, s.flow, s.version, s.result) for s in listed] == [
        (released.run_dir.name, "release", "1.4.0", "finished ok")
    ]


def test_no_secret_reaches_the_report(canary_demo: CanaryDemo) -> None:
    from iact_tui.headless import run_release

    out = io.StringIO()
    config = load_config(canary_demo.config_path)
    code = asyncio.run(run_release(config, bump="minor", version_text=None, until=None, out=out))
    assert code == 0, out.getvalue()
    reports = list(canary_demo.state.rglob("report.md"))
    assert len(reports) == 1
    text = reports[0].read_text()
    assert "health with a token" in text and "## Deploy commands" in text  # the secrets were in play
    assert "- Stakeholder notice sent to http://127.0.0.1:" in text  # its URL's token is a canary
    assert [n[:6] for n in canary_demo.needles if n in text] == []


def test_a_failed_command_shows_its_exit_status(tmp_path: Path) -> None:
    from iact_tui.engine.events import CommandUpdate, StepStarted
    from iact_tui.engine.journal import Journal

    journal = Journal(tmp_path / "journal.jsonl")
    journal.write("run_started", flow="release", repo=str(tmp_path), operator="ann@box", steps=["deploy-staging"])
    journal.event(StepStarted("deploy-staging", "Deploy to staging"))
    for status, seconds, detail in (("ok", 0.5, ""), ("failed", 1.25, "exited 3: no such table | core_project")):
        journal.event(CommandUpdate("deploy-staging", "web1", 3, "run migrations", "steps", "running"))
        journal.event(CommandUpdate("deploy-staging", "web1", 3, "run migrations", "steps", status, seconds, detail))  # type: ignore[arg-type]
        journal.event(CommandUpdate("deploy-staging", "web1", 4, "restart", "steps", "timed-out", 30.0, "timed out"))
        journal.event(CommandUpdate("deploy-staging", "web1", 5, "collect static files", "steps", "skipped"))
    journal.event(CommandUpdate("deploy-staging", "web1", 6, "maintenance mode off", "post", "pending"))
    journal.event(CommandUpdate("deploy-staging", "web1", 7, "release the deploy lock", "unlock", "pending"))
    journal.event(CommandUpdate("deploy-staging", "web1", 6, "maintenance mode off", "post", "running"))
    journal.close()
    with (tmp_path / "journal.jsonl").open("a") as torn:  # killed mid-write
        torn.write('{"ts": 1795965912.2, "kind": "step_finished", "step_id": "deploy-st')
    text = report.write_report(tmp_path).read_text()
    rows = _table(text, "Deploy commands")
    assert [(row[4], row[6], row[7], row[8]) for row in rows] == [
        ("run migrations", "failed", "3", "1.250"),
        ("restart", "timed-out", "timed out", "30.000"),
        ("collect static files", "skipped", "not run", "0.000"),
        ("maintenance mode off", "interrupted", "—", "0.000"),  # killed while it ran
        ("release the deploy lock", "not started", "—", "0.000"),
    ]
    assert rows[0][9] == "exited 3: no such table \\| core_project"  # the cell's | is escaped
    assert "| Deploy to staging | deploy-staging | 1 | interrupted | — |" in text
    assert "| Result | interrupted at deploy-staging |" in text
    assert "## Journal damage\n\n- the journal's last line was cut mid-write (line 14); it is left out" in text


def test_a_run_quit_resumed_then_killed_has_not_ended_and_its_old_report_is_rebuilt(tmp_path: Path) -> None:
    from iact_tui.engine.events import StepFinished, StepStarted
    from iact_tui.engine.journal import Journal

    steps = ["deploy-staging", "deploy-production"]
    journal = Journal(tmp_path / "journal.jsonl")
    journal.write("run_started", flow="release", repo=str(tmp_path), operator="ann@box", steps=steps)
    journal.event(StepStarted("deploy-staging", "Deploy to staging"))
    journal.event(StepFinished("deploy-staging", "ok", "deployed"))
    journal.write("run_finished", steps={"deploy-staging": "ok", "deploy-production": "pending"})
    journal.close()
    first = report.write_report(tmp_path).read_text()  # the operator quit: report.md of that end
    assert "| Result | stopped after deploy-staging |" in first
    time.sleep(0.02)  # the resumed process writes later (mtime granularity)
    journal = Journal(tmp_path / "journal.jsonl")
    journal.write("run_resumed", operator="ann@box")
    journal.event(StepStarted("deploy-production", "Deploy to production"))
    journal.event(StepFinished("deploy-production", "ok", "deployed"))
    journal.close()  # then killed before run_finished: report.md is the quit one, older
    text = report.read_report(tmp_path)
    assert "| Result | finished ok |" in text
    assert "| Last record |" in text and "(the run's end is not journaled yet)" in text  # not the first session's end
    summary = report.summarize(report.journal_records(tmp_path / "journal.jsonl")[0], "r", tmp_path)
    assert not summary.finished and summary.ended is not None and summary.started is not None
    assert summary.ended > summary.started


def test_a_rollback_that_only_planned_says_nothing_changed() -> None:
    records = [
        {
            "ts": 1.0,
            "kind": "run_started",
            "flow": "rollback",
            "env": "production",
            "repo": "/r",
            "steps": ["rollback-plan", "rollback-production", "verify", "rollback-record"],
        },
        {"ts": 2.0, "kind": "step_started", "step_id": "rollback-plan", "title": "Plan the rollback of production"},
        {"ts": 3.0, "kind": "step_finished", "step_id": "rollback-plan", "status": "ok", "message": "", "data": {}},
        {"ts": 4.0, "kind": "run_finished", "steps": {"rollback-plan": "ok", "rollback-production": "pending"}},
    ]
    summary = report.summarize(records, "r1", Path("/tmp/r1"))
    assert summary.result == "stopped after rollback-plan (nothing changed)"
    records[1:3] = [
        {**records[1], "step_id": "rollback-production", "title": "Roll back production"},
        {**records[2], "step_id": "rollback-production", "status": "ok"},
    ]
    assert report.summarize(records, "r1", Path("/tmp/r1")).result == "stopped after rollback-production"


def test_both_times_names_utc_once_when_the_machine_runs_on_utc(monkeypatch: pytest.MonkeyPatch) -> None:
    ts = 1_795_000_000.0
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    try:
        assert report.both_times(ts) == report.utc_time(ts)
        monkeypatch.setenv("TZ", "Europe/Paris")
        time.tzset()
        assert report.both_times(ts) == f"{report.local_time(ts)} ({report.utc_time(ts)})"
        assert "CET" in report.both_times(ts) or "CEST" in report.both_times(ts)
    finally:
        monkeypatch.undo()
        time.tzset()
