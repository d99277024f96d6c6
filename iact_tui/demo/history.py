"""The sample project's git history: who committed what, when, and which releases were cut.

The history is data (:data:`HISTORY`): Conventional Commits by four authors over half a
year, release commits ``chore: prepare release vX.Y.Z`` that bump the three version files
and move the changelog's ``[Unreleased]`` entries into a new section, annotated tags, and
a non-SemVer deploy tag. :func:`fast_import_stream` turns it into one ``git fast-import``
stream, so writing the whole history costs one process and every commit is deterministic
(names, e-mails, dates, contents) except the last one, which adds the sandbox's own
``iact-release.toml``.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime

from iact_tui.demo.site import load_templates, render_tree

MAIN = "main"
"""The sample project's main branch."""
LATEST_RELEASE = "1.3.2"
"""The version at the last release tag; the deploy targets run it."""
FIRST_VERSION = "0.1.0"
"""The version in the files before the first release."""

#: Keep a Changelog's section order.
CATEGORIES = ("Added", "Changed", "Deprecated", "Removed", "Fixed", "Security")
VERSION_FILES = ("iact/__init__.py", "pyproject.toml", "frontend/package.json")


@dataclass(frozen=True)
class Person:
    """An author (also committer and tagger) with the UTC offset of their clock."""

    name: str
    email: str
    tz: str

    def signature(self, when: str) -> str:
        """``Name <email> EPOCH ±HHMM`` as git wants it; ``when`` is local ``YYYY-MM-DD HH:MM``."""
        moment = datetime.strptime(f"{when} {self.tz}", "%Y-%m-%d %H:%M %z")
        return f"{self.name} <{self.email}> {int(moment.timestamp())} {self.tz}"


ANA = Person("Ana Castro", "ana.castro@iact.example", "+0100")
BEN = Person("Ben Okafor", "ben.okafor@iact.example", "+0000")
CHEN = Person("Chen Wei", "chen.wei@iact.example", "+0800")
DANA = Person("Dana Levi", "dana.levi@iact.example", "-0500")


@dataclass(frozen=True)
class Tag:
    """An annotated tag on the commit it is listed with."""

    name: str
    tagger: Person
    when: str
    message: str


@dataclass(frozen=True)
class Commit:
    """One commit of the history.

    Attributes:
        when: Author date in the author's local time, ``YYYY-MM-DD HH:MM``.
        author: Author and committer.
        message: The full commit message (subject, blank line, body).
        features: Template features this commit switches on (see :mod:`iact_tui.demo.site`).
        changelog: ``(category, entry)`` pairs added under ``## [Unreleased]``.
        release: The version this commit prepares: bumps the version files, moves the
            unreleased entries into a dated section, and is tagged ``v{release}``.
        tags: Further annotated tags on this commit.
    """

    when: str
    author: Person
    message: str
    features: tuple[str, ...] = ()
    changelog: tuple[tuple[str, str], ...] = ()
    release: str = ""
    tags: tuple[Tag, ...] = ()


def _release(when: str, who: Person, version: str, *tags: Tag) -> Commit:
    return Commit(when, who, f"chore: prepare release v{version}", release=version, tags=tags)


