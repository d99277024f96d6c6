"""JSON paths (``data.user.id``, ``items[0].name``, ``meta["a.b"]``) and JSON equality,
for the smoke checks' expectations; pure Python, so the config can validate paths when
the file is loaded."""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from typing import Any

_SEGMENT = re.compile(r'\.([^.\[\]"]+)|\[(-?\d+)\]|\["((?:[^"\\]|\\.)*)"\]')
_FIRST = re.compile(r'([^.\[\]"]+)')

#: One step of a path: a key, or a list index.
PathStep = str | int


def parse_path(path: str) -> tuple[PathStep, ...]:
    """Split a JSON path into keys (``str``) and list indexes (``int``).

    Args:
        path: E.g. ``data.user.id``, ``items[0].name``, ``meta["a.b"]``.

    Returns:
        The steps, e.g. ``("items", 0, "name")``.

    Raises:
        ValueError: The path is empty or malformed (the message shows where); a
            ``ValueError`` so that a pydantic validator can raise it as is.
    """
    if not path:
        raise ValueError("empty JSON path")
    steps: list[PathStep] = []
    pos = 0
    first = _FIRST.match(path)
    if first:
        steps.append(first.group(1))
        pos = first.end()
    while pos < len(path):
        m = _SEGMENT.match(path, pos)
        if not m or (not steps and path[pos] == "."):
            raise ValueError(f"malformed JSON path {path!r} at character {pos + 1}: {path[pos:]!r}")
        if m.group(1) is not None:
            steps.append(m.group(1))
        elif m.group(2) is not None:
            steps.append(int(m.group(2)))
        else:
            steps.append(json.loads(f'"{m.group(3)}"'))
        pos = m.end()
    if not steps:
        raise ValueError(f"malformed JSON path {path!r}")
    return tuple(steps)


def format_path(steps: Sequence[PathStep]) -> str:
    """The path text for ``steps`` (the inverse of :func:`parse_path`)."""
    out = ""
    for step in steps:
        if isinstance(step, int):
            out += f"[{step}]"
        elif re.fullmatch(r'[^.\[\]"]+', step):
            out += f".{step}" if out else step
        else:
            out += f"[{json.dumps(step)}]"
    return out


class PathNotFound(LookupError):
    """A JSON path leads nowhere; the message names the last step reached and why."""


def lookup(document: Any, path: str | Sequence[PathStep]) -> Any:
    """The value at ``path`` in a parsed JSON document.

    Args:
        document: What ``json.loads`` returned.
        path: A path string or the steps from :func:`parse_path`.

    Raises:
        PathNotFound: A key is missing, an index is out of range, or a step meets a
            value of the wrong kind (the message names where, e.g. ``data.user has no
            key 'id' (keys: name, email)``).
        ValueError: ``path`` is a malformed string.
    """
    steps = parse_path(path) if isinstance(path, str) else tuple(path)
    value = document
    for i, step in enumerate(steps):
        where = format_path(steps[:i]) or "the body"
        if isinstance(step, int):
            if not isinstance(value, list):
                raise PathNotFound(f"{where} is {_kind(value)}, not a list")
            if not -len(value) <= step < len(value):
                raise PathNotFound(f"{where} has {len(value)} item(s), no index {step}")
            value = value[step]
        else:
            if not isinstance(value, dict):
                raise PathNotFound(f"{where} is {_kind(value)}, not an object")
            if step not in value:
                keys = ", ".join(list(value)[:10]) or "none"
                raise PathNotFound(f"{where} has no key {step!r} (keys: {keys})")
            value = value[step]
    return value


def json_equal(a: Any, b: Any) -> bool:
    """Equality as JSON sees it: booleans only equal booleans, ``1 == 1.0``, containers deeply."""
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a == b
    if isinstance(a, int | float) and isinstance(b, int | float):
        return a == b
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(json_equal(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(json_equal(x, y) for x, y in zip(a, b, strict=True))
    return type(a) is type(b) and bool(a == b)


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    return "an object"
