"""No secret reaches any file a run writes, nor its output: a whole headless release
with canaries (see ``support/canary.py``); every file under the run's state folder
(journal, announcement), the repository (work tree and .git), the origin, and the run's
output are searched for them. The wizard's screens are searched in
``tests/screens/test_canary_screens.py``.
"""

from __future__ import annotations

import os
import subprocess

import pytest
from support.canary import CLI, CanaryDemo
from support.webhook import WebhookReceiver

pytestmark = pytest.mark.e2e


def test_a_whole_release_leaves_no_secret_anywhere(canary_demo: CanaryDemo, webhook: WebhookReceiver) -> None:
    done = subprocess.run(
        [*CLI, "run", "release", "--bump", "minor", "--yes"],
        cwd=canary_demo.repo,
        capture_output=True,
        text=True,
        timeout=600,
        env=os.environ.copy(),
    )
    output = done.stdout + done.stderr
    assert done.returncode == 0, output
    assert len(webhook.received) == 1  # the notice was really posted (its URL is a canary)
    journal = next(canary_demo.state.rglob("journal.jsonl")).read_text()
    assert '"check_id": "http:health with a token", "label": "GET ' in journal  # the token check ran
    assert '"status": "passed"' in journal
    assert [n for n in canary_demo.needles if n in output] == []
    assert canary_demo.leaks() == []
