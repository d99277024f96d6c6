"""A demo sandbox whose every secret is a canary: the ``canary_demo`` fixture.

The demo's smoke password (read by a command), a webhook URL whose path is its token
(the production prep's stakeholder notice), and an API token sent in a staging smoke
check's header are each a canary. Tests run a whole release on it and search what it
wrote (and showed) for :attr:`CanaryDemo.needles`.
"""

from __future__ import annotations

import secrets
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:  # imported late: the webhook plugin registers after this one
    from support.webhook import WebhookReceiver

CLI = [sys.executable, "-m", "iact_tui"]


@dataclass(frozen=True)
class CanaryDemo:
    """The sandbox (``root``), its clone (``repo``), the run's state dir, and the canaries."""

    root: Path
    repo: Path
    state: Path
    needles: tuple[str, ...]

    @property
    def config_path(self) -> Path:
        return self.repo / "iact-release.toml"

    def files_holding(self, root: Path) -> list[str]:
        """Files under ``root`` holding a canary, as ``path: first 6 chars…``."""
        found = []
        for path in root.rglob("*"):
            if path.is_file() and not path.is_symlink():
                data = path.read_bytes()
                found += [f"{path}: {n[:6]}…" for n in self.needles if n.encode() in data]
        return found

    def leaks(self) -> list[str]:
        """Canaries in the state folder (journal, announcement), the clone and the origin."""
        return [
            *self.files_holding(self.state),
            *self.files_holding(self.repo),
            *self.files_holding(self.root / "origin.git"),
        ]


def _git(repo: Path, *args: str) -> None:
    subprocess.run(["git", *args], cwd=repo, capture_output=True, text=True, check=True)


@pytest.fixture
def canary_demo(tmp_path: Path, webhook: WebhookReceiver, monkeypatch: pytest.MonkeyPatch) -> Iterator[CanaryDemo]:
    """Build the demo with ``iact-tui demo``, put the canaries in its config and
    environment (committed and pushed, so the checklist's tree is clean), stop it after."""
    root = tmp_path / "demo"
    built = subprocess.run([*CLI, "demo", str(root)], cwd=tmp_path, capture_output=True, text=True, timeout=180)
    assert built.returncode == 0, built.stderr
    try:
        repo = root / "repo"
        password = (root / "secrets" / "smoke-password").read_text().strip()
        api_token = "canary-" + secrets.token_hex(12)
        state = tmp_path / "state"
        monkeypatch.setenv("IACT_CANARY_WEBHOOK", webhook.url)
        monkeypatch.setenv("IACT_CANARY_API_TOKEN", api_token)
        monkeypatch.setenv("XDG_STATE_HOME", str(state))
        config = repo / "iact-release.toml"
        text = config.read_text().replace(
            'skip_reason = "demo: no stakeholders to tell"', 'webhook_env = "IACT_CANARY_WEBHOOK"'
        )
        assert 'webhook_env = "IACT_CANARY_WEBHOOK"' in text
        staging_health = next(
            line.split("=", 1)[1].strip().strip('"') for line in text.splitlines() if line.startswith("health_url")
        )
        text += (
            "\n[[environments.staging.smoke.checks]]\n"
            f'name = "health with a token"\nurl = "{staging_health}"\n'
            'headers = { "X-Api-Token" = "$env:IACT_CANARY_API_TOKEN" }\n'
        )
        config.write_text(text)
        _git(repo, "commit", "-qam", "chore: canaries")
        _git(repo, "push", "-q", "origin", "main")
        yield CanaryDemo(root, repo, state, (password, "T0KEN-s3cret", api_token))
    finally:
        subprocess.run([*CLI, "demo", str(root), "--stop"], cwd=tmp_path, capture_output=True, timeout=60)
