"""The run lock: one iact-tui process per repository, with real processes racing, dying
(SIGKILL) and holding it; stale locks taken over, live and foreign ones refused, breaking
only with the owner's hostname typed."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from iact_tui import demo
from iact_tui.engine.run_lock import LockInfo, RunLock, RunLockHeld, RunLockLost, lock_dir
from iact_tui.errors import ConfirmationError

# A holder process: waits for the go file (so racers start together), tries the lock,
# prints the outcome as one JSON line, then holds what it got until stdin closes.
_HOLDER = """
import json, os, sys, time
from pathlib import Path
from iact_tui import demo
from iact_tui.engine.run_lock import RunLock, RunLockHeld
repo, state, go = Path(sys.argv[1]), Path(sys.argv[2]), Path(sys.argv[3])
while not go.exists():
    time.sleep(0.0005)
lock = RunLock(repo, flow=sys.argv[4], version="1.4.0", state_dir=state)
try:
    taken = lock.acquire()
except RunLockHeld as exc:
    print(json.dumps({"pid": os.getpid(), "won": False, "error": str(exc)}), flush=True)
    sys.exit(0)
print(json.dumps({"pid": os.getpid(), "won": True}), flush=True)
sys.stdin.read()
lock.release() if sys.argv[5] == "release" else None
"""


def _holder(repo: Path, state: Path, go: Path, flow: str = "release", end: str = "release") -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", _HOLDER, str(repo), str(state), str(go), flow, end],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )


def _outcome(proc: subprocess.Popen[str]) -> dict[str, object]:
    assert proc.stdout is not None
    line = proc.stdout.readline()
    assert line, "the holder printed nothing"
    return dict(json.loads(line))


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    path = tmp_path / "repo"
    path.mkdir()
    return path


@pytest.fixture
def state(tmp_path: Path) -> Path:
    return tmp_path / "state"


@pytest.fixture
def live_holder(repo: Path, state: Path, tmp_path: Path) -> Iterator[subprocess.Popen[str]]:
    """Another iact-tui process holding ``repo``'s lock until the test ends."""
    go = tmp_path / "go-live"
    go.touch()
    proc = _holder(repo, state, go)
    assert _outcome(proc)["won"] is True
    try:
        yield proc
    finally:
        proc.kill()
        proc.wait()


def _kill_holding(repo: Path, state: Path, go: Path) -> int:
    """Start a holder, let it take the lock, SIGKILL it; returns its pid."""
    go.touch()
    proc = _holder(repo, state, go)
    assert _outcome(proc)["won"] is True
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    return proc.pid


def test_two_processes_racing_for_a_repository_exactly_one_wins(repo: Path, state: Path, tmp_path: Path) -> None:
    for round_ in range(3):
        go = tmp_path / f"go-{round_}"
        # A release and a rollback of the same repository: one lock per repository.
        racers = [_holder(repo, state, go, flow="release"), _holder(repo, state, go, flow="rollback")]
        try:
            time.sleep(0.3)  # both are importing and polling for the go file
            go.touch()
            outcomes = [_outcome(p) for p in racers]
            winners = [o for o in outcomes if o["won"]]
            assert len(winners) == 1, outcomes
            [loser] = [o for o in outcomes if not o["won"]]
            error = str(loser["error"])
            assert f"pid {winners[0]['pid']}" in error and "its process is running" in error
            assert f"@{socket.gethostname()}" in error and "of 1.4.0, since 20" in error
            assert f"`kill {winners[0]['pid']}`" in error and "type the hostname" not in error
        finally:
            for proc in racers:
                proc.communicate("")
        assert not any(lock_dir(repo, state).glob("*.lock")), "the winner released the lock"