HISTORY: tuple[Commit, ...] = (
    Commit(
        "2024-01-08 09:14",
        ANA,
        "chore: scaffold the IACT Django project\n\n"
        "Settings work without environment variables; SQLite next to manage.py.",
    ),
    Commit(
        "2024-01-09 14:30",
        BEN,
        "feat(core): add the Project model\n\nWith its initial migration.",
        features=("project",),
        changelog=(("Added", "`Project` model and its first migration."),),
    ),
    Commit(
        "2024-01-11 10:05",
        ANA,
        "feat(api): add GET /api/health reporting the version",
        features=("health",),
        changelog=(("Added", "`GET /api/health` answers the running version."),),
    ),
    Commit(
        "2024-01-12 16:40",
        CHEN,
        "feat(frontend): add the base stylesheet",
        features=("css",),
        changelog=(("Added", "Base stylesheet."),),
    ),
    _release("2024-01-16 09:30", ANA, "1.0.0"),
    Commit(
        "2024-01-29 13:12",
        BEN,
        "feat(auth): add POST /api/auth/login\n\n"
        "Checks a username and password sent as JSON and answers 401 when they are wrong.",
        features=("login",),
        changelog=(("Added", "`POST /api/auth/login` checks credentials sent as JSON."),),
    ),
    Commit(
        "2024-02-01 10:20",
        DANA,
        "feat(auth): add the ensure_demo_user management command\n\n"
        "The password is read from IACT_DEMO_PASSWORD so it never shows on a command line.",
        features=("demo_user",),
        changelog=(
            (
                "Added",
                "`manage.py ensure_demo_user` creates the smoke-test user from `IACT_DEMO_PASSWORD`.",
            ),
        ),
    ),
    Commit(
        "2024-02-05 15:45",
        CHEN,
        "test(api): cover malformed login requests",
        features=("login_tests",),
    ),
    _release("2024-02-07 09:00", BEN, "1.1.0"),
    Commit(
        "2024-03-04 11:30",
        DANA,
        "feat(ops): add maintenance mode\n\n"
        "`manage.py maintenance on` creates the MAINTENANCE flag file; while it exists\n"
        "every request is answered 503.",
        features=("maintenance",),
        changelog=(
            (
                "Added",
                "Maintenance mode: `manage.py maintenance on|off`; every request answers 503 while it is on.",
            ),
        ),
    ),
    Commit(
        "2024-03-07 17:05",
        BEN,
        "feat(core): give projects a description",
        features=("description",),
        changelog=(("Added", "Projects have a description (migration `0002_project_description`)."),),
    ),
    Commit("2024-03-11 08:50", CHEN, "docs: add the deploy guide", features=("docs_deploy",)),
    _release("2024-03-13 10:00", DANA, "1.2.0"),
    Commit(
        "2024-03-20 14:22",
        ANA,
        "fix(api): report a database outage in /api/health\n\nThe endpoint answered ok while the database was gone.",
        features=("health_db",),
        changelog=(("Fixed", "`/api/health` checks the database and answers 503 when it is unreachable."),),
    ),
    _release("2024-03-21 09:10", ANA, "1.2.1"),
    Commit(
        "2024-04-15 22:40",
        CHEN,
        "feat(frontend): follow the system's dark mode",
        features=("css_dark",),
        changelog=(("Added", "Dark mode, following the system setting."),),
    ),
    Commit(
        "2024-04-18 10:00",
        BEN,
        "refactor(api): share one JSON error helper",
        features=("json_error",),
        changelog=(("Changed", 'API errors share one shape: `{"ok": false, "error": ...}`.'),),
    ),
    _release("2024-04-22 10:00", DANA, "1.3.0-rc.1"),
    Commit(
        "2024-04-26 03:15",
        CHEN,
        "fix(frontend): raise the contrast of links in dark mode",
        features=("css_contrast",),
        changelog=(("Fixed", "Links are readable in dark mode."),),
    ),
    _release("2024-04-29 09:30", DANA, "1.3.0"),
    Commit(
        "2024-05-13 16:00",
        BEN,
        "fix(auth): ignore spaces around the username at login",
        features=("login_strip",),
        changelog=(("Fixed", "Login ignores spaces around the username."),),
    ),
    _release(
        "2024-05-14 09:00",
        BEN,
        "1.3.1",
        Tag("deploy-2024-05-17", DANA, "2024-05-17 18:30", "Production deploy of v1.3.1"),
    ),
    Commit(
        "2024-06-03 11:11",
        DANA,
        "fix(ops): send Retry-After with maintenance answers",
        features=("maint_retry",),
        changelog=(("Fixed", "Maintenance answers carry `Retry-After` so clients back off."),),
    ),
    _release("2024-06-04 09:00", DANA, "1.3.2"),
    # Unreleased: what the next release (a minor one) will ship.
    Commit(
        "2024-06-17 10:30",
        ANA,
        "feat(api): list projects at GET /api/projects",
        features=("projects_api",),
        changelog=(("Added", "`GET /api/projects` lists the projects by name."),),
    ),
    Commit(
        "2024-06-19 15:00",
        BEN,
        "fix(auth): answer 400 when the login body is not a JSON object\n\nA JSON array made the view fail with a 500.",
        features=("login_object",),
    ),
    Commit(
        "2024-06-24 09:45",
        CHEN,
        "feat(core): let projects be archived\n\n"
        "Adds migration 0003_project_archived; archived projects are left out of\n"
        "/api/projects.",
        features=("archived",),
        changelog=(("Added", "Projects can be archived (migration `0003_project_archived`)."),),
    ),
    Commit(
        "2024-06-26 13:20",
        DANA,
        "perf(api): load only the listed columns in /api/projects",
        features=("projects_only",),
    ),
    Commit(
        "2024-07-01 11:00",
        BEN,
        "docs: explain maintenance mode in the deploy guide",
        features=("docs_maint",),
    ),
    Commit("2024-07-02 16:30", CHEN, "chore(deps): update htmx.org to 1.9.12", features=("htmx_bump",)),
    Commit(
        "2024-07-03 10:10",
        ANA,
        "test(core): cover the maintenance command",
        features=("tests_maint_cmd",),
    ),
)

