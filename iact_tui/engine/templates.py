"""Markdown templates with named ``{placeholders}``, built in or read from a file the config names.

Shared by the release pull request's body (``[forge] pr_template``) and the release
announcement (``[announce] template``): one placeholder syntax, one way to read the file
(relative to ``iact-release.toml``), and one error naming the file and line of an
unknown placeholder.
"""

from __future__ import annotations

import asyncio
import difflib
import re
from collections.abc import Mapping, Sequence
from pathlib import Path

from iact_tui.errors import ConfigError

BUILT_IN = "the built-in template"
"""The ``source`` of a built-in template, as errors name it."""

_PLACEHOLDER = re.compile(r"\{\{|\}\}|\{([A-Za-z_][A-Za-z0-9_]*)\}")


def fill(
    template: str,
    values: Mapping[str, str],
    *,
    source: str = BUILT_IN,
    what: str = "the template",
    key: str = "",
    allowed: Sequence[str] = (),
) -> str:
    """Put ``values`` into ``template``.

    ``{name}`` is replaced by ``values[name]``; ``{{`` and ``}}`` are literal braces; any
    other brace (``{"a": 1}`` in a code block) is left as it is.

    Args:
        template: The Markdown template.
        values: Placeholder name → its text.
        source: The template's file (or :data:`BUILT_IN`), named in errors.
        what: What the template is for, e.g. ``"the pull request template"``.
        key: The config key naming the file, e.g. ``"[forge] pr_template"``, for the fix.
        allowed: The names to list in errors, in order; empty: ``values``' keys.

    Returns:
        The filled text.

    Raises:
        ConfigError: An unknown ``{name}``: the file and line, the allowed names, and a
            close match when there is one.
    """
    names = list(allowed or values)

    def put(match: re.Match[str]) -> str:
        token, name = match[0], match[1]
        if name is None:
            return token[0]
        if name in values:
            return values[name]
        line = template.count("\n", 0, match.start()) + 1
        close = difflib.get_close_matches(name, names, n=1)
        hint = f"; did you mean {{{close[0]}}}?" if close else ""
        listed = ", ".join(f"{{{p}}}" for p in names)
        where = f" ({key})" if key else ""
        raise ConfigError(
            f"{source}:{line}: unknown placeholder {{{name}}} in {what}{hint}",
            f"use {listed}; write a literal brace as {{{{ or }}}}{where}",
        )

    return _PLACEHOLDER.sub(put, template)


def check(
    template: str, names: Sequence[str], *, source: str = BUILT_IN, what: str = "the template", key: str = ""
) -> None:
    """Refuse a template with an unknown placeholder before anything is looked up for it.

    Raises:
        ConfigError: As :func:`fill`.
    """
    fill(template, dict.fromkeys(names, ""), source=source, what=what, key=key, allowed=names)


def read_sync(root: Path, config_name: str, name: str, *, key: str, default: str) -> tuple[str, str]:
    """The template ``name`` (relative to the config file's folder ``root``) or ``default``.

    Args:
        root: The folder holding the config file.
        config_name: The config file's name, for errors (``iact-release.toml``).
        name: The configured path; ``""`` for the built-in template.
        key: The config key, e.g. ``"[announce] template"``.
        default: The built-in template.

    Returns:
        ``(text, source)``: the file's text (a UTF-8 BOM removed) and its path, or
        ``(default, BUILT_IN)``.

    Raises:
        ConfigError: The file is missing or unreadable.
    """
    if not name:
        return default, BUILT_IN
    path = Path(name) if Path(name).is_absolute() else root / name
    field = key.split()[-1]
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(
            f"{key}: {path} does not exist (paths are relative to {config_name})",
            f'create it, fix the path in iact-release.toml, or set {field} = "" for the built-in template',
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(
            f"{key}: cannot read {path}: {exc}", "check the file's permissions and encoding (UTF-8)"
        ) from None
    return text.removeprefix("\ufeff"), str(path)


async def read(root: Path, config_name: str, name: str, *, key: str, default: str) -> tuple[str, str]:
    """:func:`read_sync` off the event loop."""
    return await asyncio.to_thread(read_sync, root, config_name, name, key=key, default=default)


def drop_empty_sections(markdown: str) -> str:
    """``markdown`` without the ``##``–``######`` headings left with nothing under them.

    A heading's section runs to the next heading of the same or a higher level; one whose
    section is blank (a placeholder that had nothing to say) is left out with its blank
    lines, innermost first. Headings inside code fences are text. ``#`` titles are kept.
    """
    lines = markdown.split("\n")
    fenced = False
    levels: dict[int, int] = {}
    for i, line in enumerate(lines):
        if line.lstrip().startswith(("```", "~~~")):
            fenced = not fenced
            continue
        match = re.match(r"^(#{2,6})\s+\S", line)
        if match and not fenced:
            levels[i] = len(match[1])
    dropped: set[int] = set()
    for head in sorted(levels, reverse=True):
        end = next(
            (i for i in sorted(levels) if i > head and i not in dropped and levels[i] <= levels[head]), len(lines)
        )
        body = [i for i in range(head + 1, end) if i not in dropped]
        if all(not lines[i].strip() for i in body):
            dropped.update(range(head, end))
    return "\n".join(line for i, line in enumerate(lines) if i not in dropped)


__all__ = ["BUILT_IN", "check", "drop_empty_sections", "fill", "read", "read_sync"]
