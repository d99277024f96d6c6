"""No secret reaches any file a run writes, nor its output: a whole release with canaries.

The demo's smoke password (read by a command), a webhook URL whose path is its token, and
an API token sent in a smoke check's header are each a canary; after a full headless
release, every file under the run's state folder (journal, announcement), the repository
(work tree and .git), the origin, and the run's output are searched for them.
"""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest
from support.webhook import WebhookReceiver

pytestmark = pytest.mark.e2e

CLI = [sys.executable, "-m", "iact_tui"]


def git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=repo, capture_output=True, text=True, check=True).stdout.strip()


def files_holding(root: Path, needles: list[str]) -> list[str]:
    found = []
    for path in root.rglob("*"):
        if path.is_file() and not path.is_symlink():
            data = path.read_bytes()
            found += [f"{path}: {n[:6]}…" for n in needles if n.encode() in data]
    return found


def test_a_whole_release_leaves_no_secret_anywhere(
    tmp_path: Path, webhook: WebhookReceiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = tmp_path / "demo"
    built = subprocess.run([*CLI, "demo", str(root)], cwd=tmp_path, capture_output=True, text=True, timeout=180)
    assert built.returncode == 0, built.stderr
    try:
        repo = root / "repo"
        password = (root / "secrets" / "smoke-password").read_text().strip()
        api_token = "canary-" + secrets.token_hex(12)
        monkeypatch.setenv("IACT_CANARY_WEBHOOK", webhook.url)
        monkeypatch.setenv("IACT_CANARY_API_TOKEN", api_token)
        monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
        config = repo / "iact-release.toml"
        text = config.read_text().replace(
            'skip_reason = "demo: no stakeholders to tell"', 'webhook_env = "IACT_CANARY_WEBHOOK"'
        )
        staging_health = next(
            line.split("=", 1)[1].strip().strip('"') for line in text.splitlines() if line.startswith("health_url")
        )
        text += (
            "\n[[environments.staging.smoke.checks]]\n"
            f'name = "health with a token"\nurl = "{staging_health}"\n'
            'headers = { "X-Api-Token" = "$env:IACT_CANARY_API_TOKEN" }\n'
        )
        config.write_text(text)
        git(repo, "commit", "-qam", "chore: canaries")
        git(repo, "push", "-q", "origin", "main")
        done = subprocess.run(
            [*CLI, "run", "release", "--bump", "minor", "--yes"],
            cwd=repo,
            capture_output=True,
            text=True,
            timeout=600,
            env=os.environ.copy(),
        )
        output = done.stdout + done.stderr
        assert done.returncode == 0, output
        assert len(webhook.received) == 1  # the notice was really posted (its URL is a canary)
        journal = next((tmp_path / "state").rglob("journal.jsonl")).read_text()
        assert '"check_id": "http:health with a token", "label": "GET ' in journal  # the token check ran
        assert '"status": "passed"' in journal
        needles = [password, "T0KEN-s3cret", api_token]
        assert [n for n in needles if n in output] == []
        leaks = [
            *files_holding(tmp_path / "state", needles),
            *files_holding(repo, needles),
            *files_holding(root / "origin.git", needles),
        ]
        assert leaks == []
    finally:
        subprocess.run([*CLI, "demo", str(root), "--stop"], cwd=tmp_path, capture_output=True, timeout=60)
