"""What a rollback has to undo in the database, and whether Django can undo it.

This module owns three rules of the rollback flow, none of which changes anything:

* which Django app must be migrated back, and to which migration, so the database
  matches an older release: the app's applied migrations on the host (from
  ``showmigrations --plan``, :mod:`~iact_tui.services.deploy_state`) compared with the
  migration files of that app in the target release's tree (from git);
* what ``manage.py migrate APP TARGET --plan`` says Django would run backwards, read with
  the code the host runs now (only that code has the migrations to reverse);
* which of those operations are irreversible: Django's ``--plan`` prints
  ``-> IRREVERSIBLE`` for a ``RunPython`` without ``reverse_code`` or a ``RunSQL`` without
  ``reverse_sql`` (``django/core/management/commands/migrate.py``,
  ``describe_operation``); running them backwards raises ``IrreversibleError``;
* which reversible ones lose data when run backwards (:func:`data_loss`): undoing a
  ``CreateModel`` drops its table, undoing an ``AddField`` drops its column, undoing a
  ``DeleteModel`` or ``RemoveField`` recreates them empty, a ``RunPython``/``RunSQL``
  whose reverse is a no-op leaves the forward change in place.

Only apps with a ``migrations`` folder in the repository are considered: Django's own
apps and third-party apps come with the site's dependencies, which a rollback does not
change.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from typing import Any, Protocol

from iact_tui.errors import CommandError, DeployStateError
from iact_tui.services.deploy_state import ZERO
from iact_tui.services.migrations import PATTERN
from iact_tui.services.remote import CommandResult, Host, run_collect

DEFAULT_TIMEOUT = 120.0
"""Seconds ``manage.py migrate --plan`` may take on a host (Django's start-up included)."""

# Django's default app label is the package's name: a Python identifier (ASCII here).
_APP_LABEL = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,99}$")
# Migration module names: ``0003_project_archived``; Django imports them as modules.
_MIGRATION = re.compile(r"^[A-Za-z0-9_]{1,200}$")
# A heading of --plan: ``core.0099_note``; operations follow, indented.
_HEADING = re.compile(r"^(?P<app>[A-Za-z_]\w*)\.(?P<name>\w+)$")
_IRREVERSIBLE = "-> IRREVERSIBLE"


class _Git(Protocol):
    async def list_paths(self, ref: str, pattern: str) -> list[str]: ...


def check_app_label(app: str) -> str:
    """``app`` when it is a valid Django app label (an ASCII Python identifier).

    Raises:
        CommandError: It is not (it would not be put into a command).
    """
    if not _APP_LABEL.match(app):
        raise CommandError(f"app label {app!r} is not a Django app label", "app labels are Python identifiers")
    return app


def check_migration_name(name: str) -> str:
    """``name`` when it is a valid migration name or ``zero``.

    Raises:
        CommandError: It is not.
    """
    if not _MIGRATION.match(name):
        raise CommandError(
            f"migration name {name!r} is not allowed", "migration names are letters, digits and underscores"
        )
    return name


def migrate_command(python: str, app: str, target: str, *, plan: bool = False) -> str:
    """``<python> manage.py migrate APP TARGET --noinput`` (or ``--plan``), values checked and quoted.

    Args:
        python: The interpreter, already quoted (a ``{python}`` placeholder value), or
            the literal ``{python}`` to leave for the command template.
        app: The app label.
        target: The migration to migrate back to, or ``zero``.
        plan: Print the plan only (read-only).
    """
    app, target = check_app_label(app), check_migration_name(target)
    tail = "--plan --no-color" if plan else "--noinput"
    return f"{python} manage.py migrate {shlex.quote(app)} {shlex.quote(target)} {tail}"


def _app_of(path: str) -> str:
    return PurePosixPath(path).parent.parent.name


async def tree_migrations(git: _Git, ref: str) -> dict[str, list[str]]:
    """App label → its migration names in ``ref``'s tree, sorted (Django's numbered files).

    Raises:
        GitError: ``ref`` is unknown, or git failed.
    """
    found: dict[str, list[str]] = {}
    for path in await git.list_paths(ref, PATTERN):
        found.setdefault(_app_of(path), []).append(PurePosixPath(path).stem)
    return {app: sorted(names) for app, names in sorted(found.items())}


