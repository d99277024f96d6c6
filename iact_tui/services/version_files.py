"""Version strings inside project files: read them, and rewrite exactly their bytes.

This module owns where a version lives in each supported kind of file and how it is
replaced without touching anything else:

* ``python``: the one top-level ``__version__ = "x"`` (or ``'x'``, or
  ``__version__: str = "x"``) of a ``*.py`` file, found with :mod:`ast`;
* ``pyproject``: ``[project] version`` (PEP 621) or ``[tool.poetry] version`` of a
  ``pyproject.toml``, read with tomlkit and replaced on the raw text of that key line;
* ``package.json``: the top-level ``"version"`` (npm's package.json);
* ``package-lock.json``: the top-level ``"version"`` and ``packages[""].version`` (npm
  lockfile v2/v3), found with a JSON-aware scan;
* ``text``: a file holding only the version (setuptools' ``version = {file = "VERSION"}``).

A ``pyproject.toml`` whose version is dynamic (``dynamic = ["version"]``, PEP 621) is
resolved to the file its build backend reads the version from (:func:`resolve_files`):
setuptools ``attr``/``file``, hatch and PDM ``path``, flit's module; when the version
comes from the git tag (setuptools-scm, hatch-vcs...) or cannot be written, the error
says why.

Every byte outside the version value is preserved: quotes, spacing, comments, key order,
indentation, CRLF line endings, a UTF-8 BOM, a missing final newline.
"""

from __future__ import annotations

import ast
import contextlib
import json
import os
import re
import shutil
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import semver
import tomlkit
from tomlkit.exceptions import ParseError as TomlParseError

from iact_tui.errors import VersionError, VersionFileError

KINDS: tuple[str, ...] = ("python", "pyproject", "package.json", "package-lock.json", "text")
"""The kinds of version file this module understands."""

_BOM = "\ufeff"
_TEXT_NAMES = frozenset({"VERSION", "VERSION.txt", "version.txt", "version"})
# A plain one-line string literal: what a version value must be written as to be replaced.
_PY_LITERAL_RE = re.compile(r"""^(?P<q>["'])(?P<v>[^"'\\\r\n]*)(?P=q)$""")
_TOML_TABLE_RE = re.compile(r"^[ \t]*\[(?!\[)(?P<name>[^\[\]\r\n]+)\][ \t]*(?:#.*)?$")
_TOML_ARRAY_TABLE_RE = re.compile(r"^[ \t]*\[\[")
_TOML_VERSION_RE = re.compile(
    r"""^[ \t]*(?:version|"version"|'version')[ \t]*=[ \t]*(?P<q>["'])(?P<v>[^"'\\\r\n]*)(?P=q)"""
)


@dataclass(frozen=True)
class FileVersion:
    """The version found in (or written to) one file.

    Attributes:
        path: The file's path as given (absolute, or relative to the repository root).
        kind: One of :data:`KINDS`.
        version: The version string as it appears in the file.
        via: The configured ``pyproject.toml`` whose dynamic version lives in ``path``;
            empty when ``path`` itself was configured.
    """

    path: Path
    kind: str
    version: str
    via: str = ""


@dataclass(frozen=True)
class VersionSource:
    """A file that holds the version, as :func:`resolve_files` found it.

    Attributes:
        path: Relative to the repository root when configured so (or resolved from a
            pyproject.toml), else absolute; e.g. ``"pkg/__init__.py"``.
        kind: One of :data:`KINDS`.
        via: The configured ``pyproject.toml`` whose dynamic version this file holds;
            empty when ``path`` was configured itself.
    """

    path: str
    kind: str
    via: str = ""


@dataclass(frozen=True)
class _Span:
    """Where a version value sits in a text: ``text[start:end]`` is the value (no quotes)."""

    start: int
    end: int


def detect_kind(path: Path) -> str:
    """The kind of version file ``path`` is, by its name.

    Args:
        path: The file's path.

    Returns:
        ``"python"`` for ``*.py``, ``"pyproject"`` for ``pyproject.toml``,
        ``"package.json"``, ``"package-lock.json"``, or ``"text"`` for ``VERSION``,
        ``VERSION.txt``, ``version.txt`` and ``version``.

    Raises:
        VersionFileError: Any other name.
    """
    name = path.name
    if name in _TEXT_NAMES:
        return "text"
    if name == "pyproject.toml":
        return "pyproject"
    if name in ("package.json", "package-lock.json"):
        return name
    if name.endswith(".py"):
        return "python"
    raise VersionFileError(
        f"{path}: cannot tell where its version is (not *.py, pyproject.toml, package.json, package-lock.json or VERSION)",
        "list only those kinds of file in [project] version_files of iact-release.toml",
    )


