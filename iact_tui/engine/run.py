"""Drive a flow: operator inputs, step execution, retry, cancel, and the journal.

:class:`ReleaseRun` is the one object both front ends (the Textual screens and the
headless CLI) talk to. It holds no UI code: the screens iterate :meth:`ReleaseRun.run_step`
in a worker and turn events into widget updates; the CLI prints them.
"""

from __future__ import annotations

import asyncio
import getpass
import os
import socket
import tempfile
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from iact_tui.config import Config, load_config
from iact_tui.engine import flows, report
from iact_tui.engine.events import Event, OutputLine, StepFinished, StepStarted
from iact_tui.engine.journal import Journal, new_run_dir
from iact_tui.engine.run_lock import RunLock, Takeover
from iact_tui.engine.state import MANUAL_CHECKS, VERIFY_MANUAL, RunContext, RunState
from iact_tui.engine.step import Action, Step, StepRecord
from iact_tui.engine.steps import announce, preflight, prep, release_git
from iact_tui.errors import (
    ChangelogError,
    ChecklistError,
    ConfigError,
    ConfirmationError,
    GitError,
    IactError,
    VersionError,
)
from iact_tui.services import changelog, version_files, versioning
from iact_tui.services.git import GitService

BUMPS: tuple[str, ...] = ("major", "minor", "patch")


