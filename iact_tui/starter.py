"""``iact-tui init``: detect a repository's release settings and write a starter config."""

from __future__ import annotations

import json
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

import git
import semver

_SKIP_DIRS = {
    ".git",
    ".venv",
    "venv",
    "node_modules",
    "build",
    "dist",
    "__pycache__",
    ".tox",
    ".mypy_cache",
    "site-packages",
}


@dataclass
class Detected:
    """What ``init`` found; ``notes`` explain each guess to the operator."""

    main_branch: str = "main"
    remote: str = "origin"
    tag_prefix: str = "v"
    changelog: str = "CHANGELOG.md"
    version_files: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def detect(root: Path) -> Detected:
    """Guess main branch, remote, tag prefix, version files and changelog for ``root``.

    Args:
        root: The repository's working tree (need not be a git repository).

    Returns:
        The guesses, with a note for each.
    """
    found = Detected()
    try:
        repo = git.Repo(root)
    except (git.InvalidGitRepositoryError, git.NoSuchPathError):
        found.notes.append("not a git repository: defaults used for branch, remote and tag prefix")
        repo = None
    if repo is not None:
        remotes = [r.name for r in repo.remotes]
        if remotes:
            found.remote = "origin" if "origin" in remotes else remotes[0]
        found.notes.append(f"remote: {found.remote}" + ("" if remotes else " (no remote yet)"))
        found.main_branch = _main_branch(repo, found.remote)
        found.notes.append(f"main branch: {found.main_branch}")
        tags = [t.name for t in repo.tags]
        prefixed = sum(1 for t in tags if t.startswith("v") and semver.Version.is_valid(t[1:]))
        bare = sum(1 for t in tags if semver.Version.is_valid(t))
        found.tag_prefix = "" if bare > prefixed else "v"
        found.notes.append(f"tag prefix: {found.tag_prefix!r} ({prefixed} v-tags, {bare} bare tags)")
    for name in ("CHANGELOG.md", "CHANGELOG", "CHANGES.md", "HISTORY.md"):
        if (root / name).is_file():
            found.changelog = name
            break
    found.notes.append(
        f"changelog: {found.changelog}" + ("" if (root / found.changelog).exists() else " (will be created)")
    )
    found.version_files = _version_files(root)
    found.notes.append("version files: " + (", ".join(found.version_files) or "none found; add them to version_files"))
    return found


def _main_branch(repo: git.Repo, remote: str) -> str:
    try:
        ref = repo.git.symbolic_ref(f"refs/remotes/{remote}/HEAD")
        return str(ref).rsplit("/", 1)[-1]
    except git.GitCommandError:
        pass
    names = {h.name for h in repo.heads}
    for candidate in ("main", "master", "trunk", "develop"):
        if candidate in names:
            return candidate
    try:
        return str(repo.active_branch.name)
    except TypeError:
        return "main"


def _walk(root: Path, depth: int) -> list[Path]:
    out: list[Path] = []
    stack = [(root, 0)]
    while stack:
        folder, d = stack.pop()
        try:
            entries = sorted(folder.iterdir())
        except OSError:
            continue
        for entry in entries:
            if entry.is_dir():
                if d < depth and entry.name not in _SKIP_DIRS and not entry.name.startswith("."):
                    stack.append((entry, d + 1))
            else:
                out.append(entry)
    return out


def _version_files(root: Path) -> list[str]:
    files: list[str] = []
    for path in sorted(_walk(root, 2)):
        rel = path.relative_to(root).as_posix()
        if path.name == "__init__.py" and rel.count("/") <= 2:
            text = path.read_text(encoding="utf-8", errors="replace")
            if re.search(r"^__version__\s*(:\s*str\s*)?=\s*['\"]", text, re.M):
                files.append(rel)
        elif path.name == "pyproject.toml":
            try:
                data = tomllib.loads(path.read_text(encoding="utf-8"))
            except (tomllib.TOMLDecodeError, UnicodeDecodeError):
                continue
            if "version" in data.get("project", {}) or "version" in data.get("tool", {}).get("poetry", {}):
                files.append(rel)
        elif path.name == "package.json" and "node_modules" not in rel:
            try:
                if "version" in json.loads(path.read_text(encoding="utf-8")):
                    files.append(rel)
            except (json.JSONDecodeError, UnicodeDecodeError):
                continue
    return files


def starter_toml(found: Detected) -> str:
    """A commented ``iact-release.toml`` from what :func:`detect` found."""
    files = ",\n    ".join(json.dumps(f) for f in found.version_files)
    files_block = (
        f"[\n    {files},\n]"
        if files
        else '[]  # e.g. ["myapp/__init__.py", "pyproject.toml", "frontend/package.json"]'
    )
    return f"""# iact-release.toml — how iact-tui releases this repository.
# Reference: the README's "Configuration" section. Secrets never go in this file:
# name an environment variable (password_env) or a command (password_command).

[project]
main_branch = {json.dumps(found.main_branch)}      # branch releases are cut from and merged into
remote = {json.dumps(found.remote)}
tag_prefix = {json.dumps(found.tag_prefix)}              # "" for bare versions (1.4.0)
changelog = {json.dumps(found.changelog)}  # Keep a Changelog 1.1.0
version_files = {files_block}

[checks]
tests = "pytest -q"                 # "" disables the check
coverage_report = "coverage.xml"    # Cobertura XML; "" disables
coverage_min = 80.0

[forge]
kind = "local"                      # merge the release branch into main locally and push

# Deploy targets. Absent environments are skipped with a notice.
# [environments.staging]
# transport = "local"
# app_dir = "/srv/iact"             # the app's checkout on the host
# python = ".venv/bin/python"       # {{python}}, relative to app_dir
# health_url = "https://staging.example.com/api/health"
# pre  = [{{ name = "maintenance mode on",  run = "{{python}} manage.py maintenance on" }}]
# post = [{{ name = "maintenance mode off", run = "{{python}} manage.py maintenance off" }}]
# # steps default to the Django procedure: fetch tags, check out {{tag}}, migrate,
# # collectstatic, restart the app service, reload the web server.
# [environments.staging.smoke.login]
# url = "https://staging.example.com/api/auth/login"
# username = "smoke"
# password_env = "IACT_SMOKE_PASSWORD"
#
# [environments.production]
# ... as staging; deploying to production always asks for the version to be typed.

[verify]
requests = 5
max_response_ms = 1000
"""