def test_a_lock_left_by_a_killed_process_is_taken_over(repo: Path, state: Path, tmp_path: Path) -> None:
    dead = _kill_holding(repo, state, tmp_path / "go")
    lock = RunLock(repo, flow="release", state_dir=state)
    assert lock.path.exists()  # kill -9 left it

    taken = lock.acquire()

    assert taken is not None and taken.reason == "stale" and taken.previous.pid == dead
    assert taken.detail == f"pid {dead} is not running on {socket.gethostname()}"
    assert LockInfo.from_json(lock.path.read_text()).pid == os.getpid()
    lock.release()
    assert not lock.path.exists()


def test_a_live_lock_of_this_host_is_refused_and_cannot_be_broken(
    repo: Path, state: Path, live_holder: subprocess.Popen[str]
) -> None:
    lock = RunLock(repo, flow="hotfix", state_dir=state)
    with pytest.raises(RunLockHeld) as info:
        lock.acquire()
    held = info.value
    assert held.holder is not None and held.holder.pid == live_holder.pid and held.holder.flow == "release"
    assert not held.breakable
    assert f"switch to its terminal, or stop it: `kill {live_holder.pid}`" in held.fix
    assert "type the hostname" not in held.fix

    # Typing the hostname exactly does not break it: two processes would act on one release.
    with pytest.raises(ConfirmationError, match=f"held by pid {live_holder.pid}, an iact-tui running") as refused:
        held.break_lock(socket.gethostname())
    assert f"`kill {live_holder.pid}`" in refused.value.fix and "taken over without breaking" in refused.value.fix
    assert LockInfo.from_json(lock.path.read_text()).pid == live_holder.pid

    # Stopping it (as the refusal says) frees the lock: taken over, not broken.
    live_holder.send_signal(signal.SIGTERM)
    live_holder.wait()
    taken = lock.acquire()
    assert taken is None or (taken.reason == "stale" and taken.previous.pid == live_holder.pid)
    assert LockInfo.from_json(lock.path.read_text()).pid == os.getpid()
    lock.release()


def test_another_hosts_lock_is_never_stale(repo: Path, state: Path) -> None:
    lock = RunLock(repo, flow="release", state_dir=state)
    lock.path.parent.mkdir(parents=True)
    foreign = {
        "repo": lock.repo,
        "owner": "carol@build-elsewhere",
        "host": "build-elsewhere",
        "pid": 999_999,  # no such pid here: says nothing about build-elsewhere
        "proc_start": 1,
        "flow": "rollback",
        "version": "1.3.0",
        "started": "2026-11-29T10:00:00Z",
    }
    lock.path.write_text(json.dumps(foreign))

    with pytest.raises(RunLockHeld) as info:
        lock.acquire()

    message = str(info.value)
    assert "carol@build-elsewhere, pid 999999, rollback of 1.3.0, since 2026-11-29T10:00:00Z" in message
    assert "on another host" in message and "type the hostname build-elsewhere" in message
    assert str(lock.path) in message and info.value.breakable
    host = socket.gethostname()
    for wrong in ("", host, "BUILD-ELSEWHERE", "localhost", "carol@build-elsewhere"):
        with pytest.raises(ConfirmationError, match="not the lock owner's hostname"):
            info.value.break_lock(wrong)
        assert lock.path.exists()
    info.value.break_lock("  build-elsewhere ")
    assert not lock.path.exists()
    taken = lock.acquire()
    assert taken is not None and taken.reason == "broken" and taken.previous.owner == "carol@build-elsewhere"
    lock.release()


def test_a_live_pid_that_is_not_the_holder_is_stale(repo: Path, state: Path) -> None:
    """pid reuse: the pid runs, but it is another process (other start time, or no start
    time recorded and a command line that is not iact-tui)."""
    sleeper = subprocess.Popen(["sleep", "30"])
    try:
        lock = RunLock(repo, flow="release", state_dir=state)
        lock.path.parent.mkdir(parents=True)
        for proc_start, expected in ((0, "is not iact-tui (sleep 30)"), (1, "is another process now")):
            info = {
                "repo": lock.repo,
                "owner": f"alice@{lock.host}",
                "host": lock.host,
                "pid": sleeper.pid,
                "proc_start": proc_start,
                "flow": "release",
                "version": "",
                "started": "2026-11-29T10:00:00Z",
            }
            lock.path.write_text(json.dumps(info))
            taken = lock.acquire()
            assert taken is not None and expected in taken.detail
            lock.release()
    finally:
        sleeper.kill()
        sleeper.wait()


