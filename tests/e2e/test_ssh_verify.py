"""Post-deploy verification over a real OpenSSH sshd: the log scan since the deploy began.

Production is the sample Django site deployed over SSH (see ``support/sshsite.py``); its
``[logs] paths`` name a file on the "host" (the SSH test user's files). Lines written
before the deploy are not reported; lines appended after it are, with host, file and
line; raising ``max_matches`` lets the verification pass. The marks are journaled.

The maintenance window: the access-log lines answered 503 while the deploy's ``pre``
commands had the site in maintenance are not counted (the deploy marks the logs again
once its ``post`` commands succeeded); an ERROR written inside the window and a 503
written after it are.
"""

from __future__ import annotations

import json
import shlex
from pathlib import Path

import pytest
from support.sshsite import SshSite, as_test_user
from test_ssh_deploy import cleared

from iact_tui.engine.events import CheckUpdate, Event, OutputLine, StepFinished
from iact_tui.engine.run import ReleaseRun

pytestmark = pytest.mark.e2e

HOST = "127.0.0.1"


def append(path: Path, *lines: str) -> None:
    """Append lines to the host's log as the SSH test user (as the app would)."""
    as_test_user("sh", "-c", 'printf "%s\\n" "$@" >> "$0"', str(path), *lines)


async def verify(run: ReleaseRun) -> tuple[list[Event], StepFinished, CheckUpdate]:
    events = [e async for e in run.run_step("verify")]
    last = events[-1]
    assert isinstance(last, StepFinished)
    [logs] = [
        e for e in events if isinstance(e, CheckUpdate) and e.check_id == f"logs:{HOST}" and e.status != "running"
    ]
    return events, last, logs


async def test_the_log_scan_reports_only_lines_written_since_the_deploy(ssh_site: SshSite, tmp_path: Path) -> None:
    site = ssh_site
    log = site.app_dir.parent / f"{site.app_dir.name}.app.log"  # removed with the site
    append(log, "2026-01-01 10:00:00 INFO started", "2026-01-01 10:00:01 ERROR an old failure, before the deploy")
    size_before = log.stat().st_size
    config = site.write_config(
        env="production",
        extra=f'logs = {{ paths = [{json.dumps(str(log))}], max_matches = 0 }}\nbackup_skip_reason = "test"',
        top="[verify]\nrequests = 5",
    )
    run = await cleared(config, tmp_path / "state")
    for step_id in ("branch", "bump", "changelog", "commit", "push", "merge", "tag"):
        [_ async for _ in run.run_step(step_id)]
        assert run.records[step_id].status == "ok", run.records[step_id]
    assert run.confirm("deploy-production", "1.4.0")
    events = [e async for e in run.run_step("deploy-production")]
    assert run.records["deploy-production"].status == "ok", run.records["deploy-production"]
    assert f"log marks: 1 file(s): {log} at {size_before} bytes" in [
        e.text for e in events if isinstance(e, OutputLine) and e.host == HOST
    ]
    records = [json.loads(line) for line in run.journal_path.read_text().splitlines()]
    [marks] = [r for r in records if r["kind"] == "log_marks"]
    assert (marks["env"], marks["host"]) == ("production", HOST)
    assert marks["marks"]["files"][str(log)]["size"] == size_before
    saved = run.state.log_marks["production"][HOST]
    assert {k: v for k, v in saved.items() if k != "maintenance"} == marks["marks"]

    # Nothing new: the old ERROR line is not reported.
    _, last, logs = await verify(run)
    assert last.status == "ok", last
    assert logs.status == "passed" and logs.data["total_matches"] == 0
    assert logs.data["files"][0]["from_offset"] == size_before

    append(
        log,
        "2026-01-01 10:05:00 INFO GET /api/projects 200",
        "2026-01-01 10:05:01 ERROR project export failed",
        "Traceback (most recent call last):",
        '  File "core/views.py", line 80, in export',
        "ValueError: no such column",
    )
    events, last, logs = await verify(run)
    assert last.status == "failed" and last.data["failed"] == [f"logs:{HOST}"]
    assert last.message == f"verification failed on production: logs:{HOST}: 2 matching line(s) (limit 0)"
    assert "raise [environments.production.logs] max_matches" in last.fix
    assert logs.status == "failed"
    assert logs.detail.startswith(f"{HOST}: 2 matching line(s) (limit 0) in 1 file(s)")
    assert [(m["path"], m["line"], m["text"]) for m in logs.data["matches"]] == [
        (str(log), 2, "2026-01-01 10:05:01 ERROR project export failed"),
        (str(log), 3, "Traceback (most recent call last):"),
    ]
    shown = [(e.host, e.stream, e.text) for e in events if isinstance(e, OutputLine) and e.step_id == "verify"]
    assert shown == [
        (HOST, "stderr", f"{log}:+2: 2026-01-01 10:05:01 ERROR project export failed"),
        (HOST, "stderr", f"{log}:+3: Traceback (most recent call last):"),
    ]
    assert last.data["logs"][HOST]["total_matches"] == 2
    assert "an old failure" not in run.journal_path.read_text()

    # The operator judges these lines expected: two are allowed now.
    config.write_text(config.read_text().replace("max_matches = 0", "max_matches = 2"))
    run.reload_config()
    _, last, logs = await verify(run)
    assert last.status == "ok", last
    assert logs.status == "passed" and logs.data["max_matches"] == 2 and logs.data["total_matches"] == 2
    assert run.state.results["verify"]["logs"][HOST]["total_matches"] == 2


