"""Version files: exactly the version bytes change, in real files on disk."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from iact_tui.errors import VersionError, VersionFileError
from iact_tui.services.version_files import (
    FileVersion,
    VersionSource,
    bump_files,
    detect_kind,
    raise_lower_files,
    read_version,
    read_versions,
    replace_version,
    resolve_files,
    write_version,
)

PACKAGE_JSON = """{
    "name": "site",
    "version": "1.3.2",
    "private": true,
    "config": {"version": "9.9.9"},
    "dependencies": {
        "left-pad": "1.3.2",
        "version": "1.3.2"
    },
    "engines": {"node": ">=18"}
}
"""
PACKAGE_LOCK = """{
  "name": "site",
  "version": "1.3.2",
  "lockfileVersion": 3,
  "requires": true,
  "packages": {
    "": {
      "name": "site",
      "version": "1.3.2",
      "dependencies": {
        "left-pad": "1.3.2"
      }
    },
    "node_modules/left-pad": {
      "version": "1.3.2",
      "resolved": "https://registry.npmjs.org/left-pad/-/left-pad-1.3.2.tgz"
    }
  }
}
"""


@pytest.mark.parametrize(
    ("name", "kind"),
    [
        ("site/__init__.py", "python"),
        ("_version.py", "python"),
        ("pyproject.toml", "pyproject"),
        ("web/package.json", "package.json"),
        ("package-lock.json", "package-lock.json"),
        ("VERSION", "text"),
        ("src/pkg/VERSION.txt", "text"),
    ],
)
def test_detect_kind(name: str, kind: str) -> None:
    assert detect_kind(Path(name)) == kind


@pytest.mark.parametrize("name", ["setup.cfg", "VERSION.md", "Cargo.toml", "package.json5", "npm-shrinkwrap.json"])
def test_detect_kind_refuses(name: str) -> None:
    with pytest.raises(VersionFileError, match="cannot tell where its version is"):
        detect_kind(Path(name))


# (file name, before, after) — `after` is the whole file after setting 1.4.0.
CASES: list[tuple[str, str, str]] = [
    ("a.py", '__version__ = "1.3.2"\n', '__version__ = "1.4.0"\n'),
    ("a.py", "__version__ = '1.3.2'\n", "__version__ = '1.4.0'\n"),
    ("a.py", '__version__: str = "1.3.2"\n', '__version__: str = "1.4.0"\n'),
    (
        "a.py",
        '"""Site.\n\n__version__ = "0.0.0" in a docstring is not code.\n"""\n'
        'VERSION = "1.3.2"\nversion_info = (1, 3, 2)\n__version__  =  "1.3.2"   # keep\n'
        'def f():\n    __version__ = "x"\n    return __version__\n',
        '"""Site.\n\n__version__ = "0.0.0" in a docstring is not code.\n"""\n'
        'VERSION = "1.3.2"\nversion_info = (1, 3, 2)\n__version__  =  "1.4.0"   # keep\n'
        'def f():\n    __version__ = "x"\n    return __version__\n',
    ),
    ("a.py", 'name = "é—ü"; __version__ = "1.3.2"', 'name = "é—ü"; __version__ = "1.4.0"'),
    (
        "a.py",
        '# -*- coding: utf-8 -*-\r\n__version__ = "1.3.2"\r\n',
        '# -*- coding: utf-8 -*-\r\n__version__ = "1.4.0"\r\n',
    ),
    ("a.py", '\ufeff__version__ = "1.3.2"\n', '\ufeff__version__ = "1.4.0"\n'),
    (
        "pyproject.toml",
        '[build-system]\nrequires = ["setuptools"]\n\n[project]\nname = "site"  # the name\n'
        'version = "1.3.2"  # bumped by iact-tui\ndependencies = ["django==1.3.2"]\n\n'
        '[tool.other]\nversion = "1.3.2"\n',
        '[build-system]\nrequires = ["setuptools"]\n\n[project]\nname = "site"  # the name\n'
        'version = "1.4.0"  # bumped by iact-tui\ndependencies = ["django==1.3.2"]\n\n'
        '[tool.other]\nversion = "1.3.2"\n',
    ),
    (
        "pyproject.toml",
        "[tool.poetry]\nname = 'site'\nversion   =   '1.3.2'\n\n[tool.poetry.dependencies]\nversion = \"1.3.2\"\n",
        "[tool.poetry]\nname = 'site'\nversion   =   '1.4.0'\n\n[tool.poetry.dependencies]\nversion = \"1.3.2\"\n",
    ),
    (
        "pyproject.toml",
        '\ufeff[project]\r\nname = "site"\r\nversion = "1.3.2"',
        '\ufeff[project]\r\nname = "site"\r\nversion = "1.4.0"',
    ),
    (
        "pyproject.toml",
        '[project]\nversion = "1.3.2"\n\n[tool.poetry]\nversion = "1.3.2"\n',
        '[project]\nversion = "1.4.0"\n\n[tool.poetry]\nversion = "1.4.0"\n',
    ),
    (
        "pyproject.toml",
        '[ "project" ]\n"version" = "1.3.2"\n',
        '[ "project" ]\n"version" = "1.4.0"\n',
    ),
    (
        "package.json",
        PACKAGE_JSON,
        PACKAGE_JSON.replace('"version": "1.3.2",', '"version": "1.4.0",', 1),
    ),
    (
        "package.json",
        '\ufeff{\r\n\t"dependencies": {"version": "1.3.2"},\r\n\t"version" : "1.3.2"\r\n}',
        '\ufeff{\r\n\t"dependencies": {"version": "1.3.2"},\r\n\t"version" : "1.4.0"\r\n}',
    ),
    (
        "package-lock.json",
        PACKAGE_LOCK,
        PACKAGE_LOCK.replace(
            '"version": "1.3.2",\n  "lockfileVersion"', '"version": "1.4.0",\n  "lockfileVersion"'
        ).replace('"name": "site",\n      "version": "1.3.2"', '"name": "site",\n      "version": "1.4.0"'),
    ),
    (
        "package-lock.json",
        '{"name": "old", "version": "1.3.2", "lockfileVersion": 1, "dependencies": {"a": {"version": "1.3.2"}}}',
        '{"name": "old", "version": "1.4.0", "lockfileVersion": 1, "dependencies": {"a": {"version": "1.3.2"}}}',
    ),
]


@pytest.mark.parametrize(("name", "before", "after"), CASES)
def test_write_version_changes_only_the_version(tmp_path: Path, name: str, before: str, after: str) -> None:
    path = tmp_path / name
    path.write_bytes(before.encode("utf-8"))
    assert read_version(path) == FileVersion(path, detect_kind(path), "1.3.2")
    assert write_version(path, "1.4.0") == FileVersion(path, detect_kind(path), "1.4.0")
    assert path.read_bytes() == after.encode("utf-8")
    assert replace_version(before, detect_kind(path), "1.4.0") == after


def test_package_lock_cases_really_change_two_places() -> None:
    after = CASES[-2][2]
    data = json.loads(after)
    assert (data["version"], data["packages"][""]["version"]) == ("1.4.0", "1.4.0")
    assert data["packages"]["node_modules/left-pad"]["version"] == "1.3.2"
    assert data["packages"][""]["dependencies"]["left-pad"] == "1.3.2"


@pytest.mark.parametrize(
    ("name", "text", "what"),
    [
        pytest.param(
            "a.py",
            '__version__ = "1.3.2"\n__version__ = "1.3.3"\n',
            "a.py: __version__ is assigned 2 times (lines 1, 2)",
            id="two-assignments",
        ),
        pytest.param(
            "a.py",
            'try:\n    from ._v import __version__\nexcept ImportError:\n    __version__ = "0"\n',
            "a.py: __version__ is assigned 2 times (lines 2, 4)",
            id="conditional-bindings",
        ),
        pytest.param(
            "a.py",
            'VERSION = "1.3.2"\n',
            'a.py: no top-level __version__ = "..." assignment',
            id="none",
        ),
        pytest.param(
            "a.py",
            "__version__ = get_version()\n",
            "a.py: line 1 does not assign a string literal to __version__ at top level",
            id="not-literal",
        ),
        pytest.param(
            "a.py",
            '__version__ = """1.3.2"""\n',
            "a.py: line 1: __version__ is not a plain one-line string literal",
            id="triple-quoted",
        ),
        pytest.param(
            "a.py",
            "__version__ = (\n",
            "a.py: not valid Python (line 1: '(' was never closed)",
            id="syntax",
        ),
        pytest.param(
            "pyproject.toml",
            '[project]\nname = "site"\n\n[tool.other]\nversion = "1.3.2"\n',
            "pyproject.toml: no [project] version or [tool.poetry] version",
            id="pyproject-none",
        ),
        pytest.param(
            "pyproject.toml",
            '[project]\nversion = "1.3.2"\n[tool.poetry]\nversion = "1.3.1"\n',
            "pyproject.toml: [project] version '1.3.2' and [tool.poetry] version '1.3.1' differ",
            id="pyproject-disagree",
        ),
        pytest.param(
            "pyproject.toml",
            'project.version = "1.3.2"\n',
            'pyproject.toml: cannot find the line version = "1.3.2" under [project]',
            id="pyproject-dotted-key",
        ),
        pytest.param(
            "package.json",
            '{"name": "x"}\n',
            'package.json: no top-level "version" key',
            id="json-none",
        ),
        pytest.param(
            "package.json",
            '{"version": 1}\n',
            'package.json: top-level "version" is 1, not a string',
            id="json-number",
        ),
        pytest.param(
            "package.json",
            '{"version": "1.3.2", "version": "1.3.3"}\n',
            'package.json: top-level "version" appears 2 times',
            id="json-duplicate",
        ),
        pytest.param(
            "package.json",
            '{"version": "1.3.2",}\n',
            "package.json: not valid JSON (line 1, column 21: Expecting property name enclosed in double quotes)",
            id="json-invalid",
        ),
    ],
)
def test_read_version_refuses(tmp_path: Path, name: str, text: str, what: str) -> None:
    (tmp_path / name).write_text(text, encoding="utf-8")
    with pytest.raises(VersionFileError) as err:
        read_version(tmp_path / name)
    assert err.value.what == what.replace(name, str(tmp_path / name), 1)
    assert err.value.fix


_SETUPTOOLS = '[project]\nname = "pkg"\ndynamic = ["version"]\n\n[tool.setuptools.dynamic]\n'


@pytest.mark.parametrize(
    ("files", "pyproject", "source", "kind", "after"),
    [
        pytest.param(
            {"pkg/__init__.py": '"""The package."""\n__version__ = "1.3.2"\n'},
            _SETUPTOOLS + 'version = {attr = "pkg.__version__"}\n',
            "pkg/__init__.py",
            "python",
            '"""The package."""\n__version__ = "1.4.0"\n',
            id="setuptools-attr-package",
        ),
        pytest.param(
            {"src/pkg/_about.py": "__version__ = '1.3.2'\r\n"},
            _SETUPTOOLS + 'version = {attr = "pkg._about.__version__"}\n',
            "src/pkg/_about.py",
            "python",
            "__version__ = '1.4.0'\r\n",
            id="setuptools-attr-src-module",
        ),
        pytest.param(
            {"VERSION": "1.3.2\n"},
            _SETUPTOOLS + 'version = {file = "VERSION"}\n',
            "VERSION",
            "text",
            "1.4.0\n",
            id="setuptools-file",
        ),
        pytest.param(
            {"pkg/version.txt": "  1.3.2"},
            _SETUPTOOLS + 'version = {file = ["pkg/version.txt"]}\n',
            "pkg/version.txt",
            "text",
            "  1.4.0",
            id="setuptools-file-list-of-one",
        ),
        pytest.param(
            {"pkg/about.py": '__version__: str = "1.3.2"  # bumped by iact-tui\n'},
            '[project]\nname = "pkg"\ndynamic = ["version"]\n\n[tool.hatch.version]\npath = "pkg/about.py"\n',
            "pkg/about.py",
            "python",
            '__version__: str = "1.4.0"  # bumped by iact-tui\n',
            id="hatch-path",
        ),
        pytest.param(
            {"src/pkg/__init__.py": '__version__ = "1.3.2"\n'},
            '[project]\nname = "pkg"\ndynamic = ["version"]\n\n[tool.pdm.version]\nsource = "file"\n'
            'path = "src/pkg/__init__.py"\n',
            "src/pkg/__init__.py",
            "python",
            '__version__ = "1.4.0"\n',
            id="pdm-file",
        ),
        pytest.param(
            {"my_pkg.py": '"""Flit reads the docstring and __version__."""\n__version__ = "1.3.2"\n'},
            '[build-system]\nrequires = ["flit_core>=3.4"]\nbuild-backend = "flit_core.buildapi"\n\n'
            '[project]\nname = "my-pkg"\ndynamic = ["version", "description"]\n',
            "my_pkg.py",
            "python",
            '"""Flit reads the docstring and __version__."""\n__version__ = "1.4.0"\n',
            id="flit-module",
        ),
    ],
)
def test_dynamic_version_is_followed_to_its_file(
    tmp_path: Path, files: dict[str, str], pyproject: str, source: str, kind: str, after: str
) -> None:
    for name, text in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_bytes(text.encode())
    (tmp_path / "pyproject.toml").write_text(pyproject, encoding="utf-8")
    assert read_version(tmp_path / "pyproject.toml") == FileVersion(
        tmp_path / source, kind, "1.3.2", str(tmp_path / "pyproject.toml")
    )
    assert resolve_files(tmp_path, ["pyproject.toml"]) == [VersionSource(source, kind, "pyproject.toml")]
    # Listed twice (itself and through pyproject.toml): bumped once, reported once.
    bumped = bump_files(tmp_path, ["pyproject.toml", source], "1.4.0")
    assert bumped == [FileVersion(Path(source), kind, "1.4.0", "pyproject.toml")]
    assert (tmp_path / source).read_bytes() == after.encode()
    assert (tmp_path / "pyproject.toml").read_text(encoding="utf-8") == pyproject


@pytest.mark.parametrize(
    ("files", "pyproject", "what", "fix"),
    [
        pytest.param(
            {},
            '[project]\nname = "pkg"\ndynamic = ["version"]\n\n[tool.setuptools_scm]\n',
            '{pyproject}: the version is dynamic (dynamic = ["version"]) and comes from the git tag',
            "remove {pyproject} from version_files: the release's annotated tag sets that version",
            id="setuptools-scm",
        ),
        pytest.param(
            {},
            '[project]\nname = "pkg"\ndynamic = ["version"]\n\n[tool.hatch.version]\nsource = "vcs"\n',
            '{pyproject}: the version is dynamic (dynamic = ["version"]) and comes from the git tag',
            "remove {pyproject} from version_files: the release's annotated tag sets that version",
            id="hatch-vcs",
        ),
        pytest.param(
            {},
            '[project]\nname = "my-pkg"\ndynamic = ["version"]\n',
            '{pyproject}: the version is dynamic (dynamic = ["version"]) but {pyproject} does not say which file '
            "it is read from",
            "list the module holding __version__ instead (e.g. my_pkg/__init__.py)",
            id="unknown-backend",
        ),
        pytest.param(
            {},
            _SETUPTOOLS + 'version = {attr = "pkg.VERSION"}\n',
            '{pyproject}: the version is dynamic (dynamic = ["version"]): setuptools reads it from pkg.VERSION, '
            "which is not a __version__ attribute",
            'iact-tui rewrites __version__ = "..." only: use attr = "<module>.__version__", '
            "or list the file that holds the version",
            id="setuptools-attr-not-dunder",
        ),
        pytest.param(
            {},
            _SETUPTOOLS + 'version = {attr = "pkg.__version__"}\n',
            "the version is read from pkg.__version__, but none of pkg/__init__.py, pkg.py, src/pkg/__init__.py, "
            "src/pkg.py exists",
            "fix the build backend's setting in pyproject.toml, or list the file that holds __version__",
            id="setuptools-attr-module-missing",
        ),
        pytest.param(
            {},
            _SETUPTOOLS + 'version = {file = ["VERSION", "SUFFIX"]}\n',
            '{pyproject}: the version is dynamic (dynamic = ["version"]): setuptools joins 2 files into the version',
            'read it from one file (version = {{file = "VERSION"}}), then retry',
            id="setuptools-several-files",
        ),
        pytest.param(
            {},
            '[project]\nname = "pkg"\ndynamic = ["version"]\n\n[tool.hatch.version]\npath = "pkg/about.py"\n'
            'pattern = "BUILD = (?P<version>.+)"\n',
            '{pyproject}: the version is dynamic (dynamic = ["version"]): hatch reads it from pkg/about.py with a '
            "custom pattern",
            'use hatch\'s default pattern (__version__ = "1.2.3" in pkg/about.py), or list a file iact-tui can write',
            id="hatch-custom-pattern",
        ),
        pytest.param(
            {},
            _SETUPTOOLS + 'version = {file = "../VERSION"}\n',
            "{pyproject}: the version is read from ../VERSION, outside {root}",
            "keep the file that holds the version inside the repository",
            id="outside-the-repository",
        ),
        pytest.param(
            {"VERSION": "1.3.2\nbuilt on a Tuesday\n"},
            _SETUPTOOLS + 'version = {file = "VERSION"}\n',
            "{root}/VERSION: holds more than a version (2 lines)",
            "keep only the version (e.g. 1.2.3) in it, or list a file of a known kind",
            id="text-file-with-more",
        ),
    ],
)
def test_dynamic_version_refused_with_the_reason(
    tmp_path: Path, files: dict[str, str], pyproject: str, what: str, fix: str
) -> None:
    root = tmp_path / "repo"
    root.mkdir()
    (tmp_path / "VERSION").write_text("1.3.2\n")  # outside the repository
    for name, text in files.items():
        (root / name).write_text(text, encoding="utf-8")
    path = root / "pyproject.toml"
    path.write_text(pyproject, encoding="utf-8")
    with pytest.raises(VersionFileError) as err:
        read_version(path)
    assert err.value.what == what.format(pyproject=path, root=root)
    assert err.value.fix == fix.format(pyproject=path)
    _, errors = read_versions(root, ["pyproject.toml"])
    assert [e.what for e in errors] == [err.value.what.replace(str(path), "pyproject.toml")]


def test_read_versions_reports_each_file_in_order(tmp_path: Path) -> None:
    (tmp_path / "a.py").write_text('__version__ = "1.3.2"\n')
    (tmp_path / "package.json").write_text('{"name": "web", "version": "1.3.1"}\n')
    found, errors = read_versions(tmp_path, ["missing.py", "a.py", "package.json", "notes.md"])
    assert found == [
        FileVersion(Path("a.py"), "python", "1.3.2"),
        FileVersion(Path("package.json"), "package.json", "1.3.1"),
    ]
    assert [e.what for e in errors] == [
        f"version file {tmp_path / 'missing.py'} does not exist",
        f"{tmp_path / 'notes.md'}: cannot tell where its version is (not *.py, pyproject.toml, package.json, "
        "package-lock.json or VERSION)",
    ]


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(VersionFileError) as err:
        read_version(tmp_path / "nope.py")
    assert err.value.what == f"version file {tmp_path / 'nope.py'} does not exist"


def test_new_version_must_be_semver(tmp_path: Path) -> None:
    path = tmp_path / "a.py"
    path.write_text('__version__ = "1.3.2"\n', encoding="utf-8")
    with pytest.raises(VersionError, match="is not a SemVer version"):
        write_version(path, '1.4.0"; import os')
    assert path.read_text(encoding="utf-8") == '__version__ = "1.3.2"\n'


def _tree(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_bump_files_all(tmp_path: Path) -> None:
    (tmp_path / "site").mkdir()
    (tmp_path / "site/__init__.py").write_bytes(b'__version__ = "1.3.2"\r\n')
    (tmp_path / "pyproject.toml").write_bytes(b'[project]\nname = "site"\nversion = "1.3.2"\n')
    (tmp_path / "package.json").write_bytes(PACKAGE_JSON.encode())
    absolute = str(tmp_path / "package.json")
    result = bump_files(tmp_path, ["site/__init__.py", "pyproject.toml", absolute, "./pyproject.toml"], "1.4.0")
    assert result == [
        FileVersion(Path("site/__init__.py"), "python", "1.4.0"),
        FileVersion(Path("pyproject.toml"), "pyproject", "1.4.0"),
        FileVersion(Path(absolute), "package.json", "1.4.0"),
    ]
    assert _tree(tmp_path) == {
        "package.json": PACKAGE_JSON.replace('"version": "1.3.2",', '"version": "1.4.0",', 1).encode(),
        "pyproject.toml": b'[project]\nname = "site"\nversion = "1.4.0"\n',
        "site/__init__.py": b'__version__ = "1.4.0"\r\n',
    }
    # Retrying the same bump is harmless.
    assert bump_files(tmp_path, ["site/__init__.py"], "1.4.0")[0].version == "1.4.0"


@pytest.mark.parametrize(
    ("bad", "what"),
    [
        pytest.param(
            {"b.py": '__version__ = "1"\n__version__ = "2"\n'},
            "__version__ is assigned 2 times",
            id="two",
        ),
        pytest.param({}, "does not exist", id="missing"),
        pytest.param({"b.py": b"\xff\xfe__version__"}, "is not UTF-8", id="not-utf8"),
    ],
)
def test_bump_files_refuses_before_writing_anything(tmp_path: Path, bad: dict[str, str | bytes], what: str) -> None:
    (tmp_path / "a.py").write_text('__version__ = "1.3.2"\n', encoding="utf-8")
    (tmp_path / "package.json").write_text(PACKAGE_JSON, encoding="utf-8")
    for name, content in bad.items():
        data = content if isinstance(content, bytes) else content.encode()
        (tmp_path / name).write_bytes(data)
    before = _tree(tmp_path)
    with pytest.raises(VersionFileError, match=what):
        bump_files(tmp_path, ["a.py", "b.py", "package.json"], "1.4.0")
    assert _tree(tmp_path) == before


def test_bump_files_names_every_bad_file(tmp_path: Path) -> None:
    (tmp_path / "a.py").write_text('__version__ = "1.3.2"\n', encoding="utf-8")
    (tmp_path / "c.json").write_text("{}", encoding="utf-8")
    with pytest.raises(VersionFileError) as err:
        bump_files(tmp_path, ["a.py", "b.py", "c.json"], "1.4.0")
    assert err.value.what == (
        "2 version files cannot be bumped, nothing was written: "
        f"version file {tmp_path / 'b.py'} does not exist; "
        f"{tmp_path / 'c.json'}: cannot tell where its version is (not *.py, pyproject.toml,"
        " package.json, package-lock.json or VERSION)"
    )
    assert (tmp_path / "a.py").read_text(encoding="utf-8") == '__version__ = "1.3.2"\n'


def test_bump_files_restores_on_write_failure(tmp_path: Path) -> None:
    # A real write failure that root cannot override: a file-size limit (RLIMIT_FSIZE) in a
    # child process, small enough that the second, larger file cannot be written (EFBIG).
    (tmp_path / "a.py").write_text('__version__ = "1.3.2"\n', encoding="utf-8")
    big = '__version__ = "1.3.2"\n' + "# padding\n" * 800
    (tmp_path / "b.py").write_text(big, encoding="utf-8")
    code = textwrap.dedent(
        f"""
        import resource, signal, sys
        from pathlib import Path
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (4096, 4096))
        from iact_tui.errors import VersionFileError
        from iact_tui.services.version_files import bump_files
        try:
            bump_files(Path({str(tmp_path)!r}), ["a.py", "b.py"], "1.4.0")
        except VersionFileError as exc:
            print("refused:", exc.what)
            sys.exit(0)
        sys.exit("bump_files did not fail")
        """
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "cannot write version file" in done.stdout
    assert (tmp_path / "a.py").read_text(encoding="utf-8") == '__version__ = "1.3.2"\n'
    assert (tmp_path / "b.py").read_text(encoding="utf-8") == big


def test_write_keeps_file_mode(tmp_path: Path) -> None:
    path = tmp_path / "a.py"
    path.write_text('__version__ = "1.3.2"\n', encoding="utf-8")
    path.chmod(0o640)
    write_version(path, "1.4.0")
    assert path.stat().st_mode & 0o777 == 0o640


# -- properties ---------------------------------------------------------------------------

_semver = st.builds(
    lambda a, b, c, pre: f"{a}.{b}.{c}" + (f"-{pre}" if pre else ""),
    st.integers(0, 999),
    st.integers(0, 999),
    st.integers(0, 999),
    st.sampled_from(["", "rc.1", "alpha", "beta.2-x"]),
)
_filler = st.text(
    alphabet=st.characters(exclude_categories=["Cs"], exclude_characters="\"'\\\r\n\ufeff\x00"),
    max_size=20,
)
_newline = st.sampled_from(["\n", "\r\n"])


@st.composite
def _python_file(draw: st.DrawFn) -> tuple[str, int, str]:
    nl = draw(_newline)
    old = draw(_semver)
    comment = draw(_filler)
    quote = draw(st.sampled_from(['"', "'"]))
    head = draw(st.sampled_from(["", "\ufeff"])) + f"# {comment}{nl}NAME = {quote}{comment}{quote}{nl}"
    prefix = head + draw(st.sampled_from(["__version__ = ", "__version__: str = ", "__version__  =  "])) + quote
    tail = f"{quote}  # {comment}{nl}" + draw(st.sampled_from(["", f"x = 1{nl}"]))
    return prefix + old + tail, len(prefix), old


@st.composite
def _json_file(draw: st.DrawFn) -> tuple[str, int, str]:
    nl = draw(_newline)
    indent = draw(st.sampled_from(["  ", "    ", "\t"]))
    old = draw(_semver)
    key = json.dumps(draw(_filler))
    dep = draw(_semver)
    prefix = f'{{{nl}{indent}{key}: {{"version": "{dep}"}},{nl}{indent}"version": "'
    tail = f'",{nl}{indent}"dependencies": {{"a": "{old}"}}{nl}}}' + draw(st.sampled_from(["", nl]))
    return prefix + old + tail, len(prefix), old


@given(case=_python_file(), new=_semver)
def test_python_replace_changes_exactly_the_version(case: tuple[str, int, str], new: str) -> None:
    text, at, old = case
    assert replace_version(text, "python", new) == text[:at] + new + text[at + len(old) :]


@given(case=_json_file(), new=_semver)
def test_json_replace_changes_exactly_the_version(case: tuple[str, int, str], new: str) -> None:
    text, at, old = case
    assert replace_version(text, "package.json", new) == text[:at] + new + text[at + len(old) :]


def test_raise_lower_files_raises_only_lower_versions(tmp_path: Path) -> None:
    """A hotfix's backport: 1.3.2 and 1.3.3-rc.1 go up to 1.3.3 (SemVer 2.0.0 §11), 1.4.0
    and 1.3.3 stay, a non-SemVer value is left alone; only the version bytes change."""
    files = {
        "a/__init__.py": '__version__ = "1.3.2"\n',
        "b/__init__.py": '__version__ = "1.3.3-rc.1"\n',
        "c/__init__.py": '__version__ = "1.4.0"  # the next release\n',
        "d/__init__.py": '__version__ = "1.3.3"\n',
        "e/__init__.py": '__version__ = "dev"\n',
    }
    for name, text in files.items():
        (tmp_path / name).parent.mkdir()
        (tmp_path / name).write_text(text)
    raised = raise_lower_files(tmp_path, list(files), "1.3.3")
    assert [(str(f.path), f.version) for f in raised] == [("a/__init__.py", "1.3.2"), ("b/__init__.py", "1.3.3-rc.1")]
    after = {name: (tmp_path / name).read_text() for name in files}
    assert after["a/__init__.py"] == '__version__ = "1.3.3"\n'
    assert after["b/__init__.py"] == '__version__ = "1.3.3"\n'
    assert after["c/__init__.py"] == files["c/__init__.py"]
    assert after["d/__init__.py"] == files["d/__init__.py"] and after["e/__init__.py"] == files["e/__init__.py"]
    assert raise_lower_files(tmp_path, list(files), "1.3.3") == []
    with pytest.raises(VersionError):
        raise_lower_files(tmp_path, list(files), "1.3")
