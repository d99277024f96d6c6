"""Fixtures for the screen tests: a tiny real git repository and the app over it."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from ui_helpers import build_tiny_repo

from iact_tui.app import IactApp, make_app
from iact_tui.config import load_config


def pytest_configure(config: pytest.Config) -> None:
    # NO_COLOR changes the render and breaks snapshots.
    os.environ.pop("NO_COLOR", None)


@pytest.fixture
def tiny_config_path(tmp_path: Path) -> Path:
    """Config file of a fresh tiny repository (no environments)."""
    return build_tiny_repo(tmp_path / "tiny")


@pytest.fixture
def tiny_app(tiny_config_path: Path, tmp_path: Path) -> IactApp:
    """The app over the tiny repository, journals in ``tmp_path/state``."""
    return make_app(load_config(tiny_config_path), state_dir=tmp_path / "state", snapshot_mode=True)