ACCESS_503 = '127.0.0.1 - - [01/Jan/2026:10:00:00 +0000] "GET /api/projects HTTP/1.1" 503 19 "-" "Mozilla/5.0"'
ACCESS_200 = '127.0.0.1 - - [01/Jan/2026:10:00:09 +0000] "GET /api/projects HTTP/1.1" 200 512 "-" "Mozilla/5.0"'
LATE_503 = '127.0.0.1 - - [01/Jan/2026:10:07:00 +0000] "GET /api/export HTTP/1.1" 503 19 "-" "Mozilla/5.0"'
MIGRATION_ERROR = "2026-01-01 10:00:02 ERROR core.tasks: the search index could not be rebuilt"


async def test_503_lines_of_the_maintenance_window_are_not_counted(ssh_site: SshSite, tmp_path: Path) -> None:
    site = ssh_site
    log = site.app_dir.parent / f"{site.app_dir.name}.access.log"  # removed with the site
    append(log, ACCESS_200)
    size_before = log.stat().st_size
    q = shlex.quote
    config = site.write_config(
        env="production",
        # While the site is in maintenance, visitors get 503s and a task logs an error:
        # the lines the host's web server and app would write, appended over SSH.
        pre=[
            ("maintenance mode on", "{python} manage.py maintenance on"),
            ("visitors during maintenance", f"printf '%s\\n' {q(ACCESS_503)} {q(ACCESS_503)} >> {q(str(log))}"),
            ("a task fails during maintenance", f"printf '%s\\n' {q(MIGRATION_ERROR)} >> {q(str(log))}"),
        ],
        extra=f'logs = {{ paths = [{json.dumps(str(log))}] }}\nbackup_skip_reason = "test"',
        top="[verify]\nrequests = 5",
    )
    run = await cleared(config, tmp_path / "state")
    for step_id in ("branch", "bump", "changelog", "commit", "push", "merge", "tag"):
        [_ async for _ in run.run_step(step_id)]
        assert run.records[step_id].status == "ok", run.records[step_id]
    assert run.confirm("deploy-production", "1.4.0")
    events = [e async for e in run.run_step("deploy-production")]
    assert run.records["deploy-production"].status == "ok", run.records["deploy-production"]
    size_after = log.stat().st_size
    assert size_after > size_before
    said = [e.text for e in events if isinstance(e, OutputLine) and e.host == HOST]
    assert f"log marks after the maintenance window: 1 file(s): {log} at {size_after} bytes" in said

    # The window is kept in the run and journaled at once: opened, then closed with its end marks.
    [window] = run.state.log_marks["production"][HOST]["maintenance"]
    assert (window["state"], window["note"]) == ("closed", "")
    assert window["start"]["files"][str(log)]["size"] == size_before
    assert window["end"]["files"][str(log)]["size"] == size_after
    records = [json.loads(line) for line in run.journal_path.read_text().splitlines()]
    journaled = [r for r in records if r["kind"] == "maintenance_window"]
    assert [(r["host"], r["window"], r["state"]) for r in journaled] == [(HOST, 1, "open"), (HOST, 1, "closed")]
    assert journaled[-1]["end"] == window["end"]

    append(log, LATE_503)  # after the second mark: maintenance is over, this 503 is an error
    events, last, logs = await verify(run)
    assert last.status == "failed" and last.data["failed"] == [f"logs:{HOST}"]
    assert logs.data["total_matches"] == 2 and logs.data["ignored"] == 2 and logs.data["windows"] == 1
    assert [(m["line"], m["text"]) for m in logs.data["matches"]] == [(3, MIGRATION_ERROR), (4, LATE_503)]
    assert "; 2 line(s) answered 503 during the maintenance window, not counted" in logs.detail
    assert logs.detail.startswith(f"{HOST}: 2 matching line(s) (limit 0) in 1 file(s)")
    assert last.data["logs"][HOST]["files"][0]["ignored"] == 2
