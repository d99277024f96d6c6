"""Django migrations a release adds, read from git: the files and each app's target before them.

One function shared by the release pull request's migration notes and rollback plan and by
the production prep's rollback plan, so both say the same thing. A migration is a file
``<app>/migrations/<digit>*.py`` (Django's numbered files; ``__init__.py`` is not one); its
app label is the folder holding ``migrations/``, which is Django's default label.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import PurePosixPath
from typing import Protocol

from iact_tui.services.deploy_state import ZERO

PATTERN = "**/migrations/[0-9]*.py"
"""The migration files, as :meth:`~iact_tui.services.git.GitService.added_paths` matches them."""


class _Git(Protocol):
    async def added_paths(self, old: str, new: str, pattern: str) -> list[str]: ...

    async def list_paths(self, ref: str, pattern: str) -> list[str]: ...


@dataclass(frozen=True)
class AddedMigrations:
    """The migration files added between two commits.

    Attributes:
        old: The older commit-ish (the release being replaced), ``""`` for a first release.
        new: The newer one (the new tag, the release branch or ``HEAD``).
        paths: The added files, sorted, e.g. ``("shop/migrations/0003_note.py",)``.
        targets: App label → the migration to migrate back to for undoing them: its last
            migration file at ``old``, or ``zero`` when it had none.
    """

    old: str
    new: str
    paths: tuple[str, ...] = ()
    targets: dict[str, str] = field(default_factory=dict)

    @property
    def names(self) -> list[str]:
        """``app.migration`` of every added file, e.g. ``["shop.0003_note"]``."""
        return [f"{_app(p)}.{PurePosixPath(p).stem}" for p in self.paths]

    @property
    def by_app(self) -> dict[str, list[str]]:
        """App label → the names of its added migrations (``0003_note``), apps sorted."""
        apps: dict[str, list[str]] = {}
        for path in self.paths:
            apps.setdefault(_app(path), []).append(PurePosixPath(path).stem)
        return dict(sorted(apps.items()))

    def migrate_commands(self) -> list[str]:
        """``manage.py migrate APP TARGET`` for each app, run with the new release's code."""
        return [f"manage.py migrate {app} {target}" for app, target in self.targets.items()]


def _app(path: str) -> str:
    return PurePosixPath(path).parent.parent.name


async def added_migrations(git: _Git, old: str, new: str) -> AddedMigrations:
    """The migration files added from ``old`` to ``new`` (``git diff --diff-filter=A``) and,
    for each app that gained one, the migration to go back to.

    Args:
        git: The repository (:class:`~iact_tui.services.git.GitService`).
        old: The release being replaced (a tag or commit); ``""`` for a first release:
            every migration at ``new`` is new and every target is ``zero``.
        new: The release (a tag, a branch or ``HEAD``).

    Returns:
        The :class:`AddedMigrations`.

    Raises:
        GitError: A revision is unknown, or git failed.
    """
    if old:
        added = await git.added_paths(old, new, PATTERN)
    else:
        added = await git.list_paths(new, PATTERN)
    targets: dict[str, str] = {}
    for app in sorted({_app(p) for p in added}):
        folder = next(str(PurePosixPath(p).parent) for p in added if _app(p) == app)
        before = await git.list_paths(old, f"{folder}/[0-9]*.py") if old else []
        targets[app] = PurePosixPath(before[-1]).stem if before else ZERO
    return AddedMigrations(old, new, tuple(added), targets)


__all__ = ["PATTERN", "AddedMigrations", "added_migrations"]