# -- locating -----------------------------------------------------------------------------


def _split_bom(text: str) -> tuple[int, str]:
    """The BOM's length (0 or 1) and the text after it."""
    return (1, text[1:]) if text.startswith(_BOM) else (0, text)


def _locate(text: str, kind: str, where: str, base: Path | None = None) -> tuple[str, list[_Span]]:
    """The version and every span holding it in ``text`` (see the module docstring).

    Args:
        text: The file's text, decoded without newline translation (BOM kept).
        kind: One of :data:`KINDS`.
        where: The file's name for messages.
        base: The file's directory, for hints about dynamic versions; ``None``: no hints.

    Raises:
        VersionFileError: The version cannot be found exactly as the kind's rules say.
    """
    offset, body = _split_bom(text)
    if kind == "python":
        version, spans = _locate_python(body, where)
    elif kind == "pyproject":
        version, spans = _locate_pyproject(body, where, base)
    elif kind in ("package.json", "package-lock.json"):
        version, spans = _locate_json(body, kind, where)
    elif kind == "text":
        version, spans = _locate_text(body, where)
    else:
        raise VersionFileError(f"{where}: unknown version file kind {kind!r}", f"use one of {KINDS}")
    return version, [_Span(s.start + offset, s.end + offset) for s in spans]


def _line_starts(text: str) -> list[int]:
    """Offsets where each line starts (lines end at ``\\n``; ``\\r\\n`` counts once)."""
    starts = [0]
    starts.extend(m.end() for m in re.finditer("\n", text))
    return starts


def _char_offset(text: str, starts: list[int], lineno: int, col_bytes: int) -> int:
    """Character offset of an :mod:`ast` position (1-based line, UTF-8 byte column)."""
    line_start = starts[lineno - 1]
    line = text[line_start : starts[lineno] if lineno < len(starts) else len(text)]
    return line_start + len(line.encode("utf-8")[:col_bytes].decode("utf-8"))


def _binds_version(node: ast.stmt) -> bool:
    """Whether a statement binds the name ``__version__`` (assignment or import)."""
    targets: list[ast.expr] = []
    if isinstance(node, ast.Assign):
        targets = list(node.targets)
    elif isinstance(node, ast.AnnAssign | ast.AugAssign):
        targets = [node.target]
    elif isinstance(node, ast.Import | ast.ImportFrom):
        return any((a.asname or a.name) == "__version__" for a in node.names)
    for target in targets:
        for sub in ast.walk(target):
            if isinstance(sub, ast.Name) and sub.id == "__version__":
                return True
    return False


def _module_level(body: Sequence[ast.stmt]) -> list[ast.stmt]:
    """Statements run at import time: ``body`` and the blocks of its if/try/with/for/while."""
    found: list[ast.stmt] = []
    for node in body:
        found.append(node)
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            continue
        for field in ("body", "orelse", "finalbody"):
            found.extend(_module_level(getattr(node, field, []) or []))
        for handler in getattr(node, "handlers", []) or []:
            found.extend(_module_level(handler.body))
        for case in getattr(node, "cases", []) or []:
            found.extend(_module_level(case.body))
    return found


