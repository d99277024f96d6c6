"""Fixtures shared by every test: an isolated state dir and git identity, real sandboxes."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from iact_tui import demo

# Every module in tests/support/ is a plugin of real test infrastructure (sshd, PostgreSQL...).
pytest_plugins = sorted(
    f"support.{path.stem}" for path in (Path(__file__).parent / "support").glob("*.py") if path.stem != "__init__"
)


@pytest.fixture(autouse=True)
def _isolated_env(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """Journals go to a temp state dir; git has an identity; no colour override."""
    state = tmp_path_factory.mktemp("state")
    monkeypatch.setenv("XDG_STATE_HOME", str(state))
    monkeypatch.delenv("NO_COLOR", raising=False)
    for key, value in {
        "GIT_AUTHOR_NAME": "Test Operator",
        "GIT_AUTHOR_EMAIL": "operator@example.invalid",
        "GIT_COMMITTER_NAME": "Test Operator",
        "GIT_COMMITTER_EMAIL": "operator@example.invalid",
    }.items():
        monkeypatch.setenv(key, value)


@pytest.fixture
def sandbox(tmp_path: Path) -> Iterator[demo.Sandbox]:
    """A fresh demo sandbox with its staging and production servers running."""
    box = demo.build_sandbox(tmp_path / "sandbox")
    try:
        yield box
    finally:
        demo.stop_sandbox(box.root)


@pytest.fixture
def quiet_sandbox(tmp_path: Path) -> Iterator[demo.Sandbox]:
    """A fresh demo sandbox without servers (for the git half of the release)."""
    box = demo.build_sandbox(tmp_path / "sandbox", start_servers=False)
    try:
        yield box
    finally:
        demo.stop_sandbox(box.root)


def pytest_configure(config: pytest.Config) -> None:
    os.environ.pop("NO_COLOR", None)
