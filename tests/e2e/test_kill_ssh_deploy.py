"""``kill -9`` of iact-tui in the middle of a deploy over SSH, then ``run release --resume``.

The killed process's remote command goes on running on the host (no pty: a lost
connection sends no SIGHUP), and the resumed deploy releases this run's own deploy lock
before taking it again, so the lock alone would not keep a second attempt off the host.
The resume finds the command still running, says where and how to stop it, and changes
nothing; once it has ended, the resume deploys.
"""

from __future__ import annotations

import io
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from support.sshsite import SshSite

from iact_tui import headless
from iact_tui.config import load_config
from iact_tui.engine.resume import read_records

pytestmark = pytest.mark.e2e

SLOW = "sleep 4.3719"


def _running(marker: str) -> list[str]:
    return subprocess.run(["pgrep", "-f", f"^{marker}$"], capture_output=True, text=True).stdout.split()


async def test_kill_9_mid_ssh_deploy_then_resume_waits_for_the_remote_command(ssh_site: SshSite) -> None:
    site = ssh_site
    config_path = site.write_config(steps=[("slow step", f"echo started; {SLOW}; echo finished", 60.0)])
    repo = site.box.repo
    proc = subprocess.Popen(
        [sys.executable, "-m", "iact_tui", "run", "release", "--bump", "minor", "--yes", "--until", "deploy-staging"],
        cwd=repo,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=os.environ.copy(),
    )
    assert proc.stdout is not None
    seen = []
    for line in proc.stdout:
        seen.append(line)
        if re.search(r"\] started$", line.rstrip()):
            proc.send_signal(signal.SIGKILL)  # iact-tui only: the ssh session is cut with it
            break
    proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL, "".join(seen)
    try:
        assert _running(SLOW), "the remote command should outlive the connection (no pty)"
        config = load_config(config_path)
        out = io.StringIO()
        assert await headless.resume_release(config, until="deploy-staging", out=out) == 2
        said = out.getvalue()
        assert "the interrupted deploy's command is still running on 127.0.0.1" in said, said
        assert "steps command 'slow step'" in said and "kill -TERM -- -" in said, said
        assert "nothing was changed" in said
        assert "$ echo started" not in said  # the deploy did not run beside it

        deadline = time.monotonic() + 20
        while _running(SLOW) and time.monotonic() < deadline:
            time.sleep(0.1)
        out = io.StringIO()
        assert await headless.resume_release(config, until="deploy-staging", out=out) == 0, out.getvalue()
        assert "✔ deploy-staging: ok" in out.getvalue()
    finally:
        for pid in _running(SLOW):
            os.kill(int(pid), signal.SIGKILL)
    journal = next(Path(os.environ["XDG_STATE_HOME"]).glob("iact-tui/runs/*/journal.jsonl"))
    kinds = [r["kind"] for r in read_records(journal)]
    assert "remote_command_still_running" in kinds
    assert not site.in_maintenance()
