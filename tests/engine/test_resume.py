"""engine/resume.py: which runs are unfinished, and what a journal replays into."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from iact_tui import demo
from iact_tui.config import load_config
from iact_tui.engine.journal import Journal
from iact_tui.engine.resume import INTERRUPTED, abandon, find_unfinished, replay
from iact_tui.engine.run import ReleaseRun

STEPS = ["preflight", "branch", "bump", "changelog", "commit", "tag", "deploy-staging", "announce"]


def rec(kind: str, **fields: Any) -> dict[str, Any]:
    return {"ts": 1000.0, "kind": kind, **fields}


def started(repo: Path) -> dict[str, Any]:
    return rec("run_started", flow="release", repo=str(repo), steps=STEPS)


def test_replay_brings_back_every_input_and_result() -> None:
    records = [
        started(Path("/r")),
        rec("version_chosen", bump="minor", version="1.4.0", previous="1.3.2"),
        rec("tick", check="prs-merged", ticked=True),
        rec("tick", check="docs-updated", ticked=True),
        rec("tick", check="docs-updated", ticked=False),
        rec("changelog_edited", chars=5, body="### Added\n\n- x\n"),
        rec("version_mismatch_accepted", accepted=True),
        rec("confirmation", step="deploy-production", accepted=True),
        rec("rollback_plan_acknowledged", env="production", plan=["..."]),
        rec("prep_skip_requested", env="production", item="backup", reason="no db"),
        rec("maintenance_choice", env="staging", keep_on_failure=True),
        rec("pr_body_edited", chars=3, body="abc"),
        rec("verify_tick", check="metrics-normal", ticked=True, note="looked"),
        rec("step_started", step_id="preflight", title="Checklist"),
        rec("step_finished", step_id="preflight", status="ok", message="ok", fix="", data={"version": "1.4.0"}),
        rec("step_started", step_id="deploy-staging", title="Deploy to staging"),
        rec("log_marks", step="deploy-staging", env="staging", host="staging", marks={"files": {"a": 1}}),
        rec("maintenance_window", step="deploy-staging", env="staging", host="staging", window=1, state="open"),
        rec("deploy_lock_taken", env="staging", host="staging", path="/l", token="t" * 32, since="x"),
        rec("output", step_id="deploy-staging", text="started-slow", stream="stdout", host="staging"),
        # Two attempts recorded what staging ran: the second saw the new release already checked out.
        rec("deployed_state", step="deploy-staging", env="staging", host="staging", state={"tag": "v1.3.2"}),
        rec("deployed_state", step="deploy-staging", env="staging", host="staging", state={"tag": "v1.4.0"}),
    ]
    out = replay(records)
    s = out.state
    assert (s.version, s.bump, s.previous_version, s.previous_tag) == ("1.4.0", "minor", "1.3.2", "v1.3.2")
    assert s.ticks == {"prs-merged"}
    assert s.changelog_body == "### Added\n\n- x\n"
    assert s.accept_version_mismatch and s.confirmations == {"deploy-production": "1.4.0"}
    assert s.prep == {"production:rollback-ack": "yes", "production:backup-skip": "no db"}
    assert s.keep_maintenance == {"staging": True} and s.pr_body == "abc"
    assert s.verify_ticks == {"metrics-normal": "looked"}
    assert s.results["preflight"] == {"version": "1.4.0"}
    assert s.log_marks["staging"]["staging"]["files"] == {"a": 1}
    assert s.log_marks["staging"]["staging"]["maintenance"] == [{"state": "open"}]
    assert out.records["deploy-staging"].status == INTERRUPTED
    assert out.output["deploy-staging"][0]["text"] == "started-slow"
    assert s.deployed_before == {"deploy-staging/staging": {"tag": "v1.3.2"}}
    assert "staging/staging" in out.locks  # never released: the resumed deploy releases it
    assert out.finished is None


def _write(state: Path, name: str, records: list[dict[str, Any]]) -> Path:
    folder = state / "runs" / name
    folder.mkdir(parents=True)
    journal = Journal(folder / "journal.jsonl")
    for r in records:
        journal.write(r["kind"], **{k: v for k, v in r.items() if k not in {"ts", "kind"}})
    journal.close()
    return folder / "journal.jsonl"


def test_which_runs_are_unfinished(quiet_sandbox: demo.Sandbox, tmp_path: Path) -> None:
    config = load_config(quiet_sandbox.config_path)
    repo, state = config.root, tmp_path / "state"
    chosen = rec("version_chosen", bump="minor", version="1.4.0", previous="1.3.2")
    ok_tag = [rec("step_started", step_id="tag"), rec("step_finished", step_id="tag", status="ok", data={})]
    _write(state, "20260101T000000Z-a", [started(repo), chosen, *ok_tag])  # crashed: offered (older)
    _write(state, "20260102T000000Z-b", [started(repo), chosen, rec("run_finished", steps={"preflight": "ok"})])
    _write(state, "20260103T000000Z-c", [started(Path("/elsewhere")), chosen, *ok_tag])
    _write(state, "20260104T000000Z-d", [started(repo), chosen, *ok_tag, rec("run_finished", steps={"announce": "ok"})])
    _write(state, "20260105T000000Z-e", [started(repo), *ok_tag])  # no version chosen
    found = find_unfinished(config, state)
    assert found is not None and found.run_dir.name == "20260101T000000Z-a"
    assert found.tag == "v1.4.0" and found.crashed
    quit_half = [
        started(repo),
        chosen,
        *ok_tag,
        rec("run_finished", steps={"tag": "ok", "deploy-staging": "pending", "announce": "pending"}),
    ]
    newest = _write(state, "20260106T000000Z-f", quit_half)
    found = find_unfinished(config, state)
    assert found is not None and found.journal == newest and not found.crashed
    assert found.offer(now=found.last_ts + 12 * 60).endswith(", 12 min ago)")
    abandon(found)
    again = find_unfinished(config, state)
    assert again is not None and again.run_dir.name == "20260101T000000Z-a"


async def test_resume_appends_to_the_same_journal(quiet_sandbox: demo.Sandbox, tmp_path: Path) -> None:
    from iact_tui.engine.resume import resume_release

    config = load_config(quiet_sandbox.config_path)
    run = ReleaseRun(config, state_dir=tmp_path / "state")
    await run.load_versions()
    run.choose_bump("minor")
    run.set_changelog("### Fixed\n\n- y\n")
    run.journal.close()
    found = find_unfinished(config, tmp_path / "state")
    assert found is not None
    resumed, _ = await resume_release(config, found)
    assert resumed.journal_path == run.journal_path and resumed.run_dir == run.run_dir
    assert resumed.state.changelog_body == "### Fixed\n\n- y\n" and resumed.state.previous_version == "1.3.2"
    resumed.journal.close()


async def test_resume_takes_the_run_lock_and_is_refused_while_another_holds_it(
    quiet_sandbox: demo.Sandbox, tmp_path: Path
) -> None:
    import json

    from iact_tui.engine.resume import resume_release
    from iact_tui.engine.run_lock import LockInfo, RunLock, RunLockHeld

    config = load_config(quiet_sandbox.config_path)
    state = tmp_path / "state"
    run = ReleaseRun(config, state_dir=state)
    await run.load_versions()
    run.choose_bump("minor")
    run.journal.close()
    run.release_run_lock()  # as if its process had ended
    lock = RunLock(config.root, flow="release", state_dir=state)
    lock.path.parent.mkdir(parents=True, exist_ok=True)
    lock.path.write_text(
        json.dumps(
            {
                "repo": lock.repo,
                "owner": "carol@build-elsewhere",
                "host": "build-elsewhere",
                "pid": 999_999,
                "proc_start": 1,
                "flow": "release",
                "version": "1.4.0",
                "started": "2026-11-29T10:00:00Z",
            }
        )
    )
    before = run.journal_path.read_text()
    found = find_unfinished(config, state)
    assert found is not None
    with pytest.raises(RunLockHeld, match="carol@build-elsewhere"):
        await resume_release(config, found)
    assert run.journal_path.read_text() == before  # nothing appended: not resumed
    lock.path.unlink()
    resumed, _ = await resume_release(config, found)
    assert resumed.run_lock is not None and resumed.run_lock.held
    # Another iact-tui refused is told which release goes on, not "version not chosen yet".
    assert json.loads(lock.path.read_text())["version"] == "1.4.0"
    assert "release of 1.4.0" in LockInfo.from_json(lock.path.read_text()).describe()
    resumed.finish()
    assert not lock.path.exists()


def test_a_hotfix_or_rollback_is_unfinished_until_a_newer_run_makes_it_stale(
    quiet_sandbox: demo.Sandbox, tmp_path: Path
) -> None:
    """A hotfix left after its tag is offered, until the same hotfix was run again (the
    operator chose Hotfix again and finished it) or its version was marked bad by a later
    rollback (resuming it would deploy a bad release: found by a trial). A rollback whose
    rollback step ran is offered until a newer rollback of the same environment ran."""
    from iact_tui.engine.resume import FLOWS

    config = load_config(quiet_sandbox.config_path)
    repo, state = config.root, tmp_path / "state"

    def hotfix_run(version: str, *steps: tuple[str, str]) -> list[dict[str, Any]]:
        done = [rec("step_finished", step_id=sid, status=status, data={}) for sid, status in steps]
        return [
            rec("run_started", flow="hotfix", repo=str(repo), steps=["hotfix-branch", "tag", "verify", "backport"]),
            rec("hotfix_loaded", production="v1.3.2", version=version, branch=f"hotfix/v{version}", source="host"),
            *done,
        ]

    def rollback_run(*steps: tuple[str, str], bad: str = "") -> list[dict[str, Any]]:
        done = [rec("step_finished", step_id=sid, status=status, data={}) for sid, status in steps]
        marked = [rec("release_marked_bad", env="production", version=bad, tag=f"v{bad}")] if bad else []
        return [
            rec(
                "run_started",
                flow="rollback",
                env="production",
                repo=str(repo),
                steps=["rollback-plan", "rollback-production", "verify", "rollback-record"],
            ),
            rec("rollback_target_chosen", version="1.3.1", tag="v1.3.1", source="git"),
            *done,
            *marked,
        ]

    left = [("hotfix-branch", "ok"), ("tag", "ok")]
    _write(state, "20260101T000000Z-a", [*hotfix_run("1.3.3", *left), rec("run_finished", steps={})])
    # Only the branch: nothing anyone else sees changed, so nothing is offered for it.
    _write(state, "20260101T000001Z-b", hotfix_run("1.3.4", ("hotfix-branch", "ok")))
    found = find_unfinished(config, state, flows=FLOWS)
    assert found is not None and (found.flow, found.tag, found.crashed) == ("hotfix", "v1.3.3", False)
    assert found.offer(now=found.last_ts).startswith("Resume hotfix v1.3.3 (next step: Verify production")
    assert find_unfinished(config, state) is None  # a release's resume looks at releases only
    # The same hotfix run again and finished: the left run is stale.
    _write(state, "20260102T000000Z-c", hotfix_run("1.3.3", *left, ("verify", "ok"), ("backport", "ok")))
    assert find_unfinished(config, state, flows=FLOWS) is None
    # A rollback that rolled back and was not recorded is offered...
    _write(state, "20260103T000000Z-d", hotfix_run("1.3.5", *left))
    _write(state, "20260104T000000Z-e", rollback_run(("rollback-plan", "ok"), ("rollback-production", "ok")))
    found = find_unfinished(config, state, flows=FLOWS)
    assert found is not None and (found.flow, found.env, found.stopped_at) == ("rollback", "production", "verify")
    assert found.subject == "rollback of production to v1.3.1"
    # ... until a newer rollback of production ran; that one marked v1.3.5 bad, so the
    # hotfix v1.3.5 left before it is not offered either (it would deploy a bad release).
    _write(
        state,
        "20260105T000000Z-f",
        rollback_run(
            ("rollback-plan", "ok"),
            ("rollback-production", "ok"),
            ("verify", "ok"),
            ("rollback-record", "ok"),
            bad="1.3.5",
        ),
    )
    assert find_unfinished(config, state, flows=FLOWS) is None


def test_runs_of_the_same_second_are_ordered_by_when_they_started(quiet_sandbox: demo.Sandbox, tmp_path: Path) -> None:
    """Run folders are named to the second with a random suffix: a hotfix run that only
    made its branch, then one that deployed, both in one second. The deploying one is
    newer by its ``run_started`` time whatever the suffixes; it is offered, and the
    branch-only run does not make it stale (it changed nothing anyone else sees)."""
    from iact_tui.engine.resume import FLOWS

    config = load_config(quiet_sandbox.config_path)
    repo, state = config.root, tmp_path / "state"

    def hotfix_run(ts: float, *steps: str) -> list[dict[str, Any]]:
        return [
            {**rec("run_started", flow="hotfix", repo=str(repo), steps=["hotfix-branch", "tag", "backport"]), "ts": ts},
            rec("hotfix_loaded", production="v1.3.2", version="1.3.3", branch="hotfix/v1.3.3", source="host"),
            *(rec("step_finished", step_id=sid, status="ok", data={}) for sid in steps),
            rec("run_finished", steps={}),
        ]

    _write(state, "20260101T000000Z-ffffff", hotfix_run(1000.0, "hotfix-branch"))  # first, larger suffix
    deployed = _write(state, "20260101T000000Z-000000", hotfix_run(1000.5, "hotfix-branch", "tag"))
    found = find_unfinished(config, state, flows=FLOWS)
    assert found is not None and found.journal == deployed
