"""Packaging and code hygiene: the wheel's contents, layering, ruff and mypy --strict.

The wheel is built once per session from the source tree (pip wheel, no dependencies,
no build isolation) and unpacked; mypy checks the unpacked package, because the
editable finder hides the mapped ``iact_tui.screens``/``iact_tui.styles`` from mypy.
"""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


@pytest.fixture(scope="session")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(out), str(ROOT)],
        check=True,
        capture_output=True,
        text=True,
    )
    (whl,) = out.glob("iact_tui-*.whl")
    return whl


@pytest.fixture(scope="session")
def unpacked(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    dest = tmp_path_factory.mktemp("unpacked")
    with zipfile.ZipFile(wheel) as zf:
        zf.extractall(dest)
    return dest


def test_wheel_maps_screens_and_styles_into_the_package(wheel: Path) -> None:
    names = set(zipfile.ZipFile(wheel).namelist())
    assert "iact_tui/py.typed" in names
    assert "iact_tui/screens/__init__.py" in names
    screens = [n for n in names if n.startswith("iact_tui/screens/") and n.endswith(".py")]
    assert len(screens) >= 5, screens
    tcss = [n for n in names if n.startswith("iact_tui/styles/") and n.endswith(".tcss")]
    assert "iact_tui/styles/base.tcss" in tcss and len(tcss) >= 3
    assert not any(n.startswith(("screens/", "styles/")) for n in names), "nothing installs top-level screens/styles"
    assert not (ROOT / "iact_tui" / "screens").exists(), "screens/ lives at the top level only"
    entry = next(n for n in names if n.endswith("entry_points.txt"))
    assert "iact-tui = iact_tui.cli:main" in zipfile.ZipFile(wheel).read(entry).decode()


def test_unpacked_wheel_imports_screens_and_finds_styles(unpacked: Path) -> None:
    code = (
        "import importlib.resources, iact_tui.screens, iact_tui.app;"
        "print(iact_tui.screens.__file__);"
        "print(sorted(p.name for p in importlib.resources.files('iact_tui.styles').iterdir() if p.name.endswith('.tcss')))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        cwd=unpacked,
        capture_output=True,
        text=True,
        env={"PYTHONPATH": str(unpacked), "PATH": "/usr/bin:/bin"},
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[0].startswith(str(unpacked))
    assert "base.tcss" in done.stdout


def test_headless_paths_never_import_textual() -> None:
    code = (
        "import sys, iact_tui.engine.run, iact_tui.services.git, iact_tui.cli, iact_tui.headless, iact_tui.demo;"
        "print([m for m in sys.modules if m == 'textual' or m.startswith('textual.')])"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"


def test_import_contracts_hold(unpacked: Path) -> None:
    # On the unpacked wheel: the editable finder hides the mapped packages from grimp.
    done = subprocess.run(
        [str(BIN / "lint-imports"), str(ROOT / "pyproject.toml")],
        cwd=unpacked,
        capture_output=True,
        text=True,
        env={"PYTHONPATH": str(unpacked), "PATH": "/usr/bin:/bin"},
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_ruff_is_clean() -> None:
    done = subprocess.run([str(BIN / "ruff"), "check", "."], cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr


def test_mypy_strict_is_clean_on_the_shipped_package(unpacked: Path) -> None:
    done = subprocess.run(
        [str(BIN / "mypy"), "--strict", "--config-file", str(ROOT / "pyproject.toml"), "-p", "iact_tui"],
        cwd=unpacked,
        capture_output=True,
        text=True,
        env={"MYPYPATH": str(unpacked), "PATH": "/usr/bin:/bin", "HOME": str(unpacked)},
    )
    assert done.returncode == 0, done.stdout + done.stderr