class FlowRun:
    """What every flow's run holds, and how it starts (release, hotfix, rollback).

    The config, a :class:`RunState` of the flow, a run folder with its JSONL journal,
    the :class:`RunContext` the steps work with, and the steps with their records.
    Subclasses call :meth:`_start` with their steps once the attributes those need exist.

    Args:
        config: The validated config (its ``path`` locates the repository).
        flow: ``release``, ``hotfix`` or ``rollback`` (the journal's ``run_started``).
        state_dir: Where runs are kept; ``None`` uses the platformdirs user state dir.
        record: False for a run that only plans: no run folder, no journal.
        scratch: The ``run_dir`` of a run that does not record; ``None``: the temp dir.

    Attributes:
        steps: The flow's steps in order (their ids are the ``--until`` ids).
        records: Step id → :class:`StepRecord` (status ``pending``/``running``/``ok``/...).
        journal: The run's append-only JSONL journal.
    """

    def __init__(
        self, config: Config, *, flow: str, state_dir: Path | None, record: bool, scratch: Path | None = None
    ) -> None:
        self.config = config
        self.state = RunState(flow=flow)
        #: The repository's run lock, held from here to :meth:`release_run_lock` (a run
        #: that records nothing takes none).
        self.run_lock: RunLock | None = None
        taken = self._take_run_lock(state_dir) if record else None
        self.run_dir = new_run_dir(state_dir) if record else (scratch or Path(tempfile.gettempdir()))
        self.journal = Journal(self.run_dir / "journal.jsonl" if record else None)
        self._journal_takeover(taken)
        self.ctx = RunContext(
            config=config,
            state=self.state,
            git=GitService(config.root, timeout=config.timeouts.git),
            run_dir=self.run_dir,
            note=self.journal.write,
        )
        self.steps: list[Step] = []
        self.records: dict[str, StepRecord] = {}

    def _start(self, steps: list[Step], **fields: Any) -> None:
        """Take the flow's steps (each pending) and journal ``run_started``.

        Args:
            steps: The flow's steps, in order.
            fields: Written after ``flow`` in the record (the rollback's ``env``).
        """
        self.steps = steps
        self.records = {s.id: StepRecord() for s in steps}
        self.journal.write(
            "run_started",
            flow=self.state.flow,
            **fields,
            repo=str(self.config.root),
            config=str(self.config.path),
            operator=f"{getpass.getuser()}@{socket.gethostname()}",
            steps=[s.id for s in steps],
        )

    # -- the run lock ---------------------------------------------------------------------

    def _take_run_lock(self, state_dir: Path | None) -> Takeover | None:
        """Take the repository's run lock (see :mod:`iact_tui.engine.run_lock`).

        Raises:
            RunLockHeld: Another live iact-tui, or one on another host, holds it.
        """
        lock = RunLock(self.config.root, flow=self.state.flow, version=self.state.version or "", state_dir=state_dir)
        taken = lock.acquire()
        self.run_lock = lock
        return taken

    def _journal_takeover(self, taken: Takeover | None) -> None:
        if taken is not None:
            self.journal.write(
                "run_lock_broken" if taken.reason == "broken" else "run_lock_taken_over",
                previous=taken.previous.describe(),
                pid=taken.previous.pid,
                host=taken.previous.host,
                detail=taken.detail,
            )

    def lock_repository(self, state_dir: Path | None = None) -> None:
        """Take the repository's run lock for this run (a run built with ``record=False``
        whose journal was set afterwards, as a resumed run is); a stale or broken lock
        replaced is journaled (``run_lock_taken_over`` / ``run_lock_broken``). A no-op
        when the run holds it already.

        Args:
            state_dir: Where runs are kept (the lock is in ``<state>/locks``); ``None``:
                platformdirs' user state dir.

        Raises:
            RunLockHeld: Another live iact-tui, or one on another host, holds it.
        """
        if self.run_lock is None:
            self._journal_takeover(self._take_run_lock(state_dir))

    async def _check_run_lock(self) -> None:
        """Before a step: the run lock must still be this process's (read in a thread).

        Raises:
            RunLockLost: Another iact-tui broke it; the step fails saying who and to quit.
        """
        if self.run_lock is not None:
            await asyncio.to_thread(self.run_lock.check)

    @property
    def lock_lost(self) -> bool:
        """Whether a check found the run lock taken from this process: nothing more may be
        done or recorded here (a retry would fail the same way)."""
        return self.run_lock is not None and self.run_lock.lost

    def _check_input_lock(self) -> None:
        """Before journaling an operator's input (a tick, an acknowledgement, a choice):
        the run lock must still be this process's. Reads the small lock file, as the
        journal write that follows writes one.

        Raises:
            RunLockLost: The lock is gone or another process holds it; nothing is recorded.
        """
        if self.run_lock is not None:
            self.run_lock.check()

    def release_run_lock(self) -> None:
        """Give the run lock back (called by ``finish``; ``atexit`` does it otherwise)."""
        if self.run_lock is not None:
            self.run_lock.release()
            self.run_lock = None

    @property
    def journal_path(self) -> Path:
        """The JSONL journal of this run."""
        return self.journal.path

    def step(self, step_id: str) -> Step:
        """The step with this id.

        Raises:
            KeyError: No such step in the flow.
        """
        for s in self.steps:
            if s.id == step_id:
                return s
        raise KeyError(step_id)

    def _gate(self, step_id: str) -> None:
        """Refuse ``step_id`` when the flow's rules do not let it run now (each flow has
        its own: a chosen version, a passed checklist or plan, a typed confirmation).

        Raises:
            IactError: What is missing and what to do (the step fails with it).
        """

    async def run_step(self, step_id: str) -> AsyncIterator[Event]:
        """Run one step, yielding its events; every event is journaled.

        An :class:`IactError` becomes a failed ``StepFinished`` carrying its ``what`` and
        ``fix``; the step can be run again after the operator fixes the cause.
        Cancellation yields nothing more but journals a ``cancelled`` result.

        Raises:
            ConfirmationError: Never raised; a missing confirmation fails the step.
        """
        step = self.step(step_id)
        record = self.records[step_id]
        record.status = "running"
        record.attempts += 1
        started = time.monotonic()
        first: Event = StepStarted(step_id, step.title)
        self.journal.event(first)
        yield first
        finished: StepFinished | None = None
        try:
            await self._check_run_lock()
            self._gate(step_id)
            async for event in step.run(self.ctx):
                if isinstance(event, StepFinished):
                    finished = event
                    continue
                self.journal.event(event)
                yield event
            if finished is None:
                finished = StepFinished(step_id, "ok", f"{step.title}: done")
        except IactError as exc:
            finished = StepFinished(step_id, "failed", exc.what, exc.fix)
        except asyncio.CancelledError:
            record.status = "cancelled"
            record.message, record.fix = f"{step.title}: cancelled by the operator", ""
            self.journal.event(StepFinished(step_id, "cancelled", record.message))
            raise
        elapsed = time.monotonic() - started
        finished = StepFinished(
            finished.step_id,
            finished.status,
            finished.message,
            finished.fix,
            {**finished.data, "seconds": round(elapsed, 3), "attempt": record.attempts},
        )
        record.status, record.message, record.fix, record.data = (
            finished.status,
            finished.message,
            finished.fix,
            dict(finished.data),
        )
        if finished.status == "ok":
            self.state.results[step_id] = dict(finished.data)
        self.journal.event(finished)
        yield finished


