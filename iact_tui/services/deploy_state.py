"""What a host runs before a deploy changes it: the commit, tag and branch checked out in
the app directory and each Django app's applied migrations.

This module owns reading that state through the :class:`~iact_tui.services.remote.Host`
protocol (``git`` and ``manage.py showmigrations --plan`` run on the host), its JSON form
for the journal, and the pure rule the rollback uses to find, per app, the migration to
migrate back to.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import semver

from iact_tui.errors import DeployStateError
from iact_tui.services.remote import CommandResult, Host, run_collect

FORMAT = "iact-deployed-state/1"
"""The ``format`` field of :meth:`DeployedState.to_json` records."""
DETACHED = "HEAD (detached)"
"""What :attr:`DeployedState.branch_or_detached` says for a detached HEAD (no branch can be named so)."""
ZERO = "zero"
"""The ``manage.py migrate <app> zero`` target: unapply every migration of the app."""
DEFAULT_TIMEOUT = 120.0
"""Seconds each command may take on the host (Django's start-up included)."""

_MAX_LINES = 100_000  # stdout lines kept from showmigrations (a large site has a few thousand)
_SHA = re.compile(r"^[0-9a-f]{40}([0-9a-f]{24})?$")  # SHA-1 or SHA-256 object names
# `[X]  app.0001_initial`, with ` ... (app.0000_parent, other.0002_x)` at verbosity 2.
_PLAN_LINE = re.compile(r"^\[(?P<mark>[X ])\]\s+(?P<app>[^\W\d]\w*)\.(?P<name>[^\s.]+)(?:\s+\.\.\.\s+\(.*\))?\s*$")
_NOT_GIT = 13  # exit status of the git script: app_dir is not a git work tree
_NO_DIR = 12  # exit status of both scripts: cannot enter app_dir
_NO_HEAD = 14  # exit status of the git script: HEAD names no commit


@dataclass(frozen=True)
class MigrationPlan:
    """Migrations as ``showmigrations --plan`` lists them, per app label, in plan order.

    Attributes:
        applied: App label → applied migration names (``"0001_initial"``...).
        unapplied: App label → migrations known to the code but not applied.
    """

    applied: dict[str, list[str]]
    unapplied: dict[str, list[str]]


@dataclass(frozen=True)
class DeployedState:
    """What an app directory on a host runs.

    Attributes:
        host: The host's name.
        app_dir: The app directory on the host (absolute).
        commit: The full object name of the commit checked out (``git rev-parse HEAD``).
        tag: The release tag on that commit (``git tag --points-at HEAD``, see :func:`release_tag`),
            or ``None``.
        branch: The branch checked out, or ``None`` when HEAD is detached.
        migrations: App label → applied migration names, in plan order.
        unapplied: App label → migrations the code has but the database has not applied.
    """

    host: str
    app_dir: str
    commit: str
    tag: str | None
    branch: str | None
    migrations: dict[str, list[str]] = field(default_factory=dict)
    unapplied: dict[str, list[str]] = field(default_factory=dict)

    @property
    def branch_or_detached(self) -> str:
        """The branch's name, or ``"HEAD (detached)"``."""
        return self.branch if self.branch is not None else DETACHED

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict for the journal (lists and dicts of strings, ``None`` as null)."""
        return {
            "format": FORMAT,
            "host": self.host,
            "app_dir": self.app_dir,
            "commit": self.commit,
            "tag": self.tag,
            "branch": self.branch,
            "migrations": {app: list(names) for app, names in self.migrations.items()},
            "unapplied": {app: list(names) for app, names in self.unapplied.items()},
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> DeployedState:
        """Read back a :meth:`to_json` record (e.g. from the journal).

        Args:
            data: The record.

        Returns:
            The state it describes.

        Raises:
            DeployStateError: The record is not one (names the first bad field).
        """

        def bad(what: str) -> DeployStateError:
            return DeployStateError(
                f"the recorded deploy state is unreadable: {what}",
                "the journal record was changed or written by another version; read the state from the host again",
            )

        if not isinstance(data, Mapping) or data.get("format") != FORMAT:
            raise bad(f"its format is not {FORMAT!r}")
        for key in ("host", "app_dir", "commit"):
            if not isinstance(data.get(key), str) or not data[key]:
                raise bad(f"no {key!r}")
        if not _SHA.match(data["commit"]):
            raise bad(f"'commit' {data['commit']!r} is not a full object name")
        for key in ("tag", "branch"):
            if data.get(key) is not None and not isinstance(data[key], str):
                raise bad(f"{key!r} is not text or null")
        tables: dict[str, dict[str, list[str]]] = {}
        for key in ("migrations", "unapplied"):
            table = data.get(key, {})
            if not isinstance(table, Mapping) or not all(
                isinstance(app, str) and isinstance(names, list) and all(isinstance(n, str) for n in names)
                for app, names in table.items()
            ):
                raise bad(f"{key!r} is not a table of app label → list of migration names")
            tables[key] = {app: list(names) for app, names in table.items()}
        return cls(
            host=data["host"],
            app_dir=data["app_dir"],
            commit=data["commit"],
            tag=data.get("tag"),
            branch=data.get("branch"),
            migrations=tables["migrations"],
            unapplied=tables["unapplied"],
        )


def parse_showmigrations_plan(lines: Iterable[str]) -> MigrationPlan:
    """Read the output of ``manage.py showmigrations --plan`` (Django 4.2 and 5.x).

    Lines look like ``[X]  auth.0001_initial`` (applied) or ``[ ]  core.0003_x``
    (unapplied), with a `` ... (app.parent, ...)`` dependency suffix at ``-v 2``. Other
    lines (warnings, system check notes, blank lines) are ignored.

    Args:
        lines: The command's stdout, line by line.

    Returns:
        The applied and unapplied migrations per app, each in plan order.

    Raises:
        DeployStateError: No migration line was found and no ``(no migrations)`` line
            either, so the output is not a plan (names its first lines).
    """
    applied: dict[str, list[str]] = {}
    unapplied: dict[str, list[str]] = {}
    seen_any = False
    kept: list[str] = []
    for line in lines:
        if len(kept) < 5 and line.strip():
            kept.append(line.strip())
        match = _PLAN_LINE.match(line.strip())
        if match is None:
            seen_any = seen_any or line.strip() == "(no migrations)"
            continue
        seen_any = True
        table = applied if match["mark"] == "X" else unapplied
        table.setdefault(match["app"], []).append(match["name"])
    if not seen_any:
        shown = " / ".join(kept) or "no output"
        raise DeployStateError(
            f"`manage.py showmigrations --plan` printed no migration plan: {shown}",
            "run it on the host to see what it prints; the site's settings may print before Django starts",
        )
    return MigrationPlan(applied, unapplied)


def migrations_to_reverse(
    before: DeployedState, after_or_target: DeployedState | Mapping[str, Sequence[str]]
) -> dict[str, str]:
    """The migrations to migrate back to so each app's schema is as it was ``before``.

    An app needs reversing when it now has an applied migration it did not have before.
    Its target is its last migration applied before (in plan order), or ``"zero"`` when
    it had none: ``manage.py migrate <app> <target>`` unapplies everything after it.
    Run these with the code that applied the new migrations (before checking out the old
    release), since only that code has them. Migrations applied before but missing now
    are not listed: the old release's own ``migrate`` applies them again.

    Args:
        before: The state recorded before the deploy.
        after_or_target: The state now, or app label → applied migration names.

    Returns:
        App label → target migration name or ``"zero"``, sorted by app label; empty when
        nothing needs reversing.
    """
    after = after_or_target.migrations if isinstance(after_or_target, DeployedState) else after_or_target
    targets: dict[str, str] = {}
    for app in sorted(after):
        had = before.migrations.get(app, [])
        if set(after[app]) - set(had):
            targets[app] = had[-1] if had else ZERO
    return targets


async def read_deployed_state(
    host: Host, app_dir: str, python: str, *, timeout: float = DEFAULT_TIMEOUT
) -> DeployedState:
    """Read what ``app_dir`` on ``host`` runs: commit, tag, branch and applied migrations.

    Runs two commands on the host, changing nothing: git's ``rev-parse``, ``tag --points-at``
    and ``symbolic-ref`` in ``app_dir``, then ``<python> manage.py showmigrations --plan``
    there.

    Args:
        host: Where the app runs.
        app_dir: The app directory on the host (absolute; a git work tree holding
            ``manage.py``).
        python: The interpreter running the site, absolute or relative to ``app_dir``.
        timeout: Seconds each command may take.

    Returns:
        The :class:`DeployedState`.

    Raises:
        DeployStateError: A value is not allowed; ``app_dir`` is missing or not a git
            work tree, or its HEAD names no commit; ``manage.py showmigrations`` failed or
            timed out (with its last stderr lines) or printed no plan.
        CommandError: The host could not start a command.
    """
    _check(app_dir, "app_dir", absolute=True)
    _check(python, "python", absolute=False)
    qdir = shlex.quote(app_dir)
    git_script = (
        f"cd {qdir} || exit 12\n"
        "inside=$(git rev-parse --is-inside-work-tree) || exit 13\n"
        '[ "$inside" = true ] || { echo "the directory is inside a .git directory, not a work tree" >&2; exit 13; }\n'
        "commit=$(git rev-parse --verify 'HEAD^{commit}') || exit 14\n"
        "printf 'commit %s\\n' \"$commit\"\n"
        "git tag --points-at HEAD 2>/dev/null | while IFS= read -r t; do printf 'tag %s\\n' \"$t\"; done\n"
        "if branch=$(git symbolic-ref --short -q HEAD); then printf 'branch %s\\n' \"$branch\"; fi\n"
    )
    result, out = await _run(host, git_script, timeout)
    if not result.ok:
        raise _git_failure(host.name, app_dir, result)
    facts = dict(line.split(" ", 1) for line in out if " " in line and not line.startswith("tag "))
    tags = [line[4:] for line in out if line.startswith("tag ")]
    commit = facts.get("commit", "")
    if not _SHA.match(commit):
        raise DeployStateError(
            f"{host.name}: unexpected output from git in {app_dir}: {' / '.join(out[:3]) or 'nothing'}",
            "check that git works in the app directory on the host",
        )
    command = f"{shlex.quote(python)} manage.py showmigrations --plan --no-color"
    result, out = await _run(host, f"cd {qdir} || exit 12\nexec {command}", timeout)
    if not result.ok:
        raise _manage_failure(host.name, app_dir, command, result)
    try:
        plan = parse_showmigrations_plan(out)
    except DeployStateError as exc:
        raise DeployStateError(f"{host.name}: in {app_dir}: {exc.what}", exc.fix) from None
    return DeployedState(
        host=host.name,
        app_dir=app_dir,
        commit=commit,
        tag=release_tag(tags),
        branch=facts.get("branch"),
        migrations=plan.applied,
        unapplied=plan.unapplied,
    )


def release_tag(tags: list[str]) -> str | None:
    """The release among the tags on one commit: the highest SemVer 2.0.0 version (a
    leading ``v`` allowed), so a ``deploy-2024-05-17`` beside ``v1.3.1`` is not taken for
    what runs; the first tag when none is a version; ``None`` when there is none."""
    versions = []
    for tag in tags:
        try:
            versions.append((semver.Version.parse(tag.removeprefix("v")), tag))
        except ValueError:
            continue
    if versions:
        return max(versions)[1]
    return tags[0] if tags else None


async def _run(host: Host, script: str, timeout: float) -> tuple[CommandResult, list[str]]:
    """Run ``script``; its result and first stdout lines (see :func:`run_collect`)."""
    return await run_collect(host, script, timeout=timeout, max_lines=_MAX_LINES)


def _stderr(result: CommandResult, count: int) -> str:
    lines = [line.strip() for line in result.stderr_tail if line.strip()]
    return "\n".join(lines[-count:])


def _git_failure(host_name: str, app_dir: str, result: CommandResult) -> DeployStateError:
    detail = _stderr(result, 3)
    if result.timed_out:
        return DeployStateError(
            f"{host_name}: git in {app_dir} timed out after {result.duration:.0f} s",
            "check the host is responsive and try again",
        )
    if result.exit_status == _NO_DIR:
        return DeployStateError(
            f"{host_name}: cannot enter the app directory {app_dir}: {detail or 'cd failed'}",
            "check app_dir in iact-release.toml and that the deploy user can enter it",
        )
    if result.exit_status == _NOT_GIT:
        return DeployStateError(
            f"{host_name}: {app_dir} is not a git checkout: {detail or 'git refused it'}",
            "deploy targets are git checkouts of the project: clone it there, or fix app_dir in iact-release.toml",
        )
    if result.exit_status == _NO_HEAD:
        return DeployStateError(
            f"{host_name}: the git checkout {app_dir} has no commit checked out: {detail or 'HEAD is unborn'}",
            "check out a release in the app directory first",
        )
    return DeployStateError(
        f"{host_name}: git in {app_dir} failed (exit status {result.exit_status}): {detail}",
        "run git in the app directory on the host to see the whole error",
    )


def _manage_failure(host_name: str, app_dir: str, command: str, result: CommandResult) -> DeployStateError:
    if result.timed_out:
        return DeployStateError(
            f"{host_name}: `{command}` in {app_dir} timed out after {result.duration:.0f} s",
            "check the site's database is reachable from the host and try again",
        )
    if result.exit_status == _NO_DIR:
        return DeployStateError(
            f"{host_name}: cannot enter the app directory {app_dir}: {_stderr(result, 3) or 'cd failed'}",
            "check app_dir in iact-release.toml and that the deploy user can enter it",
        )
    detail = _stderr(result, 5) or "(no error output)"
    return DeployStateError(
        f"{host_name}: `{command}` failed in {app_dir} (exit status {result.exit_status}):\n{detail}",
        "run it in the app directory on the host to see the whole error; check python and the site's settings",
    )


def _check(value: str, what: str, *, absolute: bool) -> None:
    if (
        not value
        or (absolute and not value.startswith("/"))
        or len(value) > 4096
        or any(ord(c) < 32 or ord(c) == 127 for c in value)
    ):
        kind = "an absolute path" if absolute else "a path"
        raise DeployStateError(
            f"{what} {value!r} is not allowed",
            f"give {kind} without control characters in iact-release.toml",
        )
