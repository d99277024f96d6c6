"""``iact-tui init``: detect a repository's release settings and write a starter config.

Version files are found the way the release reads them (``services.version_files``):
every candidate below the root (at most :data:`MAX_DEPTH` folders deep, skipping
:data:`_SKIP_DIRS`, hidden folders and virtualenvs) is listed only if ``read_versions``
reads a version from it. A ``pyproject.toml`` with a dynamic version is listed itself
(the release follows it to the file its build backend reads) and that file is not listed
twice; one whose version comes from the git tag (setuptools-scm, hatch-vcs...) is named
in a comment of the starter config instead, since the release tag sets that version.
"""

from __future__ import annotations

import json
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

import git
import semver

from iact_tui.errors import VersionFileError
from iact_tui.services import version_files

MAX_DEPTH = 3
"""How many folders below the root ``init`` looks for version files (``a/b/c/VERSION``)."""

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
    "target",
    "out",
    "coverage",
    "htmlcov",
}
_CANDIDATES = {
    "pyproject.toml",
    "package.json",
    "package-lock.json",
    "VERSION",
    "VERSION.txt",
    "version.txt",
    "version",
}
# A whole-file version (``text`` kind) must look like one: 1.2, 1.2.3, v1.2.3-rc.1, 1.2.3.post1...
_TEXT_VERSION = re.compile(r"^v?\d+(\.\d+)+([-+.]?[0-9A-Za-z.+-]*)?$")
# Build requirements that take the version from the git tag.
_TAG_PLUGINS = ("setuptools-scm", "setuptools_scm", "hatch-vcs", "hatch_vcs", "versioningit", "dunamai", "pbr")


@dataclass
class Detected:
    """What ``init`` found; ``notes`` explain each guess to the operator."""

    main_branch: str = "main"
    remote: str = "origin"
    tag_prefix: str = "v"
    changelog: str = "CHANGELOG.md"
    version_files: list[str] = field(default_factory=list)
    from_git_tag: list[str] = field(default_factory=list)
    """``pyproject.toml`` files whose version the git tag sets, e.g. ``"pyproject.toml (setuptools-scm)"``."""
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
    _detect_version_files(root, found)
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
    """Files under ``root`` at most ``depth`` folders deep, skipping tool, build and venv folders."""
    out: list[Path] = []
    stack = [(root, 0)]
    while stack:
        folder, d = stack.pop()
        try:
            entries = sorted(folder.iterdir())
        except OSError:
            continue
        for entry in entries:
            if entry.is_symlink():
                continue
            if entry.is_dir():
                if (
                    d < depth
                    and entry.name not in _SKIP_DIRS
                    and not entry.name.startswith(".")
                    and not entry.name.endswith(".egg-info")
                    and not (entry / "pyvenv.cfg").exists()
                ):
                    stack.append((entry, d + 1))
            elif entry.is_file():
                out.append(entry)
    return out


def _is_candidate(path: Path, rel: str) -> bool:
    """Whether ``path`` may hold the version: a name ``version_files`` knows, or an ``__init__.py`` with one."""
    if path.name == "package-lock.json":
        return (path.parent / "package.json").is_file()
    if path.name in _CANDIDATES:
        return True
    if path.name == "__init__.py" and rel.count("/") <= 2:
        text = path.read_text(encoding="utf-8", errors="replace")
        return re.search(r"^__version__\s*(:\s*str\s*)?=\s*['\"]", text, re.M) is not None
    return False


