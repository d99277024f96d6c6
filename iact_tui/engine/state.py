"""The run's state (operator inputs and step results) and the context steps run in."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from iact_tui.config import Config
from iact_tui.services import changelog

if TYPE_CHECKING:
    from iact_tui.services.git import GitService
    from iact_tui.services.version_files import FileVersion
    from iact_tui.services.versioning import VersionInfo

#: Manual checklist items: (id, label). The operator ticks them; ``--yes`` ticks all.
MANUAL_CHECKS: tuple[tuple[str, str], ...] = (
    ("prs-merged", "All PRs planned for this release are merged"),
    ("no-critical-issues", "No critical issues are open"),
    ("docs-updated", "Documentation is updated"),
)

#: Verification done by hand after the production deploy: (id, label). The operator
#: ticks them, optionally with a note; ``--yes`` ticks both. The announcement waits for them.
VERIFY_MANUAL: tuple[tuple[str, str], ...] = (
    ("verified-by-hand", "Critical functionality verified by hand"),
    ("metrics-normal", "Metrics normal (dashboards, error tracker)"),
)


@dataclass
class RunState:
    """Everything the operator chose or typed, and what steps found.

    Every field is written to the journal when it changes, so a run can be resumed and
    reported.

    Attributes:
        flow: ``release``, ``hotfix`` or ``rollback``.
        bump: ``major``, ``minor``, ``patch``, a pre-release key (``next-pre``,
            ``promote``, ``minor-pre``...) or ``custom``; empty until chosen.
        version: The new version without prefix, e.g. ``"1.4.0"``.
        previous_version: The current release before this run, e.g. ``"1.3.2"``.
        previous_tag: Its tag, e.g. ``"v1.3.2"``; empty when there is none.
        ticks: Manual checklist items ticked by the operator.
        changelog_body: The new release's section body (``### Added`` ... groups),
            as edited by the operator; ``None`` until drafted or edited.
        confirmations: Step id → the text the operator typed to confirm it.
        accept_version_mismatch: The operator chose to bump version files that do not
            hold the current release's version (see ``ReleaseRun.version_mismatches``).
        keep_maintenance: Environment → leave maintenance mode on when a deploy command
            fails (the ``post`` commands are then not run); unset: the environment's
            ``keep_maintenance_on_failure``.
        prep: The production prep's operator inputs: ``"<env>:backup-skip"`` /
            ``"<env>:notice-skip"`` → the typed reason, ``"<env>:rollback-ack"`` → ``"yes"``.
        log_marks: Environment → host → the log sizes recorded before its deploy
            (:meth:`~iact_tui.services.log_scan.LogMarks.to_json`, with ``error`` when
            they could not be taken), for the verification's log scan. Its
            ``"maintenance"`` key lists the host's maintenance windows in order, each
            ``{"start": marks, "end": marks or None, "state": "open" | "closed" |
            "unmarked", "note": why it has no end}``; only a ``closed`` one (marked again
            after the ``post`` commands succeeded) lets the scan leave its 503 lines
            uncounted (see :mod:`~iact_tui.engine.steps.deploy`).
        verify_ticks: Verification item ticked by hand (``VERIFY_MANUAL`` id) → the
            operator's note (``""`` for none).
        pr_body: The release pull request's body as the operator edited it in the
            preview; ``None``: rendered from the template when the PR is opened.
        unreleased_locks: ``env/host`` → this run's deploy lock whose release failed
            (connection lost); a retry releases it first. Not journaled.
        deployed_before: ``step/host`` → what the host ran before this run's first
            attempt at that deploy step (``DeployedState.to_json()``), journaled as
            ``deployed_state``. A retry or a resumed run keeps the first: by then the host
            may already run the new release, which is no rollback target.
        results: Step id → that step's result data (commit, branch, URLs, figures...).
    """

    flow: str = "release"
    bump: str = ""
    version: str = ""
    previous_version: str = ""
    previous_tag: str = ""
    ticks: set[str] = field(default_factory=set)
    changelog_body: str | None = None
    confirmations: dict[str, str] = field(default_factory=dict)
    accept_version_mismatch: bool = False
    keep_maintenance: dict[str, bool] = field(default_factory=dict)
    prep: dict[str, str] = field(default_factory=dict)
    log_marks: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)
    verify_ticks: dict[str, str] = field(default_factory=dict)
    pr_body: str | None = None
    unreleased_locks: dict[str, Any] = field(default_factory=dict)
    deployed_before: dict[str, dict[str, Any]] = field(default_factory=dict)
    results: dict[str, dict[str, Any]] = field(default_factory=dict)


@dataclass
class RunContext:
    """What a step gets: the config, the state, the services, where files go.

    Attributes:
        config: The validated config.
        state: The run's mutable state.
        git: The repository service (GitPython off the event loop).
        run_dir: Folder of this run (journal, announcement), created by the run.
        versions: Tags read at the start of the run, or ``None`` before.
        file_versions: What each version file held when the run read the tags (dynamic
            pyproject.toml versions followed to their file), or ``None`` before; for
            plans, the steps read the files again.
        note: Writes one record to the run's journal at once (``note(kind, **fields)``),
            for facts that must survive a crash mid-step (what a host ran before a deploy).
        work_branch: The branch the release's commit goes on instead of the release
            branch (the hotfix flow's ``hotfix/vX.Y.Z``); ``""``: the release branch. The
            release steps (bump, changelog, commit, push, tag) then work on it.
    """

    config: Config
    state: RunState
    git: GitService
    run_dir: Path
    versions: VersionInfo | None = None
    file_versions: list[FileVersion] | None = None
    note: Callable[..., None] = field(default=lambda kind, **fields: None)
    work_branch: str = ""

    async def draft_changelog(self) -> str:
        """The new section's body: the operator's edited text when there is one, else a
        draft from ``[Unreleased]`` and the commits since the previous release tag
        (Keep a Changelog 1.1.0 groups, by Conventional Commits)."""
        if self.state.changelog_body is not None:
            return self.state.changelog_body
        name = self.config.project.changelog
        commits = await self.git.commits_since(self.state.previous_tag or None, name)
        path = self.config.root / name
        text = await asyncio.to_thread(lambda: path.read_bytes().decode("utf-8-sig") if path.exists() else "")
        return changelog.draft_section_body(text, commits)

    @property
    def tag(self) -> str:
        """The new release's tag, e.g. ``v1.4.0`` (``tag_prefix`` + version)."""
        return f"{self.config.project.tag_prefix}{self.state.version}"

    @property
    def release_branch(self) -> str:
        """The release branch, e.g. ``release/v1.4.0``; the hotfix branch in a hotfix."""
        return self.work_branch or f"{self.config.project.release_branch_prefix}{self.tag}"

    @property
    def tag_ref(self) -> str:
        """Where the tag goes: main's head after the merge; the hotfix branch's head in a hotfix."""
        return self.work_branch or self.config.project.main_branch
