"""``iact-tui report`` and ``iact-tui history`` on real runs of a demo sandbox.

The module's runs (in the test's state dir, ``$XDG_STATE_HOME/iact-tui``): one that
stopped after the tag, one whose production deploy failed, one cut in the middle of a
step (its journal ends at the step's start, as after a crash: no report.md), and one of
another repository.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest

from iact_tui import cli, demo
from iact_tui.config import load_config
from iact_tui.engine import report
from iact_tui.engine.events import StepFinished
from iact_tui.engine.journal import Journal
from iact_tui.engine.run import ReleaseRun


@dataclass(frozen=True)
class Runs:
    repo: Path
    tagged: Path
    failed: Path
    cut: Path
    other: Path


async def _run(box: demo.Sandbox, steps: tuple[str, ...]) -> ReleaseRun:
    run = ReleaseRun(load_config(box.config_path))
    await run.load_versions()
    run.choose_bump("minor")
    for check_id, _ in run.manual_checks():
        run.tick(check_id, True)
    for step_id in steps:
        last = [e async for e in run.run_step(step_id)][-1]
        assert isinstance(last, StepFinished)
    return run


@pytest.fixture
async def runs(quiet_sandbox: demo.Sandbox, tmp_path: Path) -> Runs:
    git_half = ("preflight", "branch", "bump", "changelog", "commit", "push", "merge", "tag")
    tagged = await _run(quiet_sandbox, git_half)
    tagged.finish()
    # The next run: the release is tagged, so its checklist and deploy fail.
    failed = await _run(quiet_sandbox, ("deploy-production",))
    failed.finish()
    # A crash mid-step: the tagged run's journal up to the merge step's start.
    cut_dir = tagged.run_dir.with_name(tagged.run_dir.name.replace("Z-", "Z-c", 1))
    cut_dir.mkdir()
    lines = tagged.journal_path.read_text().splitlines(keepends=True)
    upto = next(i for i, line in enumerate(lines) if '"step_started"' in line and '"merge"' in line)
    (cut_dir / "journal.jsonl").write_text("".join(lines[: upto + 1]))
    other_dir = report.runs_dir() / "20000101T000000Z-0ther0"
    other_dir.mkdir(parents=True)
    journal = Journal(other_dir / "journal.jsonl")
    journal.write("run_started", flow="release", repo=str(tmp_path / "elsewhere"), operator="ann@ci", steps=[])
    journal.write("version_chosen", version="9.9.0", bump="minor", previous="9.8.0")
    journal.close()
    return Runs(quiet_sandbox.repo, tagged.run_dir, failed.run_dir, cut_dir, other_dir)


def _main(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = cli.main(list(args))
    out = capsys.readouterr()
    return code, out.out, out.err


def test_history_lists_this_repositorys_runs_newest_first(
    runs: Runs, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(runs.repo)
    code, out, _ = _main(capsys, "history")
    assert code == 0
    lines = out.splitlines()
    assert lines[0].split() == ["RUN", "FLOW", "VERSION", "STARTED", "DURATION", "RESULT", "OPERATOR"]
    rows = {line.split()[0]: line for line in lines[1:]}
    assert lines[1].split()[0] == runs.failed.name  # newest first
    assert set(rows) == {runs.tagged.name, runs.failed.name, runs.cut.name}
    assert "1.4.0" in rows[runs.tagged.name] and "stopped after tag" in rows[runs.tagged.name]
    assert "failed at deploy-production" in rows[runs.failed.name]
    assert "interrupted at merge" in rows[runs.cut.name]
    assert all(" release " in row and "@" in row for row in rows.values())
    assert runs.other.name not in out


def test_history_all_and_limit(runs: Runs, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(runs.repo)
    code, out, _ = _main(capsys, "history", "--all")
    assert code == 0 and runs.other.name in out and "REPOSITORY" in out.splitlines()[0]
    other = next(line for line in out.splitlines() if line.startswith(runs.other.name))
    assert "ann@ci" in other and other.endswith("elsewhere") and "unfinished" in other
    assert len(out.splitlines()) == 5
    code, out, _ = _main(capsys, "history", "--limit", "1")
    assert code == 0
    assert len(out.splitlines()) == 3 and "2 older run(s) not shown" in out
    code, _, err = _main(capsys, "history", "--limit", "-1")
    assert code == 2 and "--limit" in err


def test_report_last_prefix_path_and_rebuild(
    runs: Runs, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(runs.repo)
    code, out, _ = _main(capsys, "report")
    assert code == 0 and f"| Run | {runs.failed.name} |" in out  # the newest
    code, out, _ = _main(capsys, "report", runs.failed.name[:-2])
    assert code == 0 and out == (runs.failed / "report.md").read_text()
    assert "| Result | failed at deploy-production |" in out
    code, out, _ = _main(capsys, "report", str(runs.tagged))
    assert code == 0 and "| Tag | v1.4.0 on " in out and "| Result | stopped after tag |" in out
    # A run that crashed has no report: it is built from the journal (and saved).
    assert not (runs.cut / "report.md").exists()
    code, out, _ = _main(capsys, "report", runs.cut.name)
    assert code == 0 and "| Result | interrupted at merge |" in out
    assert "| Merge into main | merge | 1 | interrupted |" in out
    assert (runs.cut / "report.md").read_text() == out
    # A report removed is rebuilt the same.
    saved = (runs.tagged / "report.md").read_text()
    (runs.tagged / "report.md").unlink()
    code, out, _ = _main(capsys, "report", runs.tagged.name)
    assert code == 0 and out == saved


def test_report_errors_exit_2(runs: Runs, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(runs.repo)
    code, out, err = _main(capsys, "report", "2")
    assert code == 2 and out == ""
    assert "'2' matches 3 runs" in err and runs.tagged.name in err and "give more of the run id" in err
    code, _, err = _main(capsys, "report", "nosuchrun")
    assert code == 2 and "no run of this repository matches 'nosuchrun'" in err
    code, _, err = _main(capsys, "report", str(runs.repo))
    assert code == 2 and "is not a run folder" in err
    # Outside any repository: a run id still works; the default needs a repository.
    monkeypatch.chdir(runs.repo.parent.parent)
    code, out, _ = _main(capsys, "report", runs.other.name)
    assert code == 0 and "ann@ci" in out
    code, _, err = _main(capsys, "report")
    assert code == 2 and "no iact-release.toml found" in err
    code, _, err = _main(capsys, "history")
    assert code == 2 and "--all" in err


def test_no_runs_yet(
    quiet_sandbox: demo.Sandbox, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(quiet_sandbox.repo)
    shutil.rmtree(report.runs_dir(), ignore_errors=True)
    code, out, _ = _main(capsys, "history")
    assert code == 0 and out.startswith("no run of ")
    code, _, err = _main(capsys, "report")
    assert code == 2 and "no run of this repository is recorded" in err


def test_a_rollback_run_writes_its_report_too(
    quiet_sandbox: demo.Sandbox, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from iact_tui.engine.rollback import RollbackRun

    run = RollbackRun(load_config(quiet_sandbox.config_path))
    run.finish()  # left before choosing a target
    text = (run.run_dir / "report.md").read_text()
    assert text.startswith("# Rollback of repo\n") and "| Result | stopped before any step |" in text
    assert "| Environment | production |" in text
    assert "| rollback-production | rollback-production | — | not run | — |" in text
    monkeypatch.chdir(quiet_sandbox.repo)
    # Nothing happened in it: history skips it, its name still finds its report.
    code, out, _ = _main(capsys, "history")
    assert code == 0 and run.run_dir.name not in out
    code, out, _ = _main(capsys, "report", run.run_dir.name)
    assert code == 0 and out == text


async def test_empty_runs_are_skipped_and_a_quit_wizard_leaves_no_run_folder(
    runs: Runs, quiet_sandbox: demo.Sandbox, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from iact_tui.engine.resume import discard_if_empty

    config = load_config(quiet_sandbox.config_path)
    empty = ReleaseRun(config)
    empty.finish()  # the wizard opened and quit: run_started, run_finished, report.md
    monkeypatch.chdir(runs.repo)
    code, out, _ = _main(capsys, "history")
    assert code == 0 and empty.run_dir.name not in out and runs.failed.name in out
    code, out, _ = _main(capsys, "report", "last")
    assert code == 0 and f"| Run | {runs.failed.name} |" in out  # the newest run with something in it
    # At quit the wizard removes such a run; one with any input or step record stays.
    assert discard_if_empty(empty.run_dir) and not empty.run_dir.exists()
    assert not discard_if_empty(runs.tagged) and not discard_if_empty(runs.other)
    ticked = ReleaseRun(config)
    ticked.tick(ticked.manual_checks()[0][0], True)
    ticked.finish()
    assert not discard_if_empty(ticked.run_dir) and ticked.run_dir.exists()


def test_help_names_report_and_history(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        cli.main(["--help"])
    out = capsys.readouterr().out
    assert "report [RUN]" in out and "history " in out


async def test_a_run_that_only_took_over_the_lock_is_skipped_and_its_record_carried_to_the_resumed_one(
    runs: Runs, quiet_sandbox: demo.Sandbox, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from iact_tui.engine.journal import Journal
    from iact_tui.engine.report import read_report
    from iact_tui.engine.resume import discard_if_empty, read_records

    config = load_config(quiet_sandbox.config_path)
    fresh = ReleaseRun(config)
    fresh.journal.close()
    # What _journal_takeover writes when the wizard starts after a crashed holder: the
    # takeover comes first, before run_started (found by the kill test of the changelog editor).
    lines = fresh.journal_path.read_text().splitlines(keepends=True)
    takeover = {"ts": 1.0, "kind": "run_lock_taken_over", "previous": "ann@box pid 4242", "pid": 4242, "host": "box"}
    fresh.journal_path.write_text(json.dumps(takeover) + "\n" + "".join(lines))
    fresh.journal = Journal(fresh.journal_path)
    fresh.finish()
    monkeypatch.chdir(runs.repo)
    code, out, _ = _main(capsys, "history")
    assert code == 0 and fresh.run_dir.name not in out and runs.failed.name in out
    code, out, _ = _main(capsys, "report", "last")
    assert code == 0 and f"| Run | {runs.failed.name} |" in out
    # Quit alone it is kept (the takeover is a record worth keeping)...
    assert not discard_if_empty(fresh.run_dir) and fresh.run_dir.exists()
    # ...but when the operator resumes another run, the record moves to that run's journal.
    resumed = Journal(runs.failed / "journal.jsonl")
    assert discard_if_empty(fresh.run_dir, resumed) and not fresh.run_dir.exists()
    resumed.close()
    [carried] = [r for r in read_records(runs.failed / "journal.jsonl") if r["kind"] == "run_lock_taken_over"]
    assert carried["carried_from"] == fresh.run_dir.name and carried["previous"] == "ann@box pid 4242"
    assert "- Run lock of ann@box pid 4242 taken over (its holder had ended)" in read_report(runs.failed)
