"""``iact-tui init``'s detection on real repositories: every version file kind the release reads."""

from __future__ import annotations

import json
import subprocess
import tomllib
from pathlib import Path

import pytest

from iact_tui.config import load_config
from iact_tui.services.version_files import read_versions, resolve_files
from iact_tui.starter import detect, starter_toml


def make_repo(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    for args in (["init", "-q", "-b", "main"], ["add", "-A"], ["commit", "-qm", "feat: start"]):
        subprocess.run(["git", *args], cwd=root, check=True, capture_output=True)
    return root


def written(root: Path) -> tuple[str, list[str]]:
    """The starter config's text and its version_files, after checking it loads."""
    text = starter_toml(detect(root))
    (root / "iact-release.toml").write_text(text)
    load_config(root / "iact-release.toml")
    return text, tomllib.loads(text)["project"]["version_files"]


def lock(version: str) -> str:
    return json.dumps({"name": "web", "version": version, "lockfileVersion": 3, "packages": {"": {"version": version}}})


def test_dynamic_pyproject_lockfiles_poetry_subproject_and_bounds(tmp_path: Path) -> None:
    root = make_repo(
        tmp_path,
        {
            "pyproject.toml": '[project]\nname = "shop"\ndynamic = ["version"]\n\n'
            '[tool.setuptools.dynamic]\nversion = { file = "VERSION" }\n',
            "VERSION": "2.1.0\n",
            "frontend/package.json": '{"name": "web", "version": "2.1.0"}\n',
            "frontend/package-lock.json": lock("2.1.0"),
            "tool/pyproject.toml": '[tool.poetry]\nname = "shop-tool"\nversion = "2.1.0"\n',
            # never looked into: dependencies, virtualenvs, build output, too deep
            "frontend/node_modules/left-pad/package.json": '{"version": "1.3.0"}',
            "env/pyvenv.cfg": "home = /usr/bin\n",
            "env/lib/pkg/__init__.py": '__version__ = "9.9.9"\n',
            "build/lib/pyproject.toml": '[project]\nname = "x"\nversion = "0.0.1"\n',
            "a/b/c/d/VERSION": "1.0.0\n",
        },
    )
    text, files = written(root)
    # pyproject.toml stands for VERSION (followed when bumping): VERSION is not listed twice
    assert files == ["frontend/package-lock.json", "frontend/package.json", "pyproject.toml", "tool/pyproject.toml"]
    assert [s.path for s in resolve_files(root, files)] == [*files[:2], "VERSION", "tool/pyproject.toml"]
    versions, errors = read_versions(root, files)
    assert not errors and {v.version for v in versions} == {"2.1.0"}
    assert "none found" not in text


def test_hatch_path_and_a_plain_version_file(tmp_path: Path) -> None:
    hatch = make_repo(
        tmp_path / "hatch",
        {
            "pyproject.toml": '[project]\nname = "shop"\ndynamic = ["version"]\n\n'
            '[tool.hatch.version]\npath = "src/shop/__about__.py"\n',
            "src/shop/__about__.py": '__version__ = "0.4.0"\n',
            "src/shop/__init__.py": "",
        },
    )
    assert written(hatch)[1] == ["pyproject.toml"]
    plain = make_repo(tmp_path / "plain", {"VERSION": "v3.0.1\n", "docs/version.txt": "see VERSION\n"})
    assert written(plain)[1] == ["VERSION"]


@pytest.mark.parametrize(
    ("tool", "pyproject"),
    [
        (
            "setuptools-scm",
            '[build-system]\nrequires = ["setuptools>=64", "setuptools-scm>=8"]\n\n'
            '[project]\nname = "shop"\ndynamic = ["version"]\n\n[tool.setuptools_scm]\n',
        ),
        (
            "hatch-vcs",
            '[build-system]\nrequires = ["hatchling", "hatch-vcs"]\nbuild-backend = "hatchling.build"\n\n'
            '[project]\nname = "shop"\ndynamic = ["version"]\n\n[tool.hatch.version]\nsource = "vcs"\n',
        ),
        (
            "setuptools-scm",  # no [tool.setuptools_scm] table: setuptools-scm >= 8 infers it
            '[build-system]\nrequires = ["setuptools", "setuptools_scm"]\n\n[project]\nname = "shop"\ndynamic = ["version"]\n',
        ),
    ],
    ids=["setuptools-scm", "hatch-vcs", "setuptools-scm-inferred"],
)
def test_a_version_from_the_git_tag_is_said_in_a_comment(tmp_path: Path, tool: str, pyproject: str) -> None:
    root = make_repo(tmp_path, {"pyproject.toml": pyproject, "shop/__init__.py": ""})
    found = detect(root)
    assert found.from_git_tag == [f"pyproject.toml ({tool})"]
    assert not any("none found" in note for note in found.notes)
    assert any("version from the git tag" in note for note in found.notes)
    text, files = written(root)
    assert files == []
    assert f"# pyproject.toml ({tool}): the version comes from the git tag" in text
    assert "none found" not in text