def test_the_lock_is_shared_within_a_process_and_the_last_release_removes_it(repo: Path, state: Path) -> None:
    release = RunLock(repo, flow="release", state_dir=state)
    rollback = RunLock(repo / ".." / "repo", flow="rollback", state_dir=state)  # the same repository
    assert release.path == rollback.path
    with release:
        assert rollback.acquire() is None  # the wizard's rollback beside its release
        rollback.release()
        assert release.path.exists() and release.held
        release.set_version("2.0.0")
        assert LockInfo.from_json(release.path.read_text()).version == "2.0.0"
    assert not release.path.exists() and not release.held


def test_release_leaves_a_lock_another_process_took_after_breaking_ours(
    repo: Path, state: Path, tmp_path: Path
) -> None:
    lock = RunLock(repo, flow="release", state_dir=state)
    lock.acquire()
    ours = LockInfo.from_json(lock.path.read_text())
    # Another operator broke our lock and took it (simulated: the file now names pid 1).
    lock.path.write_text(json.dumps({**ours.__dict__, "pid": 1, "host": "elsewhere", "owner": "bob@elsewhere"}))
    lock.release()
    assert LockInfo.from_json(lock.path.read_text()).owner == "bob@elsewhere"


def test_a_process_ending_normally_without_releasing_leaves_no_lock(repo: Path, state: Path, tmp_path: Path) -> None:
    go = tmp_path / "go"
    go.touch()
    proc = _holder(repo, state, go, end="keep")  # never calls release(): atexit does
    assert _outcome(proc)["won"] is True
    proc.communicate("")
    assert proc.returncode == 0
    assert not any(lock_dir(repo, state).glob("*.lock"))


def test_an_unreadable_lock_is_refused_naming_the_file(repo: Path, state: Path) -> None:
    lock = RunLock(repo, flow="release", state_dir=state)
    lock.path.parent.mkdir(parents=True)
    lock.path.write_text('{"repo": "/x", "own')
    with pytest.raises(RunLockHeld) as info:
        lock.acquire()
    assert info.value.holder is None and str(lock.path) in info.value.what and "delete that file" in info.value.fix


async def test_a_release_run_takes_the_lock_and_finish_gives_it_back(
    quiet_sandbox: demo.Sandbox, tmp_path: Path
) -> None:
    from iact_tui.config import load_config
    from iact_tui.engine.journal import read_journal
    from iact_tui.engine.run import ReleaseRun

    config = load_config(quiet_sandbox.config_path)
    state = tmp_path / "runs-state"
    dead = _kill_holding(config.root, state, tmp_path / "go-dead")

    run = ReleaseRun(config, state_dir=state)

    assert run.run_lock is not None and run.run_lock.path.exists()
    [note] = [r for r in read_journal(run.journal_path).records if r["kind"] == "run_lock_taken_over"]
    assert note["pid"] == dead and "is not running" in note["detail"]
    await run.load_versions()
    version = run.choose_bump("minor")
    assert LockInfo.from_json(run.run_lock.path.read_text()).version == version  # said to those refused
    # Another process on the same repository is refused while this run holds it.
    go = tmp_path / "go-late"
    go.touch()
    late = _holder(config.root, state, go, flow="rollback")
    refused = _outcome(late)
    late.communicate("")
    assert refused["won"] is False and f"pid {os.getpid()}, release of {version}" in str(refused["error"])
    run.finish()
    assert run.run_lock is None and not any(lock_dir(config.root, state).glob("*.lock"))