def _locate_python(text: str, where: str) -> tuple[str, list[_Span]]:
    """The single top-level ``__version__`` string literal of a Python module."""
    try:
        tree = ast.parse(text)
    except SyntaxError as exc:
        raise VersionFileError(
            f"{where}: not valid Python (line {exc.lineno}: {exc.msg})",
            "fix the syntax error, then retry",
        ) from None
    except ValueError as exc:  # e.g. a NUL byte in the source
        raise VersionFileError(f"{where}: not valid Python ({exc})", "fix the file, then retry") from None
    bindings = [n for n in _module_level(tree.body) if _binds_version(n)]
    if not bindings:
        raise VersionFileError(
            f'{where}: no top-level __version__ = "..." assignment',
            f'add __version__ = "0.1.0" to {where}, or list the file that has it',
        )
    if len(bindings) > 1:
        lines = ", ".join(str(n.lineno) for n in bindings)
        raise VersionFileError(
            f"{where}: __version__ is assigned {len(bindings)} times (lines {lines})",
            'keep exactly one top-level __version__ = "..." so the bump is unambiguous',
        )
    node = bindings[0]
    value = node.value if isinstance(node, ast.Assign | ast.AnnAssign) else None
    ok = (
        node in tree.body
        and isinstance(node, ast.Assign | ast.AnnAssign)
        and isinstance(node.targets[0] if isinstance(node, ast.Assign) else node.target, ast.Name)
        and (not isinstance(node, ast.Assign) or len(node.targets) == 1)
        and isinstance(value, ast.Constant)
        and isinstance(value.value, str)
    )
    if not ok or value is None or value.end_lineno is None or value.end_col_offset is None:
        raise VersionFileError(
            f"{where}: line {node.lineno} does not assign a string literal to __version__ at top level",
            f'write it as __version__ = "1.2.3" on its own line in {where}',
        )
    starts = _line_starts(text)
    start = _char_offset(text, starts, value.lineno, value.col_offset)
    end = _char_offset(text, starts, value.end_lineno, value.end_col_offset)
    literal = _PY_LITERAL_RE.match(text[start:end])
    if literal is None:
        raise VersionFileError(
            f"{where}: line {node.lineno}: __version__ is not a plain one-line string literal",
            f'write it as __version__ = "1.2.3" (no prefix, escapes or triple quotes) in {where}',
        )
    return literal["v"], [_Span(start + 1, end - 1)]


def _table_name(header: str) -> tuple[str, ...]:
    """A TOML table header's dotted name, parts unquoted and stripped (``tool . "poetry"``)."""
    return tuple(part.strip().strip("\"'") for part in header.split("."))


def _toml_table_version_span(text: str, table: tuple[str, ...]) -> list[_Span]:
    """Spans of ``version = "..."`` key lines directly inside ``[table]`` of a TOML text."""
    spans: list[_Span] = []
    current: tuple[str, ...] | None = ()
    pos = 0
    for raw in text.split("\n"):
        line = raw.removesuffix("\r")
        header = _TOML_TABLE_RE.match(line)
        if header:
            current = _table_name(header["name"])
        elif _TOML_ARRAY_TABLE_RE.match(line):
            current = None
        elif current == table and (key := _TOML_VERSION_RE.match(line)):
            spans.append(_Span(pos + key.start("v"), pos + key.end("v")))
        pos += len(raw) + 1
    return spans


def _dig(doc: Any, *keys: str) -> Any:
    """``doc[k1][k2]...`` or ``None`` when any level is missing or not a table."""
    for key in keys:
        if not hasattr(doc, "get"):
            return None
        doc = doc.get(key)
    return doc


class _DynamicVersion(VersionFileError):
    """A pyproject.toml whose version is dynamic; ``source`` is (path, kind) or the reason it has none."""

    def __init__(self, what: str, fix: str, source: tuple[str, str] | None) -> None:
        super().__init__(what, fix)
        self.source = source