@dataclass(frozen=True)
class AppReversal:
    """One app to migrate back.

    Attributes:
        app: The app label.
        target: Its last migration in the target release, or ``zero``.
        unapply: The applied migrations the target release does not have, in plan order.
    """

    app: str
    target: str
    unapply: tuple[str, ...]

    def to_json(self) -> dict[str, Any]:
        return {"app": self.app, "target": self.target, "unapply": list(self.unapply)}


def reversals(
    applied: Mapping[str, Sequence[str]], target_tree: Mapping[str, Sequence[str]], repo_apps: Iterable[str]
) -> list[AppReversal]:
    """The apps to migrate back so the database matches the target release.

    An app of the repository needs it when the host has applied a migration the target
    release's tree does not hold. Its target is the app's last migration in that tree
    (sorted: Django's numbered names), or ``zero`` when the app has none there.

    Args:
        applied: App label → applied migration names on the host, in plan order.
        target_tree: App label → migration names in the target release (:func:`tree_migrations`).
        repo_apps: The apps whose migrations live in the repository (in either release).

    Returns:
        One :class:`AppReversal` per app, sorted by label; empty when nothing to undo.
    """
    out: list[AppReversal] = []
    for app in sorted(set(repo_apps)):
        there = list(target_tree.get(app, ()))
        extra = tuple(name for name in applied.get(app, ()) if name not in set(there))
        if extra:
            out.append(AppReversal(app, there[-1] if there else ZERO, extra))
    return out


@dataclass(frozen=True)
class PlannedOperation:
    """One operation Django would run backwards (a line of ``migrate --plan``).

    Attributes:
        migration: ``app.name`` of its migration.
        description: What ``--plan`` printed, e.g. ``Raw SQL operation -> DROP TABLE x``.
        irreversible: Django cannot run it backwards (``-> IRREVERSIBLE``).
    """

    migration: str
    description: str
    irreversible: bool

    def to_json(self) -> dict[str, Any]:
        return {"migration": self.migration, "description": self.description, "irreversible": self.irreversible}


@dataclass(frozen=True)
class DataLoss:
    """A reversible operation whose reversal loses data (see :func:`data_loss`).

    Attributes:
        migration: ``app.name`` of its migration.
        operation: What ``--plan`` printed, e.g. ``Undo Create model Report``.
        loss: What is lost, e.g. ``drops table core_report and its rows``.
    """

    migration: str
    operation: str
    loss: str

    def to_json(self) -> dict[str, Any]:
        return {"migration": self.migration, "operation": self.operation, "loss": self.loss}


# What Django 4.2/5.x prints backwards for the schema operations that hold data
# (``Operation.describe()`` prefixed with ``Undo ``; model names as written in the
# migration, field names as declared).
_UNDO_CREATE = re.compile(r"^Undo Create model (?P<model>\w+)$")
_UNDO_ADD = re.compile(r"^Undo Add field (?P<field>\w+) to (?P<model>\w+)$")
_UNDO_DELETE = re.compile(r"^Undo Delete model (?P<model>\w+)$")
_UNDO_REMOVE = re.compile(r"^Undo Remove field (?P<field>\w+) from (?P<model>\w+)$")
_UNDO_ALTER = re.compile(r"^Undo Alter field (?P<field>\w+) on (?P<model>\w+)$")
_RAW_SQL = "Raw SQL operation"
_RAW_PYTHON = "Raw Python operation"
# Reverse SQL that removes rows, columns or tables (the text --plan shows is cut at 40
# characters, so only its start is judged).
_DROP_TABLE = re.compile(r"^\s*DROP\s+TABLE\s+(IF\s+EXISTS\s+)?(?P<table>[\w.\"`]+)", re.IGNORECASE)
_DESTRUCTIVE_SQL = re.compile(r"^\s*(DROP|DELETE|TRUNCATE)\b|\bDROP\s+(COLUMN|TABLE)\b", re.IGNORECASE)


