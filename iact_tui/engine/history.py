"""What each environment ran, read back from every run's journal under the state dir.

The rollback flow offers its targets from here: the production deploys of release runs
(a ``step_finished`` record of ``deploy-<env>`` with status ``ok``), the rollbacks
(``rollback`` records) and the releases marked bad (``release_marked_bad`` records:
never offered again), plus the newest database backup a production prep took.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import semver

from iact_tui.engine.journal import read_journal, state_root


@dataclass(frozen=True)
class Deployment:
    """One time ``env`` was set to a release.

    Attributes:
        version: Without prefix, e.g. ``"1.4.0"``; tag: e.g. ``"v1.4.0"``.
        ts: Unix seconds of the journal record; run: the run folder's name.
        flow: ``release`` or ``rollback``.
    """

    version: str
    tag: str
    ts: float
    run: str
    flow: str


@dataclass(frozen=True)
class Backup:
    """A database backup taken by a production prep (path on the host, when, which run)."""

    path: str
    ts: float
    run: str


@dataclass
class History:
    """The journals' view of one environment.

    Attributes:
        deployments: Oldest first.
        bad: Version → the record that marked it bad (``reason``, ``run``, ``ts``).
        backups: Oldest first.
        notices: Lines left out of this repository's journals (torn or damaged; see
            :func:`~iact_tui.engine.journal.read_journal`), one sentence each.
    """

    env: str
    deployments: list[Deployment] = field(default_factory=list)
    bad: dict[str, dict[str, Any]] = field(default_factory=dict)
    backups: list[Backup] = field(default_factory=list)
    notices: list[str] = field(default_factory=list)

    @property
    def latest(self) -> Deployment | None:
        """The last deployment recorded, or ``None``."""
        return self.deployments[-1] if self.deployments else None

    @property
    def newest_backup(self) -> Backup | None:
        return self.backups[-1] if self.backups else None

    def good_releases(self) -> list[Deployment]:
        """Each version deployed (its newest deployment), never one marked bad, newest
        version first (SemVer order)."""
        newest: dict[str, Deployment] = {}
        for item in self.deployments:
            if item.version not in self.bad:
                newest[item.version] = item
        return sorted(newest.values(), key=lambda d: _key(d.version), reverse=True)


def _key(version: str) -> semver.Version:
    try:
        return semver.Version.parse(version)
    except (ValueError, TypeError):
        return semver.Version(0)


def _strip(tag: str, prefix: str) -> str:
    return tag[len(prefix) :] if prefix and tag.startswith(prefix) else tag


def read_history(env: str, tag_prefix: str, state_dir: Path | None = None, *, repo: Path | None = None) -> History:
    """Read every run's journal under ``<state>/runs`` for ``env``'s history.

    Args:
        env: The environment (``production``).
        tag_prefix: ``[project] tag_prefix`` (``v``), to turn tags into versions.
        state_dir: The state dir; ``None``: platformdirs' user state dir.
        repo: Only runs made in this repository (the ``repo`` of their ``run_started``
            record, both paths resolved): the state dir holds every project's runs, and
            another project's ``production`` is not this one's. ``None``: every run.

    Returns:
        The :class:`History`; empty without any journal (first use).
    """
    history = History(env)
    runs = state_root(state_dir) / "runs"
    if not runs.is_dir():
        return history
    wanted = os.path.realpath(repo) if repo is not None else None
    for journal in sorted(runs.glob("*/journal.jsonl")):
        run = journal.parent.name
        try:
            read = read_journal(journal)
        except OSError:
            continue
        records = read.records
        if wanted is not None:
            started = next((r for r in records if r.get("kind") == "run_started"), None)
            if started is None or os.path.realpath(str(started.get("repo", ""))) != wanted:
                continue
        history.notices += read.notices
        for record in records:
            _read(history, record, run, tag_prefix)
    history.deployments.sort(key=lambda d: d.ts)
    history.backups.sort(key=lambda b: b.ts)
    return history


def _read(history: History, record: dict[str, Any], run: str, prefix: str) -> None:
    kind, env, ts = record.get("kind"), history.env, float(record.get("ts") or 0)
    data = record.get("data") if isinstance(record.get("data"), dict) else {}
    assert isinstance(data, dict)
    if kind == "step_finished" and record.get("status") == "ok":
        if record.get("step_id") == f"deploy-{env}" and isinstance(data.get("tag"), str):
            tag = data["tag"]
            history.deployments.append(Deployment(_strip(tag, prefix), tag, ts, run, "release"))
        elif record.get("step_id") == f"prep-{env}":
            backup = data.get("backup")
            if isinstance(backup, dict) and isinstance(backup.get("path"), str):
                history.backups.append(Backup(backup["path"], ts, run))
    elif kind == "rollback" and record.get("env") == env and isinstance(record.get("to_tag"), str):
        tag = record["to_tag"]
        history.deployments.append(Deployment(_strip(tag, prefix), tag, ts, run, "rollback"))
    elif kind == "release_marked_bad" and record.get("env") == env and isinstance(record.get("version"), str):
        history.bad[record["version"]] = {"reason": record.get("reason", ""), "run": run, "ts": ts}