CONFIG_COMMIT = Commit(
    "2024-07-08 09:00",
    ANA,
    "chore: add the release wizard's configuration\n\n"
    "iact-release.toml describes the project, its checks and the two environments.",
)
"""The last commit on main: adds the sandbox's ``iact-release.toml``."""


@dataclass
class _Changelog:
    released: list[tuple[str, str, dict[str, list[str]]]] = field(default_factory=list)
    unreleased: dict[str, list[str]] = field(default_factory=dict)

    def release(self, version: str, date: str) -> None:
        self.released.insert(0, (version, date, self.unreleased))
        self.unreleased = {}

    def text(self) -> str:
        parts = [
            "# Changelog\n\n"
            "All notable changes to this project are documented in this file.\n\n"
            "The format is based on [Keep a Changelog](https://keepachangelog.com/en/1.1.0/),\n"
            "and this project adheres to [Semantic Versioning](https://semver.org/spec/v2.0.0.html).\n",
            "## [Unreleased]\n" + _sections(self.unreleased),
        ]
        parts += [f"## [{v}] - {d}\n" + _sections(s) for v, d, s in self.released]
        return "\n".join(parts)


def _sections(entries: dict[str, list[str]]) -> str:
    out = ""
    for category in CATEGORIES:
        if entries.get(category):
            out += f"\n### {category}\n\n" + "".join(f"- {e}\n" for e in entries[category])
    return out


def _data(payload: bytes) -> bytes:
    return b"data %d\n" % len(payload) + payload + b"\n"


def trees(last_files: dict[str, str]) -> Iterator[tuple[Commit, dict[str, str]]]:
    """Every commit of the history with its whole tree (path → text), oldest first.

    Args:
        last_files: Files the final commit (:data:`CONFIG_COMMIT`) adds, path → text.

    Yields:
        Each commit and the tree it records.
    """
    templates = load_templates()
    features: set[str] = set()
    changelog = _Changelog()
    version = FIRST_VERSION
    for commit in (*HISTORY, CONFIG_COMMIT):
        features.update(commit.features)
        for category, entry in commit.changelog:
            changelog.unreleased.setdefault(category, []).append(entry)
        if commit.release:
            version = commit.release
            changelog.release(version, commit.when[:10])
        tree = render_tree(templates, features, version)
        tree["CHANGELOG.md"] = changelog.text()
        if commit is CONFIG_COMMIT:
            tree.update(last_files)
        yield commit, tree


def fast_import_stream(last_files: dict[str, str]) -> tuple[bytes, int]:
    """The whole history as a ``git fast-import`` stream for ``refs/heads/main``.

    Args:
        last_files: Files the final commit (:data:`CONFIG_COMMIT`) adds, path → text.

    Returns:
        The stream, and the number of commits in it.
    """
    previous: dict[str, str] = {}
    out: list[bytes] = []
    mark = 0
    for mark, (commit, tree) in enumerate(trees(last_files), start=1):
        changed = sorted(p for p in tree if previous.get(p) != tree[p])
        removed = sorted(set(previous) - set(tree))
        if not changed and not removed:
            raise AssertionError(f"demo history: commit {commit.message.splitlines()[0]!r} changes nothing")
        sig = commit.author.signature(commit.when)
        out.append(f"commit refs/heads/{MAIN}\nmark :{mark}\nauthor {sig}\ncommitter {sig}\n".encode())
        out.append(_data(commit.message.encode() + b"\n"))
        if mark > 1:
            out.append(f"from :{mark - 1}\n".encode())
        for path in removed:
            out.append(f"D {path}\n".encode())
        for path in changed:
            mode = "100755" if path == "manage.py" else "100644"
            out.append(f"M {mode} inline {path}\n".encode() + _data(tree[path].encode()))
        out.append(b"\n")
        tags = list(commit.tags)
        if commit.release:
            tags.insert(
                0,
                Tag(f"v{commit.release}", commit.author, commit.when, f"Release v{commit.release}"),
            )
        for tag in tags:
            out.append(f"tag {tag.name}\nfrom :{mark}\ntagger {tag.tagger.signature(tag.when)}\n".encode())
            out.append(_data(tag.message.encode() + b"\n"))
        previous = tree
    return b"".join(out), mark