def data_loss(migration: str, description: str) -> str | None:
    """What running one operation backwards loses, from its ``migrate --plan`` line.

    Table names are Django's defaults (``<app label>_<model name in lower case>``, the
    ``Meta.db_table`` default) and column names the field's; a model with its own
    ``db_table``, a foreign key's ``_id`` column or a proxy/unmanaged model (no table of
    its own) may differ, which the operator reading the migration can tell.

    Args:
        migration: ``app.name`` of the migration (``core.0004_report``).
        description: The operation as ``--plan`` printed it backwards (Django's
            ``describe_operation``: ``Undo `` + ``Operation.describe()`` for schema
            operations; ``Raw Python operation -> <reverse_code's docstring>`` and ``Raw
            SQL operation -> <reverse_sql>``, without the arrow when the reverse is
            ``RunPython.noop``/``RunSQL.noop`` or, for Python, has no docstring).

    Returns:
        One phrase (``drops table core_report and its rows``), or ``None`` when the
        reversal loses nothing (a rename, an index, a constraint, a documented reverse
        function, an irreversible operation: those refuse the plan on their own).
    """
    app = migration.split(".", 1)[0]
    text = description.strip()
    if (m := _UNDO_CREATE.match(text)) is not None:
        return f"drops table {app}_{m['model'].lower()} and its rows"
    if (m := _UNDO_ADD.match(text)) is not None:
        return f"drops column {app}_{m['model'].lower()}.{m['field']} and its values"
    if (m := _UNDO_DELETE.match(text)) is not None:
        return f"recreates table {app}_{m['model'].lower()} empty: the rows deleted with it are not restored"
    if (m := _UNDO_REMOVE.match(text)) is not None:
        table = f"{app}_{m['model'].lower()}"
        return f"recreates column {table}.{m['field']} with its default: the values it held are not restored"
    if (m := _UNDO_ALTER.match(text)) is not None:
        table = f"{app}_{m['model'].lower()}"
        return f"changes column {table}.{m['field']} back: values that do not fit the old definition are lost"
    if text == _RAW_PYTHON:
        return (
            "its reverse_code is RunPython.noop or undocumented: what the forward code changed may stay changed "
            "(read the migration)"
        )
    if text == _RAW_SQL:
        return "its reverse_sql is a no-op: what the forward SQL changed stays changed"
    if text.startswith(f"{_RAW_SQL} -> "):
        sql = text[len(_RAW_SQL) + 4 :]
        if (m := _DROP_TABLE.match(sql)) is not None:
            return f"drops table {m['table']} and its rows (reverse_sql `{sql}`)"
        if _DESTRUCTIVE_SQL.search(sql):
            return f"runs `{sql}`: deletes data"
    return None


@dataclass(frozen=True)
class BackwardsPlan:
    """What ``migrate APP TARGET --plan`` printed on one host.

    Attributes:
        app: The app label; target: the migration migrated back to.
        migrations: ``app.name`` of each migration Django would unapply, in order.
        operations: Each operation, in order.
    """

    app: str
    target: str
    migrations: tuple[str, ...] = ()
    operations: tuple[PlannedOperation, ...] = field(default_factory=tuple)

    @property
    def irreversible(self) -> list[PlannedOperation]:
        """The operations Django cannot reverse."""
        return [op for op in self.operations if op.irreversible]

    @property
    def data_loss(self) -> list[DataLoss]:
        """The reversible operations whose reversal loses data (:func:`data_loss`), in order."""
        found: list[DataLoss] = []
        for op in self.operations:
            loss = None if op.irreversible else data_loss(op.migration, op.description)
            if loss is not None:
                found.append(DataLoss(op.migration, op.description, loss))
        return found


def parse_migrate_plan(app: str, target: str, lines: Iterable[str]) -> BackwardsPlan:
    """Read ``manage.py migrate APP TARGET --plan`` (Django 4.2 and 5.x).

    It prints ``Planned operations:``, then each migration as ``app.name`` followed by its
    operations indented by four spaces (``Raw Python operation -> IRREVERSIBLE``), or
    ``No planned migration operations.``

    Raises:
        DeployStateError: The output holds no ``Planned operations:`` line.
    """
    migrations: list[str] = []
    operations: list[PlannedOperation] = []
    seen = False
    current = ""
    kept: list[str] = []
    for raw in lines:
        line = raw.rstrip()
        if len(kept) < 5 and line.strip():
            kept.append(line.strip())
        if line.strip() == "Planned operations:":
            seen = True
            continue
        if not seen or not line.strip():
            continue
        if line.startswith("    ") and current:
            text = line.strip()
            operations.append(PlannedOperation(current, text, text.endswith(_IRREVERSIBLE)))
            continue
        match = _HEADING.match(line.strip())
        if match is not None and not line.startswith(" "):
            current = line.strip()
            migrations.append(current)
    if not seen:
        raise DeployStateError(
            f"`manage.py migrate {app} {target} --plan` printed no plan: {' / '.join(kept) or 'no output'}",
            "run it in the app directory on the host to see what it prints",
        )
    return BackwardsPlan(app, target, tuple(migrations), tuple(operations))