def _dynamic_source(doc: Any, where: str, base: Path | None) -> tuple[str, str]:
    """The file a dynamic version is read from: (path relative to the pyproject's folder, kind).

    Follows each build backend's documented setting: setuptools
    ``[tool.setuptools.dynamic] version = {attr = "pkg.__version__"}`` or
    ``{file = "VERSION"}``; hatch ``[tool.hatch.version] path`` (default regex pattern);
    PDM ``[tool.pdm.version] source = "file"``; flit (the module's ``__version__``).

    Raises:
        VersionFileError: The version comes from the git tag (setuptools-scm, hatch-vcs,
            PDM scm, poetry-dynamic-versioning), or it is read in a way iact-tui cannot
            write (an attribute other than ``__version__``, several files, a custom
            pattern), or the pyproject.toml does not say where it is.
    """
    what = f'{where}: the version is dynamic (dynamic = ["version"])'
    if (
        _dig(doc, "tool", "setuptools_scm") is not None
        or _dig(doc, "tool", "hatch", "version", "source") == "vcs"
        or _dig(doc, "tool", "pdm", "version", "source") == "scm"
        or _dig(doc, "tool", "poetry-dynamic-versioning", "enable") is True
    ):
        raise VersionFileError(
            f"{what} and comes from the git tag",
            f"remove {where} from version_files: the release's annotated tag sets that version",
        )
    setuptools = _dig(doc, "tool", "setuptools", "dynamic", "version")
    if setuptools is not None:
        attr, file = _dig(setuptools, "attr"), _dig(setuptools, "file")
        if isinstance(attr, str):
            module, _, name = attr.strip().rpartition(".")
            if name != "__version__" or not module:
                raise VersionFileError(
                    f"{what}: setuptools reads it from {attr}, which is not a __version__ attribute",
                    'iact-tui rewrites __version__ = "..." only: use attr = "<module>.__version__", '
                    "or list the file that holds the version",
                )
            return _module_file(module, base, attr), "python"
        if isinstance(file, list) and len(file) == 1:
            file = file[0]
        if isinstance(file, str):
            return file, "text"
        if isinstance(file, list):
            raise VersionFileError(
                f"{what}: setuptools joins {len(file)} files into the version",
                'read it from one file (version = {file = "VERSION"}), then retry',
            )
    hatch = _dig(doc, "tool", "hatch", "version")
    if hatch is not None:
        path = _dig(hatch, "path")
        if isinstance(path, str) and _dig(hatch, "pattern") is not None:
            raise VersionFileError(
                f"{what}: hatch reads it from {path} with a custom pattern",
                f'use hatch\'s default pattern (__version__ = "1.2.3" in {path}), or list a file iact-tui can write',
            )
        if isinstance(path, str):
            return path, "python" if path.endswith(".py") else "text"
    pdm_path = _dig(doc, "tool", "pdm", "version", "path")
    if _dig(doc, "tool", "pdm", "version", "source") == "file" and isinstance(pdm_path, str):
        return pdm_path, "python" if pdm_path.endswith(".py") else "text"
    backend = _dig(doc, "build-system", "build-backend")
    project = _dig(doc, "project", "name")
    if isinstance(backend, str) and backend.startswith("flit"):
        module = _dig(doc, "tool", "flit", "module", "name") or project
        if isinstance(module, str):
            return _module_file(module.replace("-", "_"), base, f"flit's module {module}"), "python"
    example = _module_candidates(project.replace("-", "_"))[0] if isinstance(project, str) else "pkg/__init__.py"
    raise VersionFileError(
        f"{what} but {where} does not say which file it is read from",
        f"list the module holding __version__ instead (e.g. {example})",
    )


def _module_candidates(module: str) -> list[str]:
    parts = module.split(".")
    return ["/".join(parts) + "/__init__.py", "/".join(parts) + ".py"]


def _module_file(module: str, base: Path | None, source: str) -> str:
    """The file of a dotted module name: ``pkg/__init__.py`` or ``pkg/mod.py``, at the root or under ``src/``.

    Raises:
        VersionFileError: ``base`` is given and none of the candidates exists.
    """
    candidates = [root + c for root in ("", "src/") for c in _module_candidates(module)]
    if base is None:
        return candidates[0]
    for candidate in candidates:
        if (base / candidate).is_file():
            return candidate
    raise VersionFileError(
        f"the version is read from {source}, but none of {', '.join(candidates)} exists",
        "fix the build backend's setting in pyproject.toml, or list the file that holds __version__",
    )


def _locate_pyproject(text: str, where: str, base: Path | None) -> tuple[str, list[_Span]]:
    """The static version of a pyproject.toml, from ``[project]`` and/or ``[tool.poetry]``."""
    try:
        doc = tomlkit.parse(text)
    except TomlParseError as exc:
        raise VersionFileError(f"{where}: not valid TOML ({exc})", "fix the TOML syntax, then retry") from None
    found: dict[tuple[str, ...], str] = {}
    tables: tuple[tuple[str, ...], ...] = (("project",), ("tool", "poetry"))
    for table in tables:
        value = _dig(doc, *table, "version")
        if value is None:
            continue
        if not isinstance(value, str):
            raise VersionFileError(
                f"{where}: [{'.'.join(table)}] version is not a string",
                f'write it as version = "1.2.3" in {where}',
            )
        found[table] = str(value)
    if not found:
        dynamic = _dig(doc, "project", "dynamic")
        if isinstance(dynamic, list) and "version" in dynamic:
            source: tuple[str, str] | None = None
            why = "bump the file its build backend reads the version from"
            try:
                source = _dynamic_source(doc, where, base)
            except VersionFileError as exc:
                raise _DynamicVersion(exc.what, exc.fix, None) from None
            raise _DynamicVersion(f'{where}: the version is dynamic (dynamic = ["version"])', why, source)
        raise VersionFileError(
            f"{where}: no [project] version or [tool.poetry] version",
            f'add version = "0.1.0" under [project] in {where}, or list the file that has it',
        )
    if len(set(found.values())) > 1:
        raise VersionFileError(
            f"{where}: [project] version {found[('project',)]!r} and [tool.poetry] version "
            f"{found[('tool', 'poetry')]!r} differ",
            "make them equal (or keep only one), then retry",
        )
    spans: list[_Span] = []
    for table, value in found.items():
        table_spans = [s for s in _toml_table_version_span(text, table) if text[s.start : s.end] == value]
        if len(table_spans) != 1:
            raise VersionFileError(
                f'{where}: cannot find the line version = "{value}" under [{".".join(table)}]',
                f'write it as version = "{value}" on its own line in the [{".".join(table)}] table',
            )
        spans.extend(table_spans)
    return next(iter(found.values())), spans


