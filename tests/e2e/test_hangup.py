"""SIGHUP (the terminal closed, the SSH session dropped) and SIGTERM in the middle of a
real headless staging deploy: the run stops as Ctrl+C stops it, so the post commands
take the site out of maintenance mode and the deploy lock is released, instead of the
process dying and leaving both (found by the operator trial: closing the terminal
mid-deploy left staging answering "maintenance" until someone resumed)."""

from __future__ import annotations

import json
import os
import shlex
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from test_kill_changelog import _press_until, _wizard_pid
from test_tmux import IACT, Tmux

from iact_tui import demo

pytestmark = pytest.mark.e2e

CLI = [sys.executable, "-m", "iact_tui"]


def health(url: str) -> tuple[int, dict[str, object]]:
    """The health endpoint's HTTP status and JSON body (503 with ``status: maintenance``
    while maintenance mode is on)."""
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"{}")


def _slow_staging(sandbox: demo.Sandbox, sleep: str) -> None:
    """A staging deploy command that prints ``started-slow`` and sleeps (``sleep`` is the
    test's own marker), committed and pushed."""
    text = sandbox.config_path.read_text()
    slow = text.replace(
        '{ name = "fetch tags", run = "git fetch --tags --force {remote}" },',
        f'{{ name = "slow step", run = "echo started-slow; {sleep}" }},\n'
        '    { name = "fetch tags", run = "git fetch --tags --force {remote}" },',
        1,
    )
    assert slow != text
    sandbox.config_path.write_text(slow)
    for args in (["commit", "-qam", "chore: a slow staging step"], ["push", "-q", "origin", "main"]):
        subprocess.run(["git", *args], cwd=sandbox.repo, check=True)


def _wait_until_ended(pid: int) -> None:
    """Wait (at most 30 s) until ``pid`` has ended (a zombie awaiting its reaper counts)."""
    deadline = time.monotonic() + 30
    while Path(f"/proc/{pid}").exists() and Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z":
        assert time.monotonic() < deadline, "iact-tui is still running 30 s after the terminal closed"
        time.sleep(0.1)


def test_the_terminal_closing_mid_deploy_in_the_wizard_ends_it_cleanly(sandbox: demo.Sandbox) -> None:
    """The real wizard in tmux, resumed onto the staging deploy; the tmux server is killed
    while the slow command runs (the pane's terminal hangs up). iact-tui must take staging
    out of maintenance mode, release the deploy lock, journal the end and exit — it hung
    in Textual's output thread before, holding the run lock."""
    sleep = "sleep 30.0671"
    _slow_staging(sandbox, sleep)
    done = subprocess.run(
        [*CLI, "run", "release", "--bump", "minor", "--yes", "--until", "tag"],
        cwd=sandbox.repo,
        capture_output=True,
        text=True,
        timeout=300,
        env=os.environ.copy(),
    )
    assert done.returncode == 0, done.stdout + done.stderr
    term = Tmux(f"cd {shlex.quote(str(sandbox.repo))}; {shlex.quote(str(IACT))}; sleep 60")
    try:
        _press_until(term, "Enter", "Step 6 of 11")  # Welcome offers the resume first
        term.wait_for("slow step", timeout=60)
        deadline = time.monotonic() + 30
        while health(sandbox.environments["staging"])[0] != 503:  # maintenance mode on
            assert time.monotonic() < deadline, term.screen()
            time.sleep(0.1)
        pid = _wizard_pid(term)
    finally:
        term._tmux("kill-server")
    _wait_until_ended(pid)
    assert health(sandbox.environments["staging"])[0] == 200
    assert not list(sandbox.root.glob("staging/.iact-deploy.lock"))
    assert not subprocess.run(["pgrep", "-f", sleep], capture_output=True).stdout
    journal = next(Path(os.environ["XDG_STATE_HOME"]).glob("iact-tui/runs/*/journal.jsonl"))
    records = [json.loads(line) for line in journal.read_text().splitlines()]
    assert records[-1]["kind"] == "run_finished", records[-3:]
    assert records[-1]["steps"]["deploy-staging"] == "cancelled"


@pytest.mark.parametrize("signum", [signal.SIGHUP, signal.SIGTERM], ids=["SIGHUP", "SIGTERM"])
def test_a_hangup_mid_deploy_runs_the_post_commands_and_releases_the_lock(
    sandbox: demo.Sandbox, tmp_path: Path, signum: signal.Signals
) -> None:
    repo = sandbox.repo
    sleep = f"sleep 30.06{int(signum)}"  # its own marker: the other signal's test may run beside it
    _slow_staging(sandbox, sleep)
    proc = subprocess.Popen(
        [*CLI, "run", "release", "--bump", "minor", "--yes", "--until", "deploy-staging"],
        cwd=repo,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=os.environ.copy(),
    )
    assert proc.stdout is not None
    seen: list[str] = []
    try:
        for line in proc.stdout:
            seen.append(line)
            if line.rstrip().endswith("] started-slow"):  # its output, not the "$ echo started-slow" announce
                assert health(sandbox.environments["staging"]) == (503, {"status": "maintenance"})
                proc.send_signal(signum)
                break
        rest, _ = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:  # a failed assertion above: leave nothing running
            proc.kill()
            proc.wait()
    out = "".join(seen) + rest
    assert proc.returncode == 130, out
    assert f"■ cancelled {signum.name}: the terminal closed or the process was told to stop" in out
    assert "running the post commands so the site is not left in maintenance mode" in out
    assert health(sandbox.environments["staging"])[0] == 200, out
    assert not list(sandbox.root.glob("staging/.iact-deploy.lock")), out
    assert not subprocess.run(["pgrep", "-f", sleep], capture_output=True).stdout  # the command ended
    journal = next(Path(os.environ["XDG_STATE_HOME"]).glob("iact-tui/runs/*/journal.jsonl"))
    kinds = [json.loads(line)["kind"] for line in journal.read_text().splitlines()]
    assert kinds[-1] == "run_finished", kinds[-5:]


def test_closing_the_terminal_of_the_demo_stops_its_servers(tmp_path: Path) -> None:
    """``iact-tui --demo``'s terminal closes: the wizard leaves at once (``os._exit``, past
    the ``finally`` that stops the demo's servers on a normal quit), and the servers (in
    sessions of their own, so the hang-up does not reach them) stop with it (found by an
    operator trial: the staging and production servers stayed up)."""
    root = tmp_path / "demo"
    term = Tmux(f"{shlex.quote(str(IACT))} --demo --dir {shlex.quote(str(root))}; sleep 60")
    try:
        term.wait_for("What are we doing today?", timeout=120)
        _press_until(term, "Enter", "MINOR")  # the run is loaded: a hang-up now leaves by os._exit
        pid = _wizard_pid(term)
        ports = [json.loads(state.read_text())["port"] for state in (root / "run").glob("*.json")]
        assert len(ports) == 2, ports
        for port in ports:
            socket.create_connection(("127.0.0.1", port), timeout=5).close()  # up while the wizard runs
    finally:
        term._tmux("kill-server")
    _wait_until_ended(pid)
    try:
        for port in ports:
            with pytest.raises(ConnectionRefusedError):
                socket.create_connection(("127.0.0.1", port), timeout=5).close()
    finally:
        demo.stop_sandbox(root)  # leave nothing running if it failed