def _tag_versioning(path: Path) -> str | None:
    """The tool that sets ``path``'s (a pyproject.toml) dynamic version from the git tag, or ``None``."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError, UnicodeDecodeError):
        return None
    project, tool = data.get("project", {}), data.get("tool", {})
    if "version" not in project.get("dynamic", []):
        return "poetry-dynamic-versioning" if tool.get("poetry-dynamic-versioning", {}).get("enable") else None
    if "setuptools_scm" in tool:
        return "setuptools-scm"
    if tool.get("hatch", {}).get("version", {}).get("source") == "vcs":
        return "hatch-vcs"
    if tool.get("pdm", {}).get("version", {}).get("source") == "scm":
        return "pdm-backend scm"
    requires = " ".join(str(r) for r in data.get("build-system", {}).get("requires", [])).lower()
    return next((plugin.replace("_", "-") for plugin in _TAG_PLUGINS if plugin in requires), None)


def _detect_version_files(root: Path, found: Detected) -> None:
    """Fill ``found.version_files`` (and ``from_git_tag``, notes) with what the release can read."""
    readable: dict[str, version_files.FileVersion] = {}
    skipped: list[str] = []
    for path in sorted(_walk(root, MAX_DEPTH)):
        rel = path.relative_to(root).as_posix()
        if not _is_candidate(path, rel):
            continue
        try:
            versions, errors = version_files.read_versions(root, [rel])
        except VersionFileError as exc:  # an unknown kind: never listed
            skipped.append(exc.what)
            continue
        if errors or not versions:
            plugin = _tag_versioning(path) if path.name == "pyproject.toml" else None
            if plugin:
                found.from_git_tag.append(f"{rel} ({plugin})")
            elif path.name not in ("package.json", "package-lock.json"):
                # A package.json without a version is common (private packages): not worth a note.
                skipped.append(errors[0].what if errors else rel)
            continue
        got = versions[0]
        if got.kind == "text" and not _TEXT_VERSION.match(got.version):
            continue  # a file named "version" holding something else
        readable[rel] = got
    # A file a listed pyproject.toml points at is bumped through it: list it once.
    followed = {got.path.as_posix() for got in readable.values() if got.via}
    found.version_files = [rel for rel in readable if rel not in followed]
    described = [
        f"{rel} ({got.version}" + (f" in {got.path.as_posix()})" if got.via else ")")
        for rel, got in readable.items()
        if rel in found.version_files
    ]
    if described:
        found.notes.append("version files: " + ", ".join(described))
    elif not found.from_git_tag:
        found.notes.append("version files: none found; add them to version_files")
    if found.from_git_tag:
        found.notes.append(
            "version from the git tag: " + ", ".join(found.from_git_tag) + "; the release tag sets it, nothing to bump"
        )
    for what in skipped:
        found.notes.append(f"not a version file: {what}")


def starter_toml(found: Detected) -> str:
    """A commented ``iact-release.toml`` from what :func:`detect` found."""
    files = ",\n    ".join(json.dumps(f) for f in found.version_files)
    if files:
        files_block = f"[\n    {files},\n]"
    elif found.from_git_tag:
        files_block = "[]  # nothing to bump: the version comes from the git tag (see above)"
    else:
        files_block = '[]  # e.g. ["myapp/__init__.py", "pyproject.toml", "frontend/package.json"]'
    tag_comment = "".join(
        f"# {name}: the version comes from the git tag; the release's annotated tag sets it.\n"
        for name in found.from_git_tag
    )
    return f"""# iact-release.toml — how iact-tui releases this repository.
# Reference: the README's "Configuration" section. Secrets never go in this file:
# name an environment variable (password_env) or a command (password_command).

[project]
main_branch = {json.dumps(found.main_branch)}      # branch releases are cut from and merged into
remote = {json.dumps(found.remote)}
tag_prefix = {json.dumps(found.tag_prefix)}              # "" for bare versions (1.4.0)
changelog = {json.dumps(found.changelog)}  # Keep a Changelog 1.1.0
{tag_comment}version_files = {files_block}

[checks]
tests = "pytest -q"                 # "" disables the check
coverage_report = "coverage.xml"    # Cobertura XML; "" disables
coverage_min = 80.0

[forge]
kind = "local"                      # merge the release branch into main locally and push
# kind = "github"                   # or: through a release pull request (repository = "owner/name");
# smoke_comment = true              # then the staging smoke results are commented on that pull request

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
#
# The logs scanned after the production deploy, on each host: sizes are marked before
# its first command and only the lines written since are matched.
# [environments.production.logs]
# paths = ["/srv/iact/logs/app.log", "/var/log/nginx/access.log"]  # absolute, globs, ~/
# patterns = ['\\bERROR\\b', '\\bCRITICAL\\b', 'Traceback', '" 5\\d\\d ']  # the default
# max_matches = 0                  # matching lines allowed on each host
# require_files = false            # true: a path matching no readable file fails the scan
# maintenance_ignore = ['" 503 ']  # the default: such lines written while the deploy had the site
#                                  # in maintenance (from pre until post succeeded) are not counted

# Verification of production after its deploy: health and smoke again, timed requests
# to health_url, the logs above, and two checks done by hand.
[verify]
requests = 20                       # timed health requests
interval_seconds = 0.0              # seconds between two of them
max_p95_ms = 1000                   # 95th percentile (nearest rank), milliseconds
# max_response_ms = 2000            # the slowest one; unset: not judged
max_error_rate = 0.0                # 0.0-1.0; a request without a 2xx answer fails
"""
