"""Fixtures building real sandboxes; every server started is stopped in teardown."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from iact_tui.demo import Sandbox, build_sandbox, stop_sandbox


def _build(root: Path, *, start_servers: bool) -> Iterator[Sandbox]:
    try:
        yield build_sandbox(root, start_servers=start_servers)
    finally:
        if root.is_dir():
            stop_sandbox(root)


@pytest.fixture(scope="module")
def offline_sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sandbox]:
    """A sandbox without servers, shared by a module's read-only tests."""
    yield from _build(tmp_path_factory.mktemp("offline") / "sandbox", start_servers=False)


@pytest.fixture(scope="module")
def served_sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sandbox]:
    """A sandbox with both servers up, shared by a module's tests that do not change it."""
    yield from _build(tmp_path_factory.mktemp("served") / "sandbox", start_servers=True)


@pytest.fixture
def own_sandbox(tmp_path: Path) -> Iterator[Sandbox]:
    """A sandbox with servers, for one test that changes it (maintenance, restart, stop)."""
    yield from _build(tmp_path / "sandbox", start_servers=True)