class _JsonScanner:
    """A scanner over valid JSON text that records the spans of string values at given paths.

    Paths are tuples of object keys (array items get their int index), so only the
    exact top-level ``"version"`` and ``packages[""].version`` match — never a
    dependency's ``"version"`` or a pinned ``"1.3.2"`` elsewhere.
    """

    def __init__(self, text: str, targets: set[tuple[str | int, ...]]) -> None:
        self.text = text
        self.targets = targets
        self.found: dict[tuple[str | int, ...], list[tuple[_Span, Any]]] = {}

    def scan(self) -> None:
        self._value(self._ws(0), ())

    def _ws(self, i: int) -> int:
        while i < len(self.text) and self.text[i] in " \t\r\n":
            i += 1
        return i

    def _string(self, i: int) -> int:
        """Index after the string starting at ``i`` (a ``"``)."""
        i += 1
        while self.text[i] != '"':
            i += 2 if self.text[i] == "\\" else 1
        return i + 1

    def _value(self, i: int, path: tuple[str | int, ...]) -> int:
        char = self.text[i]
        if char == "{":
            i = self._ws(i + 1)
            while self.text[i] != "}":
                end = self._string(i)
                key = json.loads(self.text[i:end])
                i = self._ws(self._ws(end) + 1)  # past ":"
                i = self._ws(self._value(i, (*path, key)))
                if self.text[i] == ",":
                    i = self._ws(i + 1)
            return i + 1
        if char == "[":
            i = self._ws(i + 1)
            index = 0
            while self.text[i] != "]":
                i = self._ws(self._value(i, (*path, index)))
                index += 1
                if self.text[i] == ",":
                    i = self._ws(i + 1)
            return i + 1
        if char == '"':
            end = self._string(i)
            end_value = end
        else:
            end = i
            while end < len(self.text) and self.text[end] not in ",]} \t\r\n":
                end += 1
            end_value = end
        if path in self.targets:
            value = json.loads(self.text[i:end_value])
            self.found.setdefault(path, []).append((_Span(i + 1, end_value - 1), value))
        return end


