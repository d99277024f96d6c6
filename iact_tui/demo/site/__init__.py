"""The sample "IACT" Django site the sandbox deploys, rendered at any point of its history.

The site's files live as package data under ``iact_tui/demo/site-template/`` with a ``.txt``
suffix, so they are neither imported, linted nor type-checked as part of ``iact_tui``.
A template may hold feature blocks, used to replay how the site grew commit by commit::

    #@if login          kept only while feature "login" is on
    #@if !login         kept only while it is off
    #@end               closes the innermost block

Marker lines never reach the rendered file. ``@@VERSION@@`` is replaced by the version.
A file whose rendering is empty does not exist at that point of history. A leading
``dot-`` in a name stands for ``.`` (``dot-gitignore.txt`` → ``.gitignore``).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from importlib import resources
from importlib.abc import Traversable

from iact_tui.errors import IactError

_MARKER = re.compile(r"^#@(if|end)\s*(!?)([a-z_]*)\s*$")
_SUFFIX = ".txt"


def _walk(folder: Traversable, prefix: str = "") -> Iterator[tuple[str, str]]:
    for entry in sorted(folder.iterdir(), key=lambda e: e.name):
        if entry.is_dir():
            yield from _walk(entry, f"{prefix}{entry.name}/")
        elif entry.name.endswith(_SUFFIX):
            name = entry.name[: -len(_SUFFIX)]
            if name.startswith("dot-"):
                name = "." + name[len("dot-") :]
            yield prefix + name, entry.read_text(encoding="utf-8")


def load_templates() -> dict[str, str]:
    """Read every template of the sample site.

    Returns:
        Repository-relative path (``core/views.py``) → template text.
    """
    root = resources.files("iact_tui.demo").joinpath("site-template")
    return dict(_walk(root))


def render(path: str, template: str, features: frozenset[str], version: str) -> str:
    """Render one template for a set of features.

    Args:
        path: The file's path, for error messages.
        template: The template text.
        features: The features switched on at this point of history.
        version: Replaces ``@@VERSION@@``.

    Returns:
        The file's text ending in one newline, or ``""`` when the file does not exist yet.

    Raises:
        IactError: A block is not closed or closed twice (a bug in the templates).
    """
    out: list[str] = []
    stack: list[bool] = []
    for number, line in enumerate(template.splitlines(), start=1):
        marker = _MARKER.match(line)
        if marker is None:
            if all(stack):
                out.append(line.replace("@@VERSION@@", version))
            continue
        kind, negate, name = marker.groups()
        if kind == "if":
            stack.append((name in features) != bool(negate))
        elif not stack:
            raise IactError(f"demo template {path}:{number}: #@end without #@if", "fix the template")
        else:
            stack.pop()
    if stack:
        raise IactError(f"demo template {path}: {len(stack)} #@if block(s) not closed", "fix the template")
    text = "\n".join(out).strip("\n")
    return text + "\n" if text.strip() else ""


def render_tree(templates: dict[str, str], features: Iterable[str], version: str) -> dict[str, str]:
    """Render every template; files that do not exist yet are left out.

    Args:
        templates: From :func:`load_templates`.
        features: The features switched on.
        version: The site's version at this point.

    Returns:
        Path → file text.
    """
    on = frozenset(features)
    tree: dict[str, str] = {}
    for path, template in templates.items():
        text = render(path, template, on, version)
        if text:
            tree[path] = text
    return tree