def test_a_run_refused_by_the_lock_leaves_no_run_folder(quiet_sandbox: demo.Sandbox, tmp_path: Path) -> None:
    from iact_tui.config import load_config
    from iact_tui.engine.run import ReleaseRun

    config = load_config(quiet_sandbox.config_path)
    state = tmp_path / "runs-state"
    go = tmp_path / "go"
    go.touch()
    holder = _holder(config.root, state, go, flow="hotfix")
    try:
        assert _outcome(holder)["won"] is True
        with pytest.raises(RunLockHeld, match=f"pid {holder.pid}, hotfix of 1.4.0"):
            ReleaseRun(config, state_dir=state)
        assert not (state / "runs").exists()
        plan = ReleaseRun(config, state_dir=state, record=False)  # `iact-tui plan` takes no lock
        assert plan.run_lock is None
    finally:
        holder.communicate("")


# Another operator's iact-tui on another host sharing the state dir (its hostname is
# injected): refused, breaks our lock (a foreign one to it) with our hostname typed,
# takes it, prints its pid and holds the lock until stdin closes.
_BREAKER = """
import json, os, socket, sys
from pathlib import Path
from iact_tui.engine.run_lock import RunLock, RunLockHeld
lock = RunLock(Path(sys.argv[1]), flow="release", version="1.5.0", state_dir=Path(sys.argv[2]), host="build-2")
try:
    lock.acquire()
except RunLockHeld as exc:
    exc.break_lock(socket.gethostname())
    lock.acquire()
print(json.dumps({"pid": os.getpid()}), flush=True)
sys.stdin.read()
lock.release()
"""