def _locate_json(text: str, kind: str, where: str) -> tuple[str, list[_Span]]:
    """The top-level ``"version"`` (and, for a lockfile, ``packages[""].version``)."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise VersionFileError(
            f"{where}: not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg})",
            "fix the JSON syntax, then retry",
        ) from None
    if not isinstance(data, dict):
        raise VersionFileError(f"{where}: the top level is not a JSON object", f"check {where}")
    top: tuple[str | int, ...] = ("version",)
    lock: tuple[str | int, ...] = ("packages", "", "version")
    scanner = _JsonScanner(text, {top, lock} if kind == "package-lock.json" else {top})
    scanner.scan()
    spans: list[_Span] = []
    version = ""
    for path in (top, lock):
        hits = scanner.found.get(path, [])
        label = 'top-level "version"' if path == top else 'packages[""].version'
        if not hits:
            if path == top:
                raise VersionFileError(
                    f'{where}: no top-level "version" key',
                    f'add "version": "0.1.0" to {where}, or list the file that has it',
                )
            continue
        if len(hits) > 1:
            raise VersionFileError(f"{where}: {label} appears {len(hits)} times", "keep one")
        span, value = hits[0]
        if not isinstance(value, str):
            raise VersionFileError(
                f"{where}: {label} is {json.dumps(value)}, not a string",
                f'write it as "version": "1.2.3" in {where}',
            )
        if text[span.start - 1] != '"':
            raise VersionFileError(f"{where}: {label} is not a string", f"check {where}")
        if path == top:
            version = value
        spans.append(span)
    return version, spans


def _locate_text(text: str, where: str) -> tuple[str, list[_Span]]:
    """A file whose whole content is the version (whitespace around it is kept)."""
    value = text.strip()
    if not value:
        raise VersionFileError(f"{where}: the file is empty", "write the version (e.g. 1.2.3) as its only content")
    if any(ch.isspace() for ch in value):
        raise VersionFileError(
            f"{where}: holds more than a version ({len(value.splitlines())} lines)",
            "keep only the version (e.g. 1.2.3) in it, or list a file of a known kind",
        )
    start = text.index(value)
    return value, [_Span(start, start + len(value))]


# -- reading and writing ------------------------------------------------------------------


def _read_text(path: Path) -> str:
    """The file decoded as UTF-8 with no newline translation (a BOM stays as ``\\ufeff``).

    Raises:
        VersionFileError: The file is missing, unreadable or not UTF-8.
    """
    try:
        return path.read_bytes().decode("utf-8")
    except FileNotFoundError:
        raise VersionFileError(
            f"version file {path} does not exist",
            "fix the path in [project] version_files of iact-release.toml",
        ) from None
    except IsADirectoryError:
        raise VersionFileError(f"version file {path} is a directory", "list a file, not a directory") from None
    except OSError as exc:
        raise VersionFileError(f"cannot read version file {path}: {exc.strerror}", "check its permissions") from None
    except UnicodeDecodeError as exc:
        raise VersionFileError(
            f"version file {path} is not UTF-8 (byte {exc.start})", "save it as UTF-8, then retry"
        ) from None


def _follow(path: Path, root: Path | None, name: str = "") -> tuple[Path, str, str]:
    """The file holding ``path``'s version: (file, kind, via).

    ``path`` itself with its kind and ``via=""``, or, for a pyproject.toml whose version
    is dynamic, the file its build backend reads (see :func:`_dynamic_source`) with
    ``via=str(path)``. Messages name the file ``name`` (as configured) or ``path``.

    Raises:
        VersionFileError: ``path`` cannot be read; its dynamic version has no file
            iact-tui can write; that file lies outside ``root`` (default: the
            pyproject's folder).
    """
    kind = detect_kind(path)
    if kind != "pyproject":
        return path, kind, ""
    where = name or str(path)
    try:
        _locate(_read_text(path), kind, where, path.parent)
    except _DynamicVersion as exc:
        if exc.source is None:
            raise
        relative, source_kind = exc.source
        target = path.parent / relative
        limit = (root if root is not None else path.parent).resolve()
        if not target.resolve().is_relative_to(limit):
            raise VersionFileError(
                f"{where}: the version is read from {relative}, outside {limit}",
                "keep the file that holds the version inside the repository",
            ) from None
        return target, source_kind, str(path)
    return path, kind, ""


def read_version(path: Path) -> FileVersion:
    """Read the version of one file.

    A ``pyproject.toml`` whose version is dynamic is followed to the file its build
    backend reads (``FileVersion.path`` is that file, ``via`` the pyproject.toml).

    Args:
        path: The file (its kind comes from its name, see :func:`detect_kind`).

    Returns:
        The :class:`FileVersion`, with ``path`` as given (or the followed file, built
        from it). For a lockfile this is the top-level ``"version"``.

    Raises:
        VersionFileError: The file is missing, not decodable, not parseable, has no
            version, has several ``__version__`` assignments, or its version is dynamic
            and cannot be followed (the message says why).
    """
    target, kind, via = _follow(path, None)
    version, _ = _locate(_read_text(target), kind, str(target), target.parent)
    return FileVersion(target, kind, version, via)


def _relative(root: Path, path: Path) -> str:
    """``path`` relative to ``root`` when it lies inside, else as is (POSIX separators)."""
    try:
        return path.relative_to(root).as_posix()
    except ValueError:
        return str(path)


def _full(root: Path, name: str) -> Path:
    return Path(name) if Path(name).is_absolute() else root / name


def resolve_files(root: Path, files: Sequence[str]) -> list[VersionSource]:
    """The files that really hold the version, for the bump and the release commit.

    Each configured file stands for itself, except a ``pyproject.toml`` whose version is
    dynamic, which stands for the file its build backend reads the version from. A file
    reached twice (listed, and named by a pyproject.toml) is given once. Blocking: call
    it off the event loop.

    Args:
        root: The repository root; relative paths are relative to it.
        files: The configured version files (``[project] version_files``).

    Returns:
        One :class:`VersionSource` per distinct file, in ``files`` order.

    Raises:
        VersionFileError: A file cannot be read or its dynamic version cannot be
            followed (the message names every failing file).
    """
    found, errors = _resolve(root, files)
    raise_all(errors, "version files cannot be resolved")
    return [item.source for item in found]


@dataclass(frozen=True)
class _Read:
    source: VersionSource
    full: Path
    text: str
    version: str


def _resolve(root: Path, files: Sequence[str], *, read: bool = False) -> tuple[list[_Read], list[VersionFileError]]:
    """Follow (and with ``read``, read and locate) each distinct file; errors in ``files`` order."""
    found: list[_Read] = []
    errors: list[VersionFileError] = []
    seen: set[Path] = set()
    for name in files:
        try:
            target, kind, via = _follow(_full(root, name), root, name)
            if target.resolve() in seen:
                continue
            seen.add(target.resolve())
            # A listed file keeps the name it was listed by; a followed one is named from the root.
            source = VersionSource(_relative(root, target), kind, name) if via else VersionSource(name, kind)
            text, version = "", ""
            if read:
                text = _read_text(target)
                version, _ = _locate(text, kind, str(target), target.parent)
        except VersionFileError as exc:
            errors.append(exc)
            continue
        found.append(_Read(source, target, text, version))
    return found, errors


def raise_all(errors: Sequence[VersionFileError], summary: str) -> None:
    """Raise the one error, or one naming them all; nothing when ``errors`` is empty.

    Args:
        errors: Errors from :func:`read_versions`, in file order.
        summary: Words after the count for several errors, e.g. ``"version files cannot be read"``.

    Raises:
        VersionFileError: ``errors`` is not empty.
    """
    if len(errors) == 1:
        raise errors[0]
    if errors:
        raise VersionFileError(
            f"{len(errors)} {summary}: " + "; ".join(e.what for e in errors),
            " ".join(e.fix for e in errors if e.fix),
        )


def read_versions(root: Path, files: Sequence[str]) -> tuple[list[FileVersion], list[VersionFileError]]:
    """Read every configured version file (following dynamic pyproject.toml versions).

    Blocking: call it off the event loop.

    Args:
        root: The repository root; relative paths are relative to it.
        files: The configured version files.

    Returns:
        The versions read (``path`` relative to ``root``, one per distinct file, in
        ``files`` order) and one error per file that could not be read.
    """
    found, errors = _resolve(root, files, read=True)
    return [FileVersion(Path(r.source.path), r.source.kind, r.version, r.source.via) for r in found], errors


def _check_new(new: str) -> None:
    """Refuse a new version that is not SemVer 2.0.0 (it could not be written verbatim)."""
    if not semver.Version.is_valid(new):
        raise VersionError(f"{new!r} is not a SemVer version", "pass MAJOR.MINOR.PATCH, e.g. 1.4.0")


def replace_version(text: str, kind: str, new: str) -> str:
    """Return ``text`` with its version value(s) replaced by ``new``; nothing else changes.

    Pure: no file is read. Every character outside the version value (quotes, spacing,
    comments, key order, CRLF, BOM, final newline or its absence) is kept.

    Args:
        text: The file's text, decoded as UTF-8 without newline translation.
        kind: One of :data:`KINDS` (see :func:`detect_kind`).
        new: The new version, SemVer 2.0.0 (so it needs no quoting or escaping).

    Returns:
        The new text.

    Raises:
        VersionError: ``new`` is not SemVer 2.0.0.
        VersionFileError: The version cannot be located (see :func:`read_version`).
    """
    _check_new(new)
    _, spans = _locate(text, kind, f"the {kind} text")
    out = text
    for span in sorted(spans, key=lambda s: s.start, reverse=True):
        out = out[: span.start] + new + out[span.end :]
    return out


def _write_bytes(path: Path, data: bytes) -> None:
    """Replace the file's content atomically, keeping its mode (symlinks are followed)."""
    target = path.resolve()
    fd, tmp = tempfile.mkstemp(prefix=".iact-tui-", suffix=".tmp", dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        shutil.copymode(target, tmp)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _write_checked(path: Path, kind: str, text: str, new: str) -> None:
    """Write the new version into ``path`` (whose text is ``text``), then read it back."""
    updated = replace_version(text, kind, new)
    try:
        _write_bytes(path, updated.encode("utf-8"))
    except OSError as exc:
        raise VersionFileError(f"cannot write version file {path}: {exc.strerror}", "check its permissions") from None
    after = _read_text(path)
    version, spans = _locate(after, kind, str(path))
    if after != updated or version != new or any(after[s.start : s.end] != new for s in spans):
        raise VersionFileError(
            f"{path}: reading back after the write did not give version {new}",
            "check whether another process changed the file, then retry",
        )


def write_version(path: Path, new: str) -> FileVersion:
    """Set the version of one file: read, replace the value's bytes, write, read back.

    Args:
        path: The file.
        new: The new version, SemVer 2.0.0.

    Returns:
        The :class:`FileVersion` read back after writing.

    Raises:
        VersionError: ``new`` is not SemVer 2.0.0.
        VersionFileError: The version cannot be located, the file cannot be written, or
            reading it back does not give ``new``.
    """
    _check_new(new)
    target, kind, _ = _follow(path, None)
    text = _read_text(target)
    _locate(text, kind, str(target), target.parent)
    _write_checked(target, kind, text, new)
    return read_version(path)


def bump_files(root: Path, files: Sequence[str], new: str) -> list[FileVersion]:
    """Set ``new`` in every version file, all or nothing.

    Every file is read and its version located first; if any fails, nothing is written
    and the error names every failing file. Then each file is written and read back; if a
    write fails, the files already written get their original bytes back. Files that
    already hold ``new`` are rewritten unchanged, so a retried bump is harmless. A
    ``pyproject.toml`` whose version is dynamic is followed to the file that holds it
    (see :func:`resolve_files`). A file reached twice is handled once.

    Args:
        root: The repository root; relative paths are relative to it.
        files: The configured version files (``[project] version_files``).
        new: The new version, SemVer 2.0.0.

    Returns:
        One :class:`FileVersion` per distinct file, in ``files`` order, ``path`` as given
        (or the followed file, relative to ``root``).

    Raises:
        VersionError: ``new`` is not SemVer 2.0.0.
        VersionFileError: A file cannot be read, located or written (nothing is left
            half-bumped).
    """
    _check_new(new)
    plan, errors = _resolve(root, files, read=True)
    raise_all(errors, "version files cannot be bumped, nothing was written")
    _write_all(plan, new)
    return [
        FileVersion(
            Path(r.source.path),
            r.source.kind,
            _locate(_read_text(r.full), r.source.kind, r.source.path)[0],
            r.source.via,
        )
        for r in plan
    ]


def _write_all(plan: Sequence[_Read], new: str) -> None:
    """Write ``new`` into every file of ``plan``, all or nothing.

    Raises:
        VersionFileError: A write failed or did not read back as ``new``; the files
            already written got their original bytes back.
        OSError: Likewise.
    """
    written: list[tuple[Path, str]] = []
    try:
        for item in plan:
            written.append((item.full, item.text))
            _write_checked(item.full, item.source.kind, item.text, new)
    except (VersionFileError, OSError):
        for full, text in written:
            with contextlib.suppress(OSError):  # best effort; the first error is reported
                _write_bytes(full, text.encode("utf-8"))
        raise


def _lower(held: str, new: semver.Version) -> bool:
    """Whether ``held`` is a SemVer version of lower precedence than ``new`` (SemVer 2.0.0 §11)."""
    try:
        return semver.Version.parse(held) < new
    except ValueError:
        return False


def raise_lower_files(root: Path, files: Sequence[str], new: str) -> list[FileVersion]:
    """Set ``new`` in each version file that holds a lower version; never lower one.

    A hotfix's backport uses it: main (or an open release branch) must not stay behind
    the hotfix's version, but its own higher version (the next release's) is kept. The
    order is SemVer 2.0.0 precedence (§11: ``1.3.2 < 1.3.3 < 1.4.0-rc.1 < 1.4.0``); a
    file whose version is not SemVer is left alone (it cannot be compared). All or
    nothing, like :func:`bump_files`.

    Args:
        root: The repository root (a worktree's); relative paths are relative to it.
        files: The configured version files (``[project] version_files``).
        new: The version, SemVer 2.0.0.

    Returns:
        One :class:`FileVersion` per file written, ``path`` as :func:`bump_files` names
        it and ``version`` the lower one it held before; empty when none was lower.

    Raises:
        VersionError: ``new`` is not SemVer 2.0.0.
        VersionFileError: A file cannot be read, located or written (nothing is written).
    """
    _check_new(new)
    plan, errors = _resolve(root, files, read=True)
    raise_all(errors, "version files cannot be raised, nothing was written")
    target = semver.Version.parse(new)
    lower = [item for item in plan if _lower(item.version, target)]
    _write_all(lower, new)
    return [FileVersion(Path(r.source.path), r.source.kind, r.version, r.source.via) for r in lower]