async def backwards_plan(
    host: Host, app_dir: str, python: str, app: str, target: str, *, timeout: float = DEFAULT_TIMEOUT
) -> BackwardsPlan:
    """Ask Django on ``host`` what migrating ``app`` back to ``target`` would run (read-only).

    Args:
        host: Where the site runs.
        app_dir: The app directory (absolute).
        python: The site's interpreter (absolute, or relative to ``app_dir``).
        app: The app label; target: the migration to go back to, or ``zero``.
        timeout: Seconds the command may take.

    Returns:
        The :class:`BackwardsPlan`.

    Raises:
        CommandError: A value is not allowed, or the command could not start.
        DeployStateError: The command failed or printed no plan (with its last stderr lines).
    """
    command = migrate_command(shlex.quote(python), app, target, plan=True)
    result, out = await run_collect(host, f"cd {shlex.quote(app_dir)} || exit 12\nexec {command}", timeout=timeout)
    if not result.ok:
        raise _failure(host.name, app_dir, command, result)
    try:
        return parse_migrate_plan(app, target, out)
    except DeployStateError as exc:
        raise DeployStateError(f"{host.name}: {exc.what}", exc.fix) from None


def _failure(host_name: str, app_dir: str, command: str, result: CommandResult) -> DeployStateError:
    if result.timed_out:
        return DeployStateError(
            f"{host_name}: `{command}` in {app_dir} timed out after {result.duration:.0f} s",
            "check the site's database is reachable from the host and try again",
        )
    lines = [line.strip() for line in result.stderr_tail if line.strip()][-5:]
    return DeployStateError(
        f"{host_name}: `{command}` failed in {app_dir} (exit status {result.exit_status}): "
        + (" | ".join(lines) or "(no error output)"),
        "run it in the app directory on the host to see the whole error",
    )


IRREVERSIBLE_MEANING = (
    "Django cannot run this operation backwards (running it would raise IrreversibleError): a RunPython "
    "without reverse_code or a RunSQL without reverse_sql. Whatever it changed (data moved, rows deleted, "
    "columns filled) cannot be undone automatically, so the rollback is refused before anything changes."
)
"""What an irreversible migration means for the operator."""


#: Django project management commands, as :meth:`~iact_tui.services.git.GitService.list_paths` matches them.
COMMANDS_PATTERN = "**/management/commands/[a-z]*.py"
_MANAGE = re.compile(r"manage\.py\s+([A-Za-z_]\w*)")


async def commands_missing_in_target(
    git: _Git, current_ref: str, target_ref: str, runs: Iterable[tuple[str, str]]
) -> list[tuple[str, str, str]]:
    """The ``manage.py`` commands a rollback would run after checking out the target
    that the project defines in ``current_ref``'s tree but not in ``target_ref``'s.

    A ``post`` command such as ``manage.py maintenance off`` runs with the target's code;
    when the target predates the command, it fails and maintenance mode stays on.
    Django's own commands (``migrate``, ``collectstatic``...) are not in the project's
    tree and are never reported.

    Args:
        git: Lists a tree's paths.
        current_ref: What the host runs now (commit or tag).
        target_ref: The rollback target (tag).
        runs: ``(name, command line)`` of the commands that run after the checkout.

    Returns:
        ``(name, manage.py command, its file in current_ref)`` per command missing in the target.

    Raises:
        GitError: A ref is unknown.
    """
    now = {PurePosixPath(p).stem: p for p in await git.list_paths(current_ref, COMMANDS_PATTERN)}
    then = {PurePosixPath(p).stem for p in await git.list_paths(target_ref, COMMANDS_PATTERN)}
    missing: list[tuple[str, str, str]] = []
    for name, run in runs:
        for command in _MANAGE.findall(run):
            if command in now and command not in then:
                missing.append((name, command, now[command]))
    return missing