async def test_a_step_fails_once_another_process_broke_the_run_lock(
    quiet_sandbox: demo.Sandbox, tmp_path: Path
) -> None:
    from iact_tui.config import load_config
    from iact_tui.engine.events import StepFinished
    from iact_tui.engine.run import ReleaseRun

    config = load_config(quiet_sandbox.config_path)
    state = tmp_path / "runs-state"
    run = ReleaseRun(config, state_dir=state)
    assert run.run_lock is not None
    run.run_lock.check()  # ours: nothing said
    breaker = subprocess.Popen(
        [sys.executable, "-c", _BREAKER, str(config.root), str(state)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        other = _outcome(breaker)["pid"]
        with pytest.raises(RunLockLost, match=f"@build-2, pid {other}, release of 1.5.0"):
            run.run_lock.check()
        await run.load_versions()
        run.choose_bump("minor")
        events = [e async for e in run.run_step("preflight")]
        finished = events[-1]
        assert isinstance(finished, StepFinished) and finished.status == "failed"
        assert f"pid {other}" in finished.message and "no longer holds the run lock" in finished.message
        assert "quit this iact-tui" in finished.fix and "owns the release now" in finished.fix
        lock_path = run.run_lock.path
        run.finish()
        assert LockInfo.from_json(lock_path.read_text()).pid == other  # finish left the breaker's lock
    finally:
        breaker.communicate("")
    assert not any(lock_dir(config.root, state).glob("*.lock"))  # the breaker released its own lock


def test_a_lock_file_deleted_by_hand_and_taken_by_another_process_is_lost(
    repo: Path, state: Path, tmp_path: Path
) -> None:
    lock = RunLock(repo, flow="release", state_dir=state)
    lock.acquire()
    try:
        lock.path.unlink()  # as a held lock's fix text offers
        with pytest.raises(RunLockLost, match="was deleted or broken from another host") as gone:
            lock.check()
        assert "quit this iact-tui without going on" in gone.value.fix
        go = tmp_path / "go"
        go.touch()
        other = _holder(repo, state, go, flow="hotfix")
        try:
            pid = _outcome(other)["pid"]
            with pytest.raises(RunLockLost, match=f"pid {pid}, hotfix of 1.4.0") as lost:
                lock.check()
            assert "quit this iact-tui without going on" in lost.value.fix
        finally:
            other.communicate("")
    finally:
        lock.release()


def test_a_run_that_lost_its_lock_records_no_more_input(quiet_sandbox: demo.Sandbox, tmp_path: Path) -> None:
    from iact_tui.config import load_config
    from iact_tui.engine.journal import read_journal
    from iact_tui.engine.run import ReleaseRun

    run = ReleaseRun(load_config(quiet_sandbox.config_path), state_dir=tmp_path / "runs-state")
    assert run.run_lock is not None
    check_id = run.manual_checks()[0][0]
    run.tick(check_id, True)  # while held: recorded
    run.run_lock.path.unlink()  # deleted by hand (or broken from another host)
    inputs = [
        lambda: run.tick(check_id, False),
        lambda: run.tick_verify(run.verify_manual_checks()[0][0], True, "looked at it"),
        lambda: run.acknowledge_rollback_plan("production", ["roll back to v1.3.0"]),
        lambda: run.skip_prep_item("production", "notice", "told them"),
        lambda: run.set_keep_maintenance("production", True),
        lambda: run.accept_version_mismatch(True),
    ]
    for give in inputs:
        with pytest.raises(RunLockLost, match="was deleted or broken from another host"):
            give()
    assert run.lock_lost and check_id in run.state.ticks
    kinds = [r["kind"] for r in read_journal(run.journal_path).records]
    assert kinds.count("tick") == 1
    assert not {"verify_tick", "rollback_plan_acknowledged", "prep_skip_requested"} & set(kinds)
    assert not {"maintenance_choice", "version_mismatch_accepted"} & set(kinds)
    run.finish()


def test_the_lock_lives_with_the_repository_so_another_state_dir_or_worktree_is_refused(tmp_path: Path) -> None:
    """Found by a trial: a second operator with another XDG_STATE_HOME started a second
    release beside the first. The lock is in the repository's git directory, shared by
    every state dir and every worktree."""
    repo = tmp_path / "git-repo"
    subprocess.run(["git", "init", "-q", "-b", "main", str(repo)], check=True)
    subprocess.run(
        [
            "git",
            "-C",
            str(repo),
            "-c",
            "user.name=t",
            "-c",
            "user.email=t@t",
            "commit",
            "-q",
            "--allow-empty",
            "-m",
            "x",
        ],
        check=True,
    )
    subprocess.run(["git", "-C", str(repo), "worktree", "add", "-q", str(tmp_path / "wt")], check=True)
    go = tmp_path / "go-git"
    go.touch()
    holder = _holder(repo, tmp_path / "state-a", go)
    try:
        assert _outcome(holder)["won"] is True
        assert lock_dir(repo) == repo / ".git" / "iact-tui"
        assert lock_dir(tmp_path / "wt") == (repo / ".git" / "iact-tui").resolve()
        with pytest.raises(RunLockHeld, match=f"pid {holder.pid}"):
            RunLock(repo, flow="release", state_dir=tmp_path / "state-b").acquire()
        with pytest.raises(RunLockHeld, match=f"pid {holder.pid}"):  # a worktree of the same repository
            RunLock(tmp_path / "wt", flow="hotfix", state_dir=tmp_path / "state-c").acquire()
        assert not (tmp_path / "state-b" / "locks").exists()
    finally:
        holder.communicate("")


def test_a_run_sharing_the_lock_gives_it_back_to_the_first_runs_flow(repo: Path, state: Path) -> None:
    """A hotfix opened from the wizard shares the release run's lock and writes its own
    flow and version into it; when it ends, another iact-tui is told of the release run
    again, not of a hotfix that is over (found by a trial)."""
    release = RunLock(repo, flow="release", state_dir=state)
    hotfix = RunLock(repo, flow="hotfix", state_dir=state)
    release.acquire()
    hotfix.acquire()
    hotfix.set_version("1.3.4")
    info = LockInfo.from_json(hotfix.path.read_text())
    assert (info.flow, info.version) == ("hotfix", "1.3.4")
    hotfix.release()
    info = LockInfo.from_json(release.path.read_text())
    assert (info.flow, info.version, info.pid) == ("release", "", os.getpid())
    release.release()
    assert not release.path.exists()
