"""Fill command templates with validated, shell-quoted values.

Every value put into a shell command is validated first (versions by SemVer 2.0.0, tags
and branches by git's ref rules, paths without control characters) and then
``shlex.quote``d, so a hostile value is refused or inert.
"""

from __future__ import annotations

import os
import re
import shlex
from dataclasses import dataclass
from pathlib import Path

import semver

from iact_tui.config import Config, EnvironmentConfig
from iact_tui.errors import CommandError, ConfigError, GitError
from iact_tui.services.git import check_ref_name

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


@dataclass(frozen=True)
class RenderedCommand:
    """A command ready to run: its name, the shell text, cwd (absolute) and timeout (s)."""

    name: str
    run: str
    cwd: str
    timeout: float


def _safe_path(value: str, what: str) -> str:
    if not value or any(ord(c) < 32 or ord(c) == 127 for c in value):
        raise ConfigError(
            f"{what} {value!r} contains control characters or is empty", "fix the path in iact-release.toml"
        )
    return value


def placeholder_values(config: Config, env: str, version: str, tag: str, branch: str = "") -> dict[str, str]:
    """The validated, quoted values for ``{version}``, ``{tag}``, ``{app_dir}``, ``{python}``,
    ``{env}``, ``{remote}`` and ``{branch}``.

    Raises:
        CommandError: A value fails validation (names which and why).
    """
    try:
        semver.Version.parse(version)
    except (ValueError, TypeError):
        raise CommandError(f"version {version!r} is not SemVer 2.0.0", "choose the version again") from None
    try:
        check_ref_name(tag)
        if branch:
            check_ref_name(branch)
    except GitError as exc:
        raise CommandError(exc.what, exc.fix) from None
    if not _NAME.match(env):
        raise CommandError(f"environment name {env!r} is not allowed", "use letters, digits, . _ -")
    remote = config.project.remote
    if not _NAME.match(remote):
        raise CommandError(f"remote name {remote!r} is not allowed", "use letters, digits, . _ -")
    app_dir = str(config.env_app_dir(env))
    python = _python_path(config.environments[env], app_dir)
    return {
        "version": shlex.quote(version),
        "tag": shlex.quote(tag),
        "app_dir": shlex.quote(_safe_path(app_dir, "app_dir")),
        "python": shlex.quote(_safe_path(python, "python")),
        "env": shlex.quote(env),
        "remote": shlex.quote(remote),
        "branch": shlex.quote(branch),
    }


def _python_path(env: EnvironmentConfig, app_dir: str) -> str:
    path = Path(env.python)
    return str(path if path.is_absolute() or "/" not in env.python else Path(app_dir) / path)


def render(
    config: Config, env: str, spec_run: str, name: str, cwd: str, timeout: float, values: dict[str, str]
) -> RenderedCommand:
    """Fill one command template.

    Args:
        config: The config (for ``app_dir``).
        env: The environment's name.
        spec_run: The template, e.g. ``"{python} manage.py migrate --noinput"``.
        name: The command's display name.
        cwd: The template's working directory, relative to ``app_dir`` (``""`` = app_dir).
        timeout: Seconds.
        values: From :func:`placeholder_values`.
    """
    app_dir = config.env_app_dir(env)
    return RenderedCommand(
        name=name, run=spec_run.format_map(values), cwd=os.path.normpath(app_dir / cwd), timeout=timeout
    )