class ReleaseRun(FlowRun):
    """One release run over a repository.

    Args:
        config: The validated config (its ``path`` locates the repository).
        state_dir: Where runs are kept; ``None`` uses the platformdirs user state dir.
        flow: ``release`` for now.
        record: False for a run that only plans: no run folder, no journal.

    Attributes:
        steps: The flow's steps in order (their ids are the ``--until`` ids).
        records: Step id → :class:`StepRecord` (status ``pending``/``running``/``ok``/...).
        journal: The run's append-only JSONL journal.
    """

    def __init__(
        self, config: Config, *, state_dir: Path | None = None, flow: str = "release", record: bool = True
    ) -> None:
        super().__init__(config, flow=flow, state_dir=state_dir, record=record)
        self._start(flows.release_flow(config))

    # -- paths -------------------------------------------------------------------------

    @property
    def announcement_path(self) -> Path | None:
        """Where the announcement was saved, once the ``announce`` step has run."""
        path = self.state.results.get("announce", {}).get("path")
        return Path(str(path)) if path else None

    # -- operator inputs ---------------------------------------------------------------

    async def load_versions(self) -> versioning.VersionInfo:
        """Read the tags and work out the current version and the bump candidates.

        Returns:
            The :class:`~iact_tui.services.versioning.VersionInfo` (also kept on the
            context for later steps).

        Raises:
            GitError: The repository cannot be read.
        """
        tags = await self.ctx.git.tags()
        info = versioning.parse_tags(tags, self.config.project.tag_prefix)
        self.ctx.versions = info
        held, _ = await asyncio.to_thread(
            version_files.read_versions, self.config.root, self.config.project.version_files
        )
        self.ctx.file_versions = held
        if info.current is not None:
            self.state.previous_version = str(info.current.version)
            self.state.previous_tag = info.current.tag
        return info

    def candidates(self) -> dict[str, str]:
        """Bump → resulting version (e.g. ``{"major": "2.0.0", ...}``); call after :meth:`load_versions`."""
        info = self._versions()
        current = info.current.version if info.current else None
        return {b: str(versioning.bump(current, b)) for b in BUMPS}

    def choose_bump(self, bump: str) -> str:
        """Choose MAJOR, MINOR or PATCH; returns the new version (without prefix).

        Raises:
            VersionError: ``bump`` is not one of ``major``, ``minor``, ``patch``, or the
                resulting tag already exists.
        """
        if bump not in BUMPS:
            raise VersionError(f"unknown bump {bump!r}", "choose major, minor or patch")
        version = self.candidates()[bump]
        self._set_version(version, bump)
        return version

    def prerelease_candidates(self) -> dict[str, str]:
        """Pre-release choice → resulting version; call after :meth:`load_versions`.

        Uses ``[project] prerelease_id`` (``rc`` by default). Keys, only those that apply:
        ``next-pre`` and ``promote`` (when a pre-release above the current release is
        tagged), ``major-pre``, ``minor-pre``, ``patch-pre``; e.g. with ``v1.3.2`` and
        ``v1.4.0-rc.1`` tagged: ``{"next-pre": "1.4.0-rc.2", "promote": "1.4.0",
        "major-pre": "2.0.0-rc.1", "patch-pre": "1.3.3-rc.1"}``. See
        :func:`~iact_tui.services.versioning.prerelease_candidates`.

        Raises:
            VersionError: The configured identifier is not a valid SemVer identifier.
        """
        found = versioning.prerelease_candidates(self._versions(), self.config.project.prerelease_id)
        return {key: str(version) for key, version in found.items()}

    def choose_prerelease(self, key: str) -> str:
        """Choose one of :meth:`prerelease_candidates`; returns the new version (without prefix).

        The version is validated like a typed one (above the current release, tag free) and
        ``state.bump`` becomes ``key`` (e.g. ``"next-pre"``).

        Raises:
            VersionError: ``key`` is not one of the candidates that apply now, or the
                version is refused.
        """
        found = self.prerelease_candidates()
        if key not in found:
            raise VersionError(
                f"no {key!r} pre-release applies to this repository",
                f"choose one of: {', '.join(found) or 'none'}, or type a version",
            )
        info = self._versions()
        version = versioning.validate_new_version(
            found[key],
            info.current.version if info.current else None,
            set(info.all_tags),
            self.config.project.tag_prefix,
        )
        self._set_version(str(version), key)
        return str(version)

    def choose_version(self, text: str) -> str:
        """Use a version the operator typed (validated: SemVer, above the current, tag free).

        Raises:
            VersionError: With the reason the version is refused.
        """
        info = self._versions()
        version = versioning.validate_new_version(
            text, info.current.version if info.current else None, set(info.all_tags), self.config.project.tag_prefix
        )
        self._set_version(str(version), "custom")
        return str(version)

    async def bump_suggestion(self) -> changelog.BumpSuggestion:
        """What the commits since the current release call for (call after :meth:`load_versions`).

        Returns:
            The :class:`~iact_tui.services.changelog.BumpSuggestion` (Conventional
            Commits 1.0.0 → SemVer 2.0.0).

        Raises:
            GitError: The history cannot be read.
        """
        commits = await self.ctx.git.commits_since(self.state.previous_tag or None, self.config.project.changelog)
        current = self._versions().current
        return changelog.suggest_bump(commits, current.version.major if current is not None else 0)

    def bump_warning(self, suggestion: changelog.BumpSuggestion, version: str | None = None) -> str | None:
        """A warning when the chosen version is a smaller bump than the commits call for.

        Args:
            suggestion: From :meth:`bump_suggestion`.
            version: The version to judge; ``None``: the chosen one.

        Returns:
            One sentence naming the commits, the rule (SemVer 2.0.0 §7-§8, or §4 while
            the major version is 0) and the chosen version's bump; ``None`` when the
            choice is big enough, nothing is chosen yet, or there is no earlier release.
        """
        previous, chosen = self.state.previous_version, version or self.state.version
        if not previous or not chosen or not suggestion.level:
            return None
        level = versioning.bump_level(previous, chosen)
        ranks = {"patch": 0, "minor": 1, "major": 2}
        if ranks[level] >= ranks[suggestion.level]:
            return None
        since = self.state.previous_tag
        if suggestion.breaking:
            n = len(suggestion.breaking)
            rule = (
                "SemVer 2.0.0 §8 calls for MAJOR"
                if suggestion.level == "major"
                else "SemVer 2.0.0 §4 calls for at least MINOR while the major version is 0"
            )
            return (
                f"{n} commit{'s' if n > 1 else ''} since {since} {'are' if n > 1 else 'is'} marked breaking "
                f"(first: {suggestion.breaking[0]!r}); {rule}, but {chosen} is a {level.upper()} release"
            )
        n = suggestion.features
        return (
            f"{n} feat commit{'s' if n > 1 else ''} since {since}: SemVer 2.0.0 §7 calls for MINOR, "
            f"but {chosen} is a {level.upper()} release"
        )

    def release_started(self) -> bool:
        """Whether any step after the checklist has run (the version is then fixed)."""
        return any(r.status != "pending" for sid, r in self.records.items() if sid != "preflight")

    def _set_version(self, version: str, bump: str) -> None:
        info = self._versions()
        tag = f"{self.config.project.tag_prefix}{version}"
        if tag in info.all_tags:
            raise VersionError(f"tag {tag} already exists", "choose another bump, or delete the stale tag")
        if version != self.state.version:
            if self.release_started():
                raise VersionError(
                    f"the release of {self.ctx.tag} has already started; its version cannot change now",
                    "finish it, or abandon it and start a new run",
                )
            # A checklist that passed for another version says nothing about this one.
            self.state.changelog_body = None
            self.records["preflight"] = StepRecord()
        self.state.version, self.state.bump = version, bump
        self.journal.write("version_chosen", bump=bump, version=version, previous=self.state.previous_version)
        if self.run_lock is not None:
            self.run_lock.set_version(version)  # another process refused says which version

    def _versions(self) -> versioning.VersionInfo:
        if self.ctx.versions is None:
            raise RuntimeError("load_versions() must be awaited first")
        return self.ctx.versions

    def automatic_checks(self) -> tuple[tuple[str, str], ...]:
        """The ``preflight`` step's checks as ``(id, label)`` pairs, in report order (with the
        GitHub-backed ones when ``[forge] kind = "github"``)."""
        return preflight.checks_for(self.config)

    def manual_checks(self) -> tuple[tuple[str, str], ...]:
        """The manual checklist items as ``(id, label)`` pairs (those the forge checks
        answer are left out)."""
        if self.config.forge.kind == "github":
            return tuple(c for c in MANUAL_CHECKS if c[0] not in preflight.COVERED_MANUAL)
        return MANUAL_CHECKS

    def tick(self, check_id: str, ticked: bool) -> None:
        """Tick or untick a manual checklist item (journaled).

        Raises:
            KeyError: ``check_id`` is not one of :meth:`manual_checks`.
            RunLockLost: The run lock is lost: nothing is recorded.
        """
        self._check_input_lock()
        if check_id not in {c for c, _ in self.manual_checks()}:
            raise KeyError(check_id)
        if ticked:
            self.state.ticks.add(check_id)
        else:
            self.state.ticks.discard(check_id)
        self.journal.write("tick", check=check_id, ticked=ticked)

    def checklist_complete(self) -> bool:
        """True when ``preflight`` passed for the chosen version and every manual item is ticked."""
        manual_ok = all(c in self.state.ticks for c, _ in self.manual_checks())
        preflight = self.records["preflight"]
        return manual_ok and preflight.status == "ok" and preflight.data.get("version") == self.state.version

    def verify_manual_checks(self) -> tuple[tuple[str, str], ...]:
        """The verification items done by hand as ``(id, label)`` pairs (``VERIFY_MANUAL``)."""
        return VERIFY_MANUAL

    def tick_verify(self, check_id: str, ticked: bool, note: str = "") -> None:
        """Tick or untick a verification item done by hand, with the operator's note
        (journaled with the note).

        Raises:
            KeyError: ``check_id`` is not one of :meth:`verify_manual_checks`.
            RunLockLost: The run lock is lost: nothing is recorded.
        """
        self._check_input_lock()
        if check_id not in {c for c, _ in VERIFY_MANUAL}:
            raise KeyError(check_id)
        note = note.strip()
        if ticked:
            self.state.verify_ticks[check_id] = note
        else:
            self.state.verify_ticks.pop(check_id, None)
        self.journal.write("verify_tick", check=check_id, ticked=ticked, note=note)

    def verification_complete(self) -> bool:
        """True when ``verify`` passed (or was skipped: no production configured) and, when
        it ran, every item done by hand is ticked; the announcement waits for this."""
        if "verify" not in self.records:
            return True
        status = self.records["verify"].status
        if status == "skipped":
            return True
        return status == "ok" and all(c in self.state.verify_ticks for c, _ in VERIFY_MANUAL)

    def verification_summary(self) -> dict[str, Any]:
        """Every verification figure and the ticks done by hand with their notes, as
        journaled and as the announcement and the report read them.

        Returns:
            ``{"status": ..., "checks": {...step data...}, "manual": {id: {"label", "ticked", "note"}}}``;
            ``{"status": "not run"}`` before ``verify`` ran.
        """
        record = self.records.get("verify")
        if record is None or record.status in ("pending", "running"):
            return {"status": "not run"}
        return {
            "status": record.status,
            "checks": dict(record.data),
            "manual": {
                c: {"label": label, "ticked": c in self.state.verify_ticks, "note": self.state.verify_ticks.get(c, "")}
                for c, label in VERIFY_MANUAL
            },
        }

    async def pr_preview(self) -> release_git.PrPreview:
        """The release pull request as the ``merge`` step would open it (GitHub forge):
        title, branches, body (the edited one when there is one, and the template's), and
        an open PR that would be reused as it is; see :func:`~iact_tui.engine.steps.release_git.pr_preview`.

        Raises:
            ConfigError: ``[forge] pr_template`` is missing or has an unknown placeholder.
        """
        return await release_git.pr_preview(self.ctx)

    def set_pr_body(self, body: str | None) -> None:
        """Keep the operator's edited release pull request body (``None``: back to the
        template); journaled with its text, so a resumed run has it."""
        self.state.pr_body = body
        self.journal.write("pr_body_edited", chars=len(body) if body is not None else None, body=body)

    def reset_checklist(self) -> None:
        """Forget the checklist's result so it runs again (before the release has started)."""
        if not self.release_started():
            self.records["preflight"] = StepRecord()

    def reload_config(self) -> None:
        """Read ``iact-release.toml`` again (a retry picks up the operator's fix).

        Raises:
            ConfigError: The file is now invalid; the run keeps the config it had.
        """
        config = load_config(self.config.path)
        self.config = config
        self.ctx.config = config
        self.journal.write("config_reloaded", config=str(config.path))

    async def draft_changelog(self) -> str:
        """The new section's body: ``[Unreleased]`` entries plus commits since the last tag.

        Returns:
            Markdown with ``### Added``/``### Changed``/... groups (Keep a Changelog 1.1.0).
            The operator's edited text instead, when there is one.
        """
        return await self.ctx.draft_changelog()

    def set_changelog(self, body: str) -> None:
        """Keep the operator's edited section body (journaled with the body, so a resumed
        run has it; the changelog screen calls this 1 s after the last key)."""
        self.state.changelog_body = body
        self.journal.write("changelog_edited", chars=len(body), body=body)

    @staticmethod
    def check_changelog(body: str) -> int:
        """Check a section body can be written: at least one ``- `` entry and no ``#`` or
        ``##`` heading (:func:`~iact_tui.services.changelog.section_problems`); returns
        how many entries it has.

        Raises:
            ChangelogError: Naming every problem with its line (Keep a Changelog 1.1.0
                lists changes as bullet entries under ``### Added``, ``### Fixed``...).
        """
        problems = changelog.section_problems(body)
        if problems:
            raise ChangelogError(
                "the new changelog section cannot be written: " + "; ".join(problems),
                "fix it in the changelog editor (groups are ### headings with `- ` entries under them)",
            )
        return changelog.count_entries(body)

    def needs_confirmation(self, step_id: str) -> bool:
        """Whether ``step_id`` needs a typed confirmation (the version) before it runs."""
        env = flows.env_of(step_id)
        return (
            env is not None
            and step_id.startswith("deploy-")
            and env in self.config.environments
            and self.config.needs_confirmation(env)
        )

    def confirm(self, step_id: str, typed: str) -> bool:
        """Record the operator's typed confirmation; True when it matches the version.

        The version may be typed with or without the tag prefix.
        """
        ok = typed.strip() in {self.state.version, self.ctx.tag} and bool(self.state.version)
        if ok:
            self.state.confirmations[step_id] = typed.strip()
        self.journal.write("confirmation", step=step_id, accepted=ok)
        return ok

    # -- steps -------------------------------------------------------------------------

    async def check_setup(self) -> list[IactError]:
        """Read-only checks of what the config points at, for ``plan`` and before a run.

        Returns:
            One error per problem: a version file that is missing or has no version, a
            remote that does not exist, an environment whose ``app_dir`` or ``python`` is
            missing (local transport). Empty when all is well.
        """
        problems: list[IactError] = []
        root, project = self.config.root, self.config.project
        problems.extend(preflight.missing_secrets(self.config, os.environ)[1])

        _, unreadable = await asyncio.to_thread(version_files.read_versions, root, project.version_files)
        problems.extend(unreadable)
        try:
            await self.ctx.git.require_remote(project.remote)
        except GitError as exc:
            problems.append(exc)
        for name, env in self.config.environments.items():
            if env.transport != "local":
                continue
            app_dir = self.config.env_app_dir(name)
            if not await asyncio.to_thread(app_dir.is_dir):
                problems.append(
                    ConfigError(
                        f"[environments.{name}] app_dir {app_dir} does not exist", "fix app_dir, or create the checkout"
                    )
                )
                continue
            python = Path(env.python) if Path(env.python).is_absolute() else app_dir / env.python
            if "/" in env.python and not await asyncio.to_thread(python.exists):
                problems.append(
                    ConfigError(
                        f"[environments.{name}] python {python} does not exist", "fix python (relative to app_dir)"
                    )
                )
        return problems

    async def check_repository(self) -> list[preflight.CheckResult]:
        """The checklist's git checks, read-only, for ``plan``; call after choosing the version.

        Clean tree, on the main branch (not detached), the remote exists and answers, the
        clone is not shallow and has its tags, main level with the remote after a fetch
        (``--no-tags``: only remote-tracking refs change), the release tag and branch free
        locally and on the remote. The tests and coverage are not run.

        Returns:
            One :class:`~iact_tui.engine.steps.preflight.CheckResult` per check, in report
            order; a failed one carries the error (what is wrong, and the fix).
        """
        return await preflight.repository_checks(self.ctx)

    def plan(self) -> list[tuple[Step, list[Action]]]:
        """Every step with the actions it would take; changes nothing."""
        return [(s, s.plan(self.ctx)) for s in self.steps]

    def _gate(self, step_id: str) -> None:
        """The release's rules: a chosen version; the checklist passed for it (except for
        ``preflight`` itself); the verification complete before ``announce``; the typed
        version before a step that needs it.

        Raises:
            VersionError, ChecklistError, ConfirmationError: What is missing and what to do.
        """
        if not self.state.version:
            raise VersionError("no version chosen yet", "choose MAJOR, MINOR or PATCH first")
        if step_id != "preflight" and not self.checklist_complete():
            raise ChecklistError(
                f"the pre-release checklist has not passed for {self.ctx.tag}",
                "run the checklist for this version and tick every manual item first",
            )
        if step_id == "announce" and not self.verification_complete():
            raise ChecklistError(
                "production verification is not complete: it has not passed, or an item done by hand is not ticked",
                "finish the verification screen (tick what you verified by hand), or pass --yes to the headless runner",
            )
        if self.needs_confirmation(step_id) and step_id not in self.state.confirmations:
            raise ConfirmationError(
                f"{self.step(step_id).title} needs the operator to type the version {self.state.version} first",
                "confirm on the production screen, or pass --yes to the headless runner",
            )

    async def run_until(self, until: str | None = None) -> AsyncIterator[Event]:
        """Run the flow's steps in order up to and including ``until`` (all when ``None``).

        Stops after the first failed step (its ``StepFinished`` is the last event).
        Steps already ``ok`` are not run again. This is the unattended way through the
        flow: with ``[announce] webhook_env`` set, the announcement is sent once right
        after the ``announce`` step saved it, and a failed send fails that step (see
        :meth:`send_announcement`).
        """
        for s in self.steps:
            if self.records[s.id].status == "ok":
                continue
            failed = False
            async for event in self.run_step(s.id):
                yield event
                if isinstance(event, StepFinished) and event.status == "failed":
                    failed = True
            if s.id == "announce" and not failed and self.config.announce.webhook_env:
                # Unattended: nobody is there to read it first, so it is sent once, as rendered.
                async for event in self._send_unattended():
                    yield event
                    failed = isinstance(event, StepFinished) and event.status == "failed"
            if failed or s.id == until:
                return

    async def version_mismatches(self) -> list[version_files.FileVersion]:
        """Version files that do not hold the current release's version (read, not changed).

        Returns:
            The disagreeing files with what they hold; empty when all agree, when there is
            no release yet, or when a file cannot be read (the bump step reports that).
        """
        if not self.state.previous_version:
            return []
        held, _ = await asyncio.to_thread(
            version_files.read_versions, self.config.root, self.config.project.version_files
        )
        # Build metadata (SemVer 2.0.0 §10) is not part of the version a file holds.
        return [f for f in held if f.version != self.state.previous_version.split("+")[0]]

    async def rollback_plan(self, env: str = "production") -> prep.RollbackPlan:
        """The rollback plan for deploying this release to ``env`` (read-only; see
        :func:`~iact_tui.engine.steps.prep.rollback_plan`)."""
        return await prep.rollback_plan(self.ctx, env)

    def acknowledge_rollback_plan(self, env: str, lines: list[str]) -> None:
        """The operator read and acknowledged the rollback plan (journaled with its text).

        Raises:
            RunLockLost: The run lock is lost: nothing is recorded.
        """
        self._check_input_lock()
        self.state.prep[f"{env}:rollback-ack"] = "yes"
        self.journal.write("rollback_plan_acknowledged", env=env, plan=lines)

    def skip_prep_item(self, env: str, item: str, reason: str, typed: str = "") -> None:
        """Skip the prep's ``backup`` or ``notice`` with the operator's reason (journaled).

        Skipping the backup of an environment whose deploy needs a typed confirmation
        (production always) also needs the release's version typed, as the deploy does.

        Args:
            env: The environment, e.g. ``"production"``.
            item: ``"backup"`` or ``"notice"``.
            reason: Why it is safe to go on without it (recorded).
            typed: What the operator typed to confirm a backup skip: the version, with
                or without the tag prefix; ignored for the notice.

        Raises:
            ConfirmationError: ``item`` is not skippable, ``reason`` is blank, or the
                backup skip's typed version is missing or wrong.
            RunLockLost: The run lock is lost: nothing is recorded.
        """
        self._check_input_lock()
        if item not in {"backup", "notice"}:
            raise ConfirmationError(f"{item!r} cannot be skipped", "only the backup and the notice can be skipped")
        if not reason.strip():
            raise ConfirmationError(f"skipping the {item} needs a reason", "type why it is safe to go on without it")
        if item == "backup" and env in self.config.environments and self.config.needs_confirmation(env):
            accepted = bool(self.state.version) and typed.strip() in {self.state.version, self.ctx.tag}
            self.journal.write("confirmation", step=f"prep-{env}:backup-skip", accepted=accepted)
            if not accepted:
                raise ConfirmationError(
                    f"skipping the {env} database backup needs the version typed "
                    f"({self.ctx.tag if self.state.version else 'no version chosen yet'})",
                    f"type {self.state.version or 'the version'} to confirm going on without a backup, "
                    "or configure the backup",
                )
        self.state.prep[f"{env}:{item}-skip"] = reason.strip()
        self.journal.write("prep_skip_requested", env=env, item=item, reason=reason.strip())

    def held_locks(self, env: str) -> dict[str, dict[str, str]]:
        """Host → another deploy's lock that stopped the last ``deploy-{env}`` (``path``,
        ``owner``, ``since``, ``token``); empty when none did."""
        hosts = self.records[f"deploy-{env}"].data.get("hosts")
        if not isinstance(hosts, dict):
            return {}
        return {name: dict(h["lock_held"]) for name, h in hosts.items() if isinstance(h, dict) and h.get("lock_held")}

    async def break_deploy_lock(self, env: str, host_name: str, typed: str) -> str:
        """Break the lock that stopped the deploy on ``host_name``, once the operator typed the host's name.

        Only the very lock that was shown is removed (its token); one taken since by
        someone else is left alone. The break is journaled.

        Args:
            env: The environment.
            host_name: The host whose lock is broken.
            typed: What the operator typed; must equal ``host_name``.

        Returns:
            One sentence saying whose lock was removed.

        Raises:
            ConfirmationError: ``typed`` is not the host's name.
            LockError: The lock changed since (someone else holds it now), or it could
                not be removed.
            KeyError: No held lock is known for that host.
        """
        from iact_tui.services import deploy_lock
        from iact_tui.services.remote import make_hosts

        held = self.held_locks(env)[host_name]
        cfg = self.config.environments[env]
        host = next(h for h in make_hosts(env, cfg, root=self.config.root) if h.name == host_name)
        try:
            removed = await deploy_lock.break_lock(host, held["path"], typed, token=held.get("token") or None)
        finally:
            await host.close()
        self.journal.write(
            "deploy_lock_broken", env=env, host=host_name, owner=held.get("owner"), since=held.get("since")
        )
        who = getattr(removed, "owner", held.get("owner", "someone"))
        return f"{host_name}: the deploy lock of {who} was removed; retry the deploy"

    def prep_gaps(self, env: str = "production") -> list[ConfigError]:
        """What the ``prep-{env}`` step would have to ask the operator for: a backup or a
        notice that is neither configured nor skipped with a reason (from the config or
        :meth:`skip_prep_item`). Empty when the environment is not configured.

        Headless runs check this before the first step, since nobody can answer then.
        """
        cfg = self.config.environments.get(env)
        if cfg is None:
            return []
        gaps: list[ConfigError] = []
        if cfg.backup is None and not (cfg.backup_skip_reason or self.state.prep.get(f"{env}:backup-skip")):
            gaps.append(
                ConfigError(
                    f"[environments.{env}] has no database backup ([environments.{env}.backup]) and no reason to go "
                    "without one",
                    f"configure pg_dump in [environments.{env}.backup], set backup_skip_reason, or pass "
                    "--skip-backup REASON",
                )
            )
        notify = self.config.notify
        if not notify.webhook_env and not (notify.skip_reason or self.state.prep.get(f"{env}:notice-skip")):
            gaps.append(
                ConfigError(
                    "no stakeholder notice is configured ([notify] webhook_env) and there is no reason to go without one",
                    "set [notify] webhook_env (and export that variable), set [notify] skip_reason, or pass "
                    "--skip-notice REASON",
                )
            )
        return gaps

    def set_keep_maintenance(self, env: str, keep: bool) -> None:
        """The operator's choice: leave maintenance mode on when a deploy command fails (journaled).

        Raises:
            RunLockLost: The run lock is lost: nothing is recorded.
        """
        self._check_input_lock()
        self.state.keep_maintenance[env] = keep
        self.journal.write("maintenance_choice", env=env, keep_on_failure=keep)

    def keeps_maintenance(self, env: str) -> bool:
        """Whether a failed deploy to ``env`` leaves maintenance mode on (the choice, else the config)."""
        cfg = self.config.environments.get(env)
        return self.state.keep_maintenance.get(env, bool(cfg and cfg.keep_maintenance_on_failure))

    def accept_version_mismatch(self, accept: bool) -> None:
        """The operator's choice: bump disagreeing version files anyway (journaled).

        Raises:
            RunLockLost: The run lock is lost: nothing is recorded.
        """
        self._check_input_lock()
        self.state.accept_version_mismatch = accept
        self.journal.write("version_mismatch_accepted", accepted=accept)

    # -- the announcement ----------------------------------------------------------------

    @property
    def announcement(self) -> str | None:
        """The announcement as it stands (the operator's edit, else as rendered): what is
        saved, copied and sent; ``None`` until the ``announce`` step has run."""
        data = self.state.results.get("announce")
        return str(data["markdown"]) if data and "markdown" in data else None

    def announcement_webhook(self) -> str:
        """Where :meth:`send_announcement` posts, safe to show (the URL's path masked);
        ``""`` when ``[announce] webhook_env`` is not set."""
        return announce.webhook_label(self.ctx)

    def set_announcement_text(self, text: str | None) -> None:
        """Keep the operator's edit of the announcement (``None``: back to the rendered
        text) in the ``announce`` step's result; journaled with the text.

        Raises:
            RuntimeError: The ``announce`` step has not passed yet.
        """
        data = self._announce_result()
        rendered = str(data.get("rendered", ""))
        markdown = rendered if text is None else text
        self._update_announcement(markdown=markdown, edited=markdown != rendered)
        self.journal.write("announcement_edited", edited=markdown != rendered, chars=len(markdown), text=markdown)

    async def save_announcement(self) -> Path:
        """Write the announcement as it stands to its file (temp file, renamed); journaled.

        Returns:
            The file.

        Raises:
            RuntimeError: The ``announce`` step has not passed yet.
            IactError: The file cannot be written.
        """
        data = self._announce_result()
        path, markdown = Path(str(data["path"])), str(data["markdown"])
        await announce.save(path, markdown)
        self.journal.write("announcement_saved", path=str(path), chars=len(markdown))
        return path

    async def send_announcement(self) -> announce.SendOutcome:
        """Send the announcement as it stands to ``[announce] webhook_env``'s webhook in
        ``[announce] format``. Journaled (format, the URL's host with its path masked,
        status, the start of the answer, the text sent) and kept in the step's result as
        ``send``; a failure is returned, not raised, so it can be shown and retried.

        Raises:
            RuntimeError: The ``announce`` step has not passed yet.
        """
        markdown = str(self._announce_result()["markdown"])
        outcome = await announce.send(self.ctx, markdown)
        self._update_announcement(send=outcome.to_json())
        kind = "announcement_sent" if outcome.ok else "announcement_send_failed"
        self.journal.write(kind, **outcome.to_json(), text=markdown)
        return outcome

    def _announce_result(self) -> dict[str, Any]:
        data = self.state.results.get("announce")
        if not data or "markdown" not in data:
            raise RuntimeError("the announce step must have passed first")
        return data

    def _update_announcement(self, **fields: Any) -> None:
        self.state.results["announce"].update(fields)
        self.records["announce"].data.update(fields)

    async def _send_unattended(self) -> AsyncIterator[Event]:
        """Send after the ``announce`` step; a failed send fails the step (its file is kept)."""
        sending = OutputLine("announce", f"sending to the {self.announcement_webhook()}")
        self.journal.event(sending)
        yield sending
        outcome = await self.send_announcement()
        record = self.records["announce"]
        last: Event
        if outcome.ok:
            last = OutputLine("announce", outcome.message)
        else:
            answer = outcome.answer[:200]
            said = f" (answer: {answer})" if answer and answer not in outcome.message else ""
            record.status = "failed"
            record.message = f"saved to {record.data.get('path')} but not sent: {outcome.message}{said}"
            record.fix = f"{outcome.fix}; or post the saved file by hand"
            last = StepFinished("announce", "failed", record.message, record.fix, dict(record.data))
        self.journal.event(last)
        yield last

    def finish(self) -> None:
        """Journal the end of the run with each step's status, then write its
        ``report.md`` next to the journal (:mod:`iact_tui.engine.report`)."""
        self.journal.write("run_finished", steps={k: v.status for k, v in self.records.items()})
        self.release_run_lock()
        report.save_run_report(self.journal_path)

    def info(self, text: str) -> OutputLine:
        """An ``info`` line not tied to a step (for front ends' own notices)."""
        return OutputLine("run", text)


def summary(run: ReleaseRun) -> dict[str, Any]:
    """Step id → status, for the final report line."""
    return {k: v.status for k, v in run.records.items()}
