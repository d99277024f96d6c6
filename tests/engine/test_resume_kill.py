"""engine/resume.py after a ``kill -9`` at the worst moments: right after the last step
(the end and the report never written) and between taking a deploy lock on the host and
journaling it (the lock's token unknown to the journal)."""

from __future__ import annotations

import io
from pathlib import Path

from iact_tui import demo, headless
from iact_tui.config import load_config
from iact_tui.engine.flows import RELEASE_STEP_IDS
from iact_tui.engine.journal import Journal
from iact_tui.engine.resume import ENDED, find_unended, find_unfinished, read_records, resume_release
from iact_tui.services import deploy_lock
from iact_tui.services.remote import LocalHost


def _journal(state: Path, name: str, records: list[tuple[str, dict[str, object]]]) -> Path:
    folder = state / "runs" / name
    folder.mkdir(parents=True)
    journal = Journal(folder / "journal.jsonl")
    for kind, fields in records:
        journal.write(kind, **fields)
    journal.close()
    return folder / "journal.jsonl"


def _head(repo: Path) -> list[tuple[str, dict[str, object]]]:
    return [
        ("run_started", {"flow": "release", "repo": str(repo), "steps": list(RELEASE_STEP_IDS)}),
        ("version_chosen", {"bump": "minor", "version": "1.4.0", "previous": "1.3.2"}),
    ]


def _all_ok() -> list[tuple[str, dict[str, object]]]:
    out: list[tuple[str, dict[str, object]]] = []
    for sid in RELEASE_STEP_IDS:
        out += [("step_started", {"step_id": sid, "title": sid}), ("step_finished", {"step_id": sid, "status": "ok"})]
    return out


async def test_killed_after_the_last_step_resume_writes_the_end_and_the_report(
    quiet_sandbox: demo.Sandbox, tmp_path: Path
) -> None:
    config = load_config(quiet_sandbox.config_path)
    state = tmp_path / "state"
    journal = _journal(state, "20260101T000000Z-a", [*_head(config.root), *_all_ok()])
    assert find_unfinished(config, state) is None  # nothing is left to run: not offered
    found = find_unended(config, state)
    assert found is not None and found.journal == journal and found.stopped_status == ENDED and found.crashed

    out = io.StringIO()
    assert await headless.resume_release(config, until=None, out=out, state_dir=state) == 0
    assert "only its end and report were missing" in out.getvalue()
    records = read_records(journal)
    assert [r["kind"] for r in records[-2:]] == ["run_resumed", "run_finished"]
    assert set(records[-1]["steps"].values()) == {"ok"}
    assert "# Release 1.4.0" in (journal.parent / "report.md").read_text()
    assert find_unended(config, state) is None
    assert await headless.resume_release(config, until=None, out=io.StringIO(), state_dir=state) == 2


def test_killed_while_writing_the_report_is_found_too(quiet_sandbox: demo.Sandbox, tmp_path: Path) -> None:
    config = load_config(quiet_sandbox.config_path)
    state = tmp_path / "state"
    finished = ("run_finished", {"steps": dict.fromkeys(RELEASE_STEP_IDS, "ok")})
    journal = _journal(state, "20260101T000000Z-a", [*_head(config.root), *_all_ok(), finished])
    found = find_unended(config, state)
    assert found is not None and not found.crashed
    (journal.parent / "report.md").write_text("# report\n")
    assert find_unended(config, state) is None
    # A failed step is not "ended": it is the business of find_unfinished.
    failed = [
        *_head(config.root),
        ("step_started", {"step_id": "tag"}),
        ("step_finished", {"step_id": "tag", "status": "failed"}),
    ]
    _journal(state, "20260102T000000Z-b", failed)
    assert find_unended(config, state) is None


async def test_a_deploy_lock_taken_but_not_journaled_is_this_runs_on_resume(
    quiet_sandbox: demo.Sandbox, tmp_path: Path
) -> None:
    config = load_config(quiet_sandbox.config_path)
    state = tmp_path / "state"
    interrupted = ("step_started", {"step_id": "deploy-staging", "title": "Deploy to staging"})
    journal = _journal(state, "20260101T000000Z-a", [*_head(config.root), *_all_ok()[:16], interrupted])
    host = LocalHost("staging")
    path = deploy_lock.lock_path(str(config.env_app_dir("staging")))
    # The killed process wrote the lock on the host, then died before journaling it.
    lock = await deploy_lock.acquire(
        host, path, deploy_lock.local_owner(), "1.4.0", "release v1.4.0 to staging with iact-tui"
    )
    found = find_unfinished(config, state)
    assert found is not None and found.stopped_at == "deploy-staging"
    run, replayed = await resume_release(config, found)
    try:
        held = run.state.unreleased_locks.get("staging/staging")
        assert held is not None and held.info.token == lock.info.token
        adopted = [r for r in read_records(journal) if r["kind"] == "deploy_lock_taken"]
        assert len(adopted) == 1 and adopted[0]["adopted"] and adopted[0]["token"] == lock.info.token
        assert "staging/staging" in replayed.locks
    finally:
        run.release_run_lock()
        run.journal.close()
    await deploy_lock.release(lock)


async def test_another_deploys_lock_is_left_alone_on_resume(quiet_sandbox: demo.Sandbox, tmp_path: Path) -> None:
    config = load_config(quiet_sandbox.config_path)
    state = tmp_path / "state"
    interrupted = ("step_started", {"step_id": "deploy-staging", "title": "Deploy to staging"})
    journal = _journal(state, "20260101T000000Z-a", [*_head(config.root), *_all_ok()[:16], interrupted])
    host = LocalHost("staging")
    path = deploy_lock.lock_path(str(config.env_app_dir("staging")))
    for owner, version in (("someone@elsewhere", "1.4.0"), (deploy_lock.local_owner(), "1.5.0")):
        lock = await deploy_lock.acquire(host, path, owner, version, "release v1.4.0 to staging with iact-tui")
        found = find_unfinished(config, state)
        assert found is not None
        run, _ = await resume_release(config, found)
        try:
            assert run.state.unreleased_locks == {}
            assert not [r for r in read_records(journal) if r["kind"] == "deploy_lock_taken"]
        finally:
            run.release_run_lock()
            run.journal.close()
        await deploy_lock.release(lock)
