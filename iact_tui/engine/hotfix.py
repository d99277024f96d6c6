"""The hotfix flow: a patch release cut from the tag production runs, deployed at once.

:class:`HotfixRun` drives it for both front ends; every event goes through
:meth:`HotfixRun.run_step` into its own journal (a run folder of flow ``hotfix``). It is a
:class:`~iact_tui.engine.run.ReleaseRun` with other steps and another gate, so the
production prep's inputs, the typed confirmation, the deploy lock break and the
verification ticks are the release's. Its steps (the ``--until`` ids):

``hotfix-branch``
    ``hotfix/vX.Y.(Z+1)`` from the tag production runs (read on its first host; the
    journals' last deploy when the host runs no release tag), the next free patch (see
    :meth:`HotfixRun.load`). A branch already there that starts at or after the tag is
    reused.
``hotfix-checks``
    Clean tree, on the hotfix branch, at least one fix commit since the tag, the
    ``[checks] tests`` command.
``bump``, ``changelog``, ``commit``, ``push``, ``tag``
    The release steps, working on the hotfix branch (``RunContext.work_branch``): the
    changelog section is ``### Fixed`` from the fix commits' subjects unless the operator
    edited it; the commit is ``chore: prepare hotfix vX.Y.Z``; the annotated tag goes on
    the hotfix branch's head and is pushed.
``deploy-staging``, ``smoke-staging``
    Only with ``[hotfix] staging = true``; skipped otherwise.
``prep-production``, ``deploy-production``, ``verify``
    The release's production prep (backup unless skipped with a reason), the deploy after
    the typed version, the verification.
``backport``
    The fix into main and every open release branch on the remote (``[hotfix] backport``:
    ``merge --no-ff`` of the hotfix branch, or ``cherry-pick -x`` of the fix commits plus
    the changelog section), each in a temporary worktree, pushed. A release branch is open
    while it is not merged into main and its tag does not exist; finished ones are skipped
    and reported (:func:`open_release_branches`). Conflicts in the changelog and the
    version files are resolved (the target keeps its version files; the hotfix's section
    is added to its changelog); any other conflict is aborted, reported with its files and
    left to the operator: nothing is pushed to that branch. Then version files holding a
    lower version than the hotfix's (SemVer 2.0.0 precedence) are raised to it in a
    ``chore: version files at X.Y.Z after hotfix vX.Y.Z`` commit; a higher one is kept.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import shutil
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import semver

from iact_tui.config import CONFIG_NAME, Config
from iact_tui.engine import history as history_mod
from iact_tui.engine.events import CheckStatus, CheckUpdate, Event, OutputLine, StepFinished
from iact_tui.engine.flows import HOTFIX_STEP_IDS
from iact_tui.engine.journal import read_journal, state_root
from iact_tui.engine.run import FlowRun, ReleaseRun
from iact_tui.engine.state import RunContext
from iact_tui.engine.step import Action, Step
from iact_tui.engine.steps.checks import SmokeStep, VerifyStep
from iact_tui.engine.steps.deploy import DeployStep
from iact_tui.engine.steps.prep import PrepStep
from iact_tui.engine.steps.release_git import (
    BumpStep,
    ChangelogStep,
    CommitStep,
    PushStep,
    TagStep,
    release_message,
)
from iact_tui.errors import ChecklistError, ConfigError, GitError, IactError, VersionError
from iact_tui.services import changelog, deploy_state, version_files, versioning
from iact_tui.services.files import write_atomic
from iact_tui.services.git import GitService
from iact_tui.services.remote import CommandResult, LocalHost, make_hosts

BRANCH, CHECKS, BACKPORT = "hotfix-branch", "hotfix-checks", "backport"

_CONVENTIONAL = re.compile(r"^[a-zA-Z]+(\([^)]*\))?!?:\s*")


def fix_entry(subject: str) -> str:
    """A changelog entry from a fix commit's subject, written as a release's draft writes
    it (:func:`iact_tui.services.changelog.classify`: ``fix(auth): answer 400 …`` →
    ``**auth:** Answer 400 …``, breaking ones marked).

    A subject a release's draft leaves out (``test: …``, ``chore: …``) is still an entry
    here, without its type: every commit on a hotfix branch is part of the fix.
    """
    found = changelog.classify(changelog.Commit("", subject))
    if found is not None:
        return found[1]
    text = _CONVENTIONAL.sub("", subject.strip()).strip() or subject.strip()
    return text[:1].upper() + text[1:]


def draft_fixed(subjects: list[tuple[str, str]]) -> str:
    """The hotfix's section body: ``### Fixed`` with one entry per fix commit, oldest first.

    Args:
        subjects: ``(sha, subject)`` of the fix commits, newest first (``git log``'s order).
    """
    entries = [f"- {fix_entry(subject)}" for _, subject in reversed(subjects)]
    return "### Fixed\n\n" + "\n".join(entries) + "\n" if entries else ""


async def fix_commits(ctx: RunContext) -> list[tuple[str, str]]:
    """``(sha, subject)`` of the commits on the hotfix branch since the production tag,
    newest first, without merges and the hotfix's own prepare commit."""
    branch, base = ctx.release_branch, ctx.state.previous_tag
    if not await ctx.git.rev(f"refs/heads/{branch}"):
        return []
    found = await ctx.git.subjects(f"{base}..refs/heads/{branch}")
    return [(sha, subject) for sha, subject in found if subject != release_message(ctx)]


class HotfixBranchStep:
    """Create (or reuse) ``hotfix/vX.Y.Z`` from the tag production runs and check it out."""

    id = BRANCH
    title = "Create hotfix branch"

    def plan(self, ctx: RunContext) -> list[Action]:
        p = ctx.config.project
        return [
            Action("git", f"git fetch --tags --prune {p.remote}"),
            Action("git", f"git checkout -b {ctx.release_branch} {ctx.state.previous_tag}"),
        ]

    async def run(self, ctx: RunContext) -> AsyncIterator[Event]:
        p, git, branch, base = ctx.config.project, ctx.git, ctx.release_branch, ctx.state.previous_tag
        await git.fetch(p.remote)
        yield OutputLine(self.id, f"fetched {p.remote}")
        base_sha = await git.rev(f"refs/tags/{base}")
        if not base_sha:
            raise GitError(f"tag {base} (what production runs) is not in this clone", f"git fetch --tags {p.remote}")
        local = await git.rev(f"refs/heads/{branch}")
        remote = await git.rev(f"refs/remotes/{p.remote}/{branch}")
        current = await git.current_branch()
        how = "created"
        if current == branch:
            how = "already checked out"
        else:
            changed, _ = await git.dirty_files()
            if changed:
                raise GitError(
                    f"the working tree has uncommitted changes: {', '.join(changed[:8])}",
                    f"commit or stash them, then retry; the hotfix is made on {branch}",
                )
            if local:
                if not await _starts_at(git, base_sha, local, f"refs/remotes/{p.remote}/{p.main_branch}"):
                    raise GitError(
                        f"branch {branch} already exists at {local[:10]}, but it was not cut from {base}",
                        f"delete it (`git branch -D {branch}`) if it is a leftover, then retry",
                    )
                await git.checkout(branch)
                how = "reused"
            elif remote:
                await git.create_branch(branch, f"{p.remote}/{branch}")
                how = f"reused from {p.remote}"
            else:
                await git.create_branch(branch, base)
        head = await git.rev("HEAD")
        yield OutputLine(self.id, f"{branch} {how} (from {base}, at {str(head)[:10]})")
        try:
            await git.show_file(base, CONFIG_NAME)
        except IactError:
            yield OutputLine(
                self.id,
                f"note: {CONFIG_NAME} is not in {base}'s tree, so it is absent while {branch} is checked out; "
                f"to run iact-tui again, go back to {p.main_branch} first (the hotfix branch is reused)",
                "stderr",
            )
        yield StepFinished(
            self.id, "ok", f"on {branch} ({how}, from {base})", data={"branch": branch, "base": base, "how": how}
        )


class HotfixChecksStep:
    """The short checklist: clean tree, on the branch, fix commits, the tests."""

    id = CHECKS
    title = "Hotfix checks"

    def plan(self, ctx: RunContext) -> list[Action]:
        tests = ctx.config.checks.tests or "(no tests command configured)"
        return [
            Action("check", f"clean tree, on {ctx.release_branch}, a fix commit since {ctx.state.previous_tag}"),
            Action("command", f"run the tests: {tests}"),
        ]

    async def run(self, ctx: RunContext) -> AsyncIterator[Event]:
        git, branch = ctx.git, ctx.release_branch
        rows = {
            "clean-tree": "Working tree is clean",
            "branch": f"On {branch}",
            "fix-commits": f"Fix commits since {ctx.state.previous_tag}",
            "tests": "Tests pass on the hotfix branch",
        }
        for check_id, label in rows.items():
            yield CheckUpdate(self.id, check_id, label, "pending")
        changed, _ = await git.dirty_files()
        if changed:
            yield CheckUpdate(self.id, "clean-tree", rows["clean-tree"], "failed", ", ".join(changed[:8]))
            raise ChecklistError(
                f"the working tree has uncommitted changes: {', '.join(changed[:8])}",
                f"commit the fix on {branch} (or stash what is not part of it), then run the checks again",
            )
        yield CheckUpdate(self.id, "clean-tree", rows["clean-tree"], "passed", "nothing uncommitted")
        if await git.current_branch() != branch:
            if not await git.rev(f"refs/heads/{branch}"):
                raise GitError(f"hotfix branch {branch} does not exist", "run the 'Create hotfix branch' step first")
            await git.checkout(branch)
        yield CheckUpdate(self.id, "branch", rows["branch"], "passed", "checked out")
        commits = await fix_commits(ctx)
        if not commits:
            yield CheckUpdate(self.id, "fix-commits", rows["fix-commits"], "failed", "none yet")
            raise ChecklistError(
                f"{branch} has no commit since {ctx.state.previous_tag}",
                f"make the fix and commit it on {branch} (e.g. `fix: …`), then run the checks again",
            )
        for sha, subject in commits:
            yield OutputLine(self.id, f"fix commit {sha[:10]} {subject}")
        yield CheckUpdate(self.id, "fix-commits", rows["fix-commits"], "passed", f"{len(commits)} commit(s)")
        c = ctx.config.checks
        if not c.tests:
            yield CheckUpdate(self.id, "tests", rows["tests"], "skipped", "disabled ([checks] tests is empty)")
        else:
            yield CheckUpdate(self.id, "tests", rows["tests"], "running")
            result: CommandResult | None = None
            async for item in LocalHost("local").stream(c.tests, cwd=str(ctx.config.root), timeout=c.timeout):
                if isinstance(item, CommandResult):
                    result = item
                else:
                    yield OutputLine(self.id, item.text, item.stream, "tests")
            assert result is not None
            if not result.ok:
                why = (
                    f"did not finish within {c.timeout:g} s"
                    if result.timed_out
                    else f"exited {result.exit_status}: " + " | ".join((result.stderr_tail or result.stdout_tail)[-3:])
                )
                yield CheckUpdate(self.id, "tests", rows["tests"], "failed", why)
                raise ChecklistError(
                    f"the tests command {why}", f"fix the tests on {branch}, then run the checks again"
                )
            yield CheckUpdate(self.id, "tests", rows["tests"], "passed", f"passed in {result.duration:.1f} s")
        yield StepFinished(
            self.id,
            "ok",
            f"{len(commits)} fix commit(s) on {branch}; checks passed",
            data={"commits": [{"sha": s, "subject": t} for s, t in commits], "version": ctx.state.version},
        )


class HotfixChangelogStep(ChangelogStep):
    """The release's changelog step, drafting ``### Fixed`` from the fix commits."""

    def plan(self, ctx: RunContext) -> list[Action]:
        p = ctx.config.project
        return [Action("file", f"{p.changelog}: new section [{ctx.state.version}] (### Fixed, from the fix commits)")]

    async def run(self, ctx: RunContext) -> AsyncIterator[Event]:
        if ctx.state.changelog_body is None:
            ctx.state.changelog_body = draft_fixed(await fix_commits(ctx))
        async for event in super().run(ctx):
            yield event


class StagingIfConfigured:
    """A staging step that runs only with ``[hotfix] staging = true`` (skipped otherwise)."""

    def __init__(self, step: DeployStep | SmokeStep) -> None:
        self.inner = step
        self.id, self.title = step.id, step.title

    def plan(self, ctx: RunContext) -> list[Action]:
        if not ctx.config.hotfix.staging:
            return [Action("notice", "skipped: [hotfix] staging = false (straight to production)", "staging")]
        return self.inner.plan(ctx)

    async def run(self, ctx: RunContext) -> AsyncIterator[Event]:
        if not ctx.config.hotfix.staging:
            yield StepFinished(self.id, "skipped", "[hotfix] staging = false: straight to production")
            return
        async for event in self.inner.run(ctx):
            yield event


class BackportStep:
    """Bring the fix into main and every open release branch (see the module docstring)."""

    id = BACKPORT
    title = "Backport into main"

    def plan(self, ctx: RunContext) -> list[Action]:
        p, how = ctx.config.project, ctx.config.hotfix.backport
        verb = f"git merge --no-ff {ctx.release_branch}" if how == "merge" else "git cherry-pick -x <the fix commits>"
        return [
            Action("git", f"in a temporary worktree at {p.remote}/{p.main_branch}: {verb}; add the changelog section"),
            Action(
                "git",
                f"the same into every open {p.release_branch_prefix}* branch on {p.remote} "
                f"(not merged into {p.main_branch}, not tagged; finished ones are skipped)",
            ),
            Action("git", f"raise version files below {ctx.state.version} to it (never lower one), in its own commit"),
            Action("git", f"git push {p.remote} {p.main_branch} (and each release branch); conflicts are left to you"),
        ]

    async def run(self, ctx: RunContext) -> AsyncIterator[Event]:
        p, git, how = ctx.config.project, ctx.git, ctx.config.hotfix.backport
        await git.fetch(p.remote)
        head = await git.rev(f"refs/heads/{ctx.release_branch}")
        if not head:
            raise GitError(f"hotfix branch {ctx.release_branch} does not exist", "run the hotfix steps first")
        open_branches, skipped = await open_release_branches(ctx)
        for branch, why in skipped.items():
            yield OutputLine(self.id, f"{branch}: skipped ({why})")
        targets = [p.main_branch, *open_branches]
        body = await _section_body(ctx)
        date = str(ctx.state.results.get("changelog", {}).get("date") or changelog.release_date())
        results: dict[str, dict[str, Any]] = {}
        for target in targets:
            yield CheckUpdate(self.id, target, f"into {target}", "running", how)
            outcome = await _backport_one(ctx, target, head, how, body, date)
            results[target] = outcome
            status: CheckStatus = "failed" if outcome["status"] == "conflict" else "passed"
            detail = (
                f"conflicts in {', '.join(outcome['files'])}: nothing pushed"
                if status == "failed"
                else f"{outcome['status']} {str(outcome.get('commit', ''))[:10]}".strip()
            )
            yield CheckUpdate(self.id, target, f"into {target}", status, detail, {"files": outcome.get("files", [])})
            yield OutputLine(self.id, f"{target}: {detail}")
        conflicts = {t: o["files"] for t, o in results.items() if o["status"] == "conflict"}
        main_ok = results[p.main_branch]["status"] != "conflict"
        if main_ok:
            try:
                await git.update_branch_from_remote(p.remote, p.main_branch)
            except IactError as exc:
                yield OutputLine(
                    self.id,
                    f"your {p.main_branch} is behind {p.remote}/{p.main_branch} ({exc.what}): "
                    f"`git checkout {p.main_branch} && git pull --ff-only` before the next release",
                    "stderr",
                )
        if conflicts:
            first, files = next(iter(conflicts.items()))
            verb = (
                f"git merge --no-ff {ctx.release_branch}"
                if how == "merge"
                else f"git cherry-pick -x {ctx.state.previous_tag}..{ctx.release_branch}"
            )
            managed = [f for f in results[first].get("managed", []) if f != p.changelog]
            keep = f"; keep {first}'s version in {', '.join(managed)}" if managed else ""
            yield StepFinished(
                self.id,
                "failed",
                "the fix could not reach "
                + "; ".join(f"{t} (conflicts in {', '.join(f)})" for t, f in conflicts.items())
                + ": those branches are untouched",
                f"do it by hand: `git checkout {first} && {verb}`, resolve {', '.join(files)}{keep}, commit, push "
                f"(the {ctx.tag} section of {p.changelog} belongs there too, below [Unreleased])",
                {"targets": results, "how": how},
            )
            return
        if await git.current_branch() == ctx.release_branch:
            with contextlib.suppress(IactError):
                await git.checkout(p.main_branch)
                yield OutputLine(self.id, f"checked out {p.main_branch} again (it holds the fix now)")
        left = f"; skipped {', '.join(f'{b} ({why})' for b, why in skipped.items())}" if skipped else ""
        yield StepFinished(
            self.id,
            "ok",
            f"{ctx.release_branch} reached {', '.join(results)} ({how}){left}",
            data={"targets": results, "how": how, "skipped": skipped},
        )


async def open_release_branches(ctx: RunContext) -> tuple[list[str], dict[str, str]]:
    """The release branches a hotfix is backported into, and those it leaves alone.

    A release branch on the remote (``{release_branch_prefix}{tag}``) is open while it is
    not merged into main (its head is not an ancestor of the remote's main) and its tag
    exists neither here nor on the remote. A finished release is both: bringing the fix
    there would only reopen it.

    Args:
        ctx: The hotfix's context (after a fetch of ``[project] remote``).

    Returns:
        ``(open branches sorted, {finished branch: why it is skipped})``.

    Raises:
        GitError: The remote's branches or tags cannot be read.
    """
    p, git = ctx.config.project, ctx.git
    main = f"refs/remotes/{p.remote}/{p.main_branch}"
    tagged = set(await git.tags()) | set(await git.remote_tags(p.remote))
    has_main = bool(await git.rev(main))
    found: list[str] = []
    skipped: dict[str, str] = {}
    for branch in await git.remote_heads(p.remote, p.release_branch_prefix):
        tag = branch[len(p.release_branch_prefix) :]
        head = f"refs/remotes/{p.remote}/{branch}"
        why = []
        if has_main and await git.rev(head) and await git.is_ancestor(head, main):
            why.append(f"merged into {p.main_branch}")
        if tag in tagged:
            why.append(f"tagged {tag}")
        if why:
            skipped[branch] = "finished release: " + ", ".join(why)
        else:
            found.append(branch)
    return found, skipped


async def _section_body(ctx: RunContext) -> str:
    """The hotfix's changelog section body, as committed on the hotfix branch."""
    name = ctx.config.project.changelog
    with contextlib.suppress(IactError):
        text = await ctx.git.show_file(f"refs/heads/{ctx.release_branch}", name)
        found = changelog.release_section(text, ctx.state.version)
        if found is not None:
            return found.strip() + "\n"
    return ctx.state.changelog_body or draft_fixed(await fix_commits(ctx))


async def _backport_one(ctx: RunContext, target: str, head: str, how: str, body: str, date: str) -> dict[str, Any]:
    """Merge or pick the hotfix into ``target`` in a temporary worktree and push it.

    Returns:
        ``{"status": "merged" | "picked" | "already" | "conflict", "commit", "files",
        "version_files": {file: version held before it was raised}}``.
    """
    p = ctx.config.project
    remote_ref = f"refs/remotes/{p.remote}/{target}"
    if await ctx.git.is_ancestor(head, remote_ref):
        return {"status": "already", "commit": await ctx.git.rev(remote_ref), "files": []}
    folder = Path(tempfile.mkdtemp(prefix="iact-backport-"))
    tree = folder / "tree"
    await ctx.git.add_worktree(tree, remote_ref)
    wgit = GitService(tree, timeout=ctx.config.timeouts.git)
    try:
        managed = {p.changelog, *(str(s.path) for s in version_files.resolve_files(ctx.config.root, p.version_files))}
        if how == "merge":
            files = await wgit.merge_or_conflicts(ctx.release_branch, f"Merge {ctx.release_branch} into {target}")
            if files:
                if not set(files) <= managed:
                    await wgit.abort_merge()
                    real = [f for f in files if f not in managed]
                    return {"status": "conflict", "files": real, "managed": [f for f in files if f in managed]}
                ours = [f for f in files if f != p.changelog]
                written: dict[str, str] = {}
                if p.changelog in files:
                    theirs_base = await wgit.show_file("HEAD", p.changelog)
                    written[p.changelog] = changelog.insert_backported(theirs_base, ctx.state.version, date, body)
                await wgit.conclude_merge(ours, written)
            status = "merged"
        else:
            for sha, _subject in reversed(await fix_commits(ctx)):
                files = await wgit.cherry_pick_or_conflicts(sha)
                if files:
                    return {"status": "conflict", "files": files}
            status = "picked"
        text = ""
        with contextlib.suppress(IactError):
            text = await wgit.show_file("HEAD", p.changelog)
        if changelog.release_section(text, ctx.state.version) is None:
            new = changelog.insert_backported(text, ctx.state.version, date, body)
            await asyncio.to_thread(write_atomic, tree / p.changelog, new)
            await wgit.commit_paths([p.changelog], f"docs(changelog): {ctx.tag} (hotfix)")
        raised = await _raise_version_files(ctx, tree, wgit)
        commit = await wgit.rev("HEAD")
        await wgit.push(p.remote, f"HEAD:refs/heads/{target}")
        return {"status": status, "commit": commit, "files": [], "version_files": raised}
    finally:
        wgit.close()
        with contextlib.suppress(IactError):
            await ctx.git.remove_worktree(tree)
        shutil.rmtree(folder, ignore_errors=True)


async def _raise_version_files(ctx: RunContext, tree: Path, wgit: GitService) -> dict[str, str]:
    """Bring the worktree's version files up to the hotfix's version, never down, and
    commit them as ``chore: version files at X.Y.Z after hotfix vX.Y.Z``.

    A merge keeps the target's version files when they conflict, and a cherry-pick of the
    fix commits does not bring the bump at all; without this the next release's checklist
    would find files behind the newest tag. Only relative ``[project] version_files`` are
    handled (an absolute one points outside the worktree).

    Returns:
        File → the version it held before, for each file raised (``{}``: none was lower).

    Raises:
        VersionFileError: A version file cannot be read or written in the worktree.
        GitError: The commit fails.
    """
    files = [f for f in ctx.config.project.version_files if not Path(f).is_absolute()]
    version = ctx.state.version
    raised = await asyncio.to_thread(version_files.raise_lower_files, tree, files, version)
    if not raised:
        return {}
    await wgit.commit_paths([str(f.path) for f in raised], f"chore: version files at {version} after hotfix {ctx.tag}")
    return {str(f.path): f.version for f in raised}


def _titled(step: Step, title: str) -> Step:
    """``step`` shown as ``title``: the release's git steps do the same work on the hotfix
    branch, but the operator reads "hotfix", not "release"."""
    step.title = title
    return step


def hotfix_steps() -> list[Step]:
    """The hotfix flow's steps, in :data:`~iact_tui.engine.flows.HOTFIX_STEP_IDS` order."""
    steps: list[Step] = [
        HotfixBranchStep(),
        HotfixChecksStep(),
        BumpStep(),
        HotfixChangelogStep(),
        _titled(CommitStep(), "Commit hotfix"),
        _titled(PushStep(), "Push hotfix branch"),
        _titled(TagStep(), "Tag hotfix"),
        StagingIfConfigured(DeployStep("staging")),
        StagingIfConfigured(SmokeStep("staging")),
        PrepStep("production"),
        DeployStep("production"),
        VerifyStep("production"),
        BackportStep(),
    ]
    assert tuple(s.id for s in steps) == HOTFIX_STEP_IDS
    return steps


class HotfixRun(ReleaseRun):
    """One hotfix (see the module docstring).

    Built like a :class:`ReleaseRun` (its operator inputs and :meth:`run_until` are the
    release's), with the hotfix's steps and gate and its own journal.

    Args:
        config: The validated config.
        state_dir: Where runs are kept (and the history is read); ``None``: platformdirs.
        record: False: no run folder and no journal.

    Attributes:
        production_version / production_tag: What production runs (after :meth:`load`).
        source: ``host`` (read on its first host) or ``journal`` (the last deploy recorded).
        notes: Things the operator should know, found by :meth:`load`.
    """

    flow = "hotfix"
    #: The branch checked out before the hotfix branch (:meth:`remember_branch`); ``None``: not read yet.
    origin_branch: str | None = None

    def __init__(self, config: Config, *, state_dir: Path | None = None, record: bool = True) -> None:
        # Not ReleaseRun.__init__: it builds the release flow and journals its steps.
        if "production" not in config.environments:
            raise ConfigError(
                f"there is no [environments.production] in {config.path.name}: a hotfix fixes what production runs",
                "configure [environments.production]",
            )
        FlowRun.__init__(self, config, flow=self.flow, state_dir=state_dir, record=record)
        self.state_dir = state_dir
        self.production_version, self.production_tag, self.source = "", "", ""
        self.notes: list[str] = []
        #: The hotfix branch :meth:`leave` deleted (journaled as ``hotfix_left``); ``""``: none.
        self.deleted_branch = ""
        #: A resumed run's first ``hotfix_loaded`` record (:mod:`~iact_tui.engine.resume`):
        #: :meth:`load` keeps its version, branch and production tag.
        self.resumed_loaded: dict[str, Any] | None = None
        self._start(hotfix_steps())

    @property
    def branch(self) -> str:
        """The hotfix branch, e.g. ``hotfix/v1.3.3`` (after :meth:`load`)."""
        return self.ctx.work_branch

    async def load(self) -> None:
        """Find what production runs and the hotfix's version and branch (journaled).

        Production's release is the tag its first host has checked out; without one there,
        the journals' last production deploy. The hotfix is the next free patch after it:
        ``X.Y.(Z+1)``, or higher while that version's tag exists (locally or on the remote)
        or its hotfix branch exists without starting from production's tag. A hotfix branch
        that starts from the tag is this hotfix (resumed), even when its tag exists already
        on that branch.

        Changes nothing but remote-tracking refs (a fetch).

        Raises:
            IactError: Production cannot be read and no journal knows what it runs, or
                what it runs is not a release tag.
        """
        p, git = self.config.project, self.ctx.git
        prefix = p.tag_prefix
        await git.fetch(p.remote)
        if self.resumed_loaded is not None:
            await self._load_resumed(self.resumed_loaded)
            return
        history = await asyncio.to_thread(
            history_mod.read_history, "production", prefix, self.state_dir, repo=self.config.root
        )
        cfg = self.config.environments["production"]
        self.notes = []
        tag = ""
        host = make_hosts("production", cfg, root=self.config.root)[0]
        try:
            state = await deploy_state.read_deployed_state(host, str(self.config.env_app_dir("production")), cfg.python)
            tag, self.source = state.tag or "", "host"
            if not tag:
                self.notes.append(f"{host.name} runs {state.commit[:12]}, not a release tag")
        except IactError as exc:
            self.notes.append(f"what production runs could not be read on {host.name}: {exc.what}")
        finally:
            with contextlib.suppress(Exception):
                await host.close()
        if not _version(tag, prefix) and history.latest is not None:
            tag, self.source = history.latest.tag, "journal"
            self.notes.append(f"using the journal's last production deploy: {tag}")
        version = _version(tag, prefix)
        if not version:
            raise VersionError(
                "what production runs is not known: no release tag on its host and no deploy in the journals",
                "deploy a release tag to production first, or make the hotfix branch by hand",
            )
        tags = await git.tags()
        self.ctx.versions = versioning.parse_tags(tags, prefix)
        taken = set(tags) | set(await git.remote_tags(p.remote))
        base_sha = await git.rev(f"refs/tags/{tag}")
        if not base_sha:
            raise GitError(f"tag {tag} (what production runs) is not in this clone", f"git fetch --tags {p.remote}")
        candidate = semver.Version.parse(version).bump_patch()
        while True:
            new_tag = f"{prefix}{candidate}"
            branch = f"{self.config.hotfix.branch_prefix}{new_tag}"
            sha = await git.rev(f"refs/heads/{branch}") or await git.rev(f"refs/remotes/{p.remote}/{branch}")
            ours = bool(sha) and await _starts_at(git, base_sha, str(sha), f"refs/remotes/{p.remote}/{p.main_branch}")
            if ours and (new_tag not in taken or await git.is_ancestor(new_tag, str(sha))):
                if new_tag in taken:
                    self.notes.append(f"{new_tag} is tagged on {branch} already: resuming that hotfix")
                break
            if new_tag not in taken and not sha:
                break
            why = "its tag exists" if new_tag in taken else f"{branch} exists and was not cut from {tag}"
            self.notes.append(f"{candidate} is taken ({why})")
            candidate = candidate.bump_patch()
        self.production_version, self.production_tag = version, tag
        self.state.version, self.state.bump = str(candidate), "patch"
        if self.run_lock is not None:  # another process refused says which hotfix
            await asyncio.to_thread(self.run_lock.set_version, self.state.version)
        self.state.previous_version, self.state.previous_tag = version, tag
        self.ctx.work_branch = branch
        held, _ = await asyncio.to_thread(version_files.read_versions, self.config.root, p.version_files)
        self.ctx.file_versions = held
        self.journal.write(
            "hotfix_loaded",
            production=tag,
            source=self.source,
            version=self.state.version,
            branch=branch,
            notes=list(self.notes),
        )

    async def _load_resumed(self, loaded: dict[str, Any]) -> None:
        """:meth:`load` for a resumed hotfix: its version, branch and production's tag as
        its first ``hotfix_loaded`` journaled them (read again, production may run this
        hotfix by now, and the next free patch would be another one).

        Raises:
            VersionError: The journaled record lacks them (a damaged journal).
            GitError: The tags cannot be read.
        """
        p = self.config.project
        tag, version, branch = (str(loaded.get(k, "") or "") for k in ("production", "version", "branch"))
        production = _version(tag, p.tag_prefix)
        if not (production and version and branch):
            raise VersionError(
                "the resumed hotfix's journal does not say which version and branch it made",
                "leave it (start a new hotfix) and finish this one by hand",
            )
        self.source = "journal"
        self.notes = []
        tags = await self.ctx.git.tags()
        self.ctx.versions = versioning.parse_tags(tags, p.tag_prefix)
        self.production_version, self.production_tag = production, tag
        self.state.version, self.state.bump = version, "patch"
        self.state.previous_version, self.state.previous_tag = production, tag
        self.ctx.work_branch = branch
        held, _ = await asyncio.to_thread(version_files.read_versions, self.config.root, p.version_files)
        self.ctx.file_versions = held
        if self.run_lock is not None:
            await asyncio.to_thread(self.run_lock.set_version, version)

    # -- operator inputs -----------------------------------------------------------

    def checklist_complete(self) -> bool:
        """The release's checklist gate does not apply (:meth:`_gate` is the hotfix's)."""
        return True

    def release_started(self) -> bool:
        return any(r.status != "pending" for sid, r in self.records.items() if sid not in {BRANCH, CHECKS})

    async def fix_commits(self) -> list[tuple[str, str]]:
        """``(sha, subject)`` of the fix commits on the hotfix branch, newest first (the
        screen polls this while the operator makes the fix)."""
        return await fix_commits(self.ctx)

    async def draft_changelog(self) -> str:
        """The section body: the operator's edit, else ``### Fixed`` from the fix commits."""
        if self.state.changelog_body is not None:
            return self.state.changelog_body
        return draft_fixed(await fix_commits(self.ctx))

    def set_changelog(self, body: str) -> None:
        """Keep the operator's edited section body, journaled with its text so that a
        resumed hotfix shows it again (:meth:`resume_changelog`)."""
        super().set_changelog(body)
        self.journal.write("hotfix_changelog_saved", version=self.state.version, branch=self.branch, body=body)

    async def resume_changelog(self) -> str | None:
        """Take up the section body an earlier run of this hotfix saved (the newest run of
        this repository with the same version and branch), unless this run has one.

        Returns:
            The body this run keeps, or ``None`` when there is none (a draft is made).
        """
        if self.state.changelog_body is None:
            found = await asyncio.to_thread(self._saved_changelog)
            if found is not None:
                run, body = found
                self.state.changelog_body = body
                self.journal.write("changelog_resumed", run=run, chars=len(body))
        return self.state.changelog_body

    def _saved_changelog(self) -> tuple[str, str] | None:
        """``(run folder name, body)`` of the newest ``hotfix_changelog_saved`` record of
        another run of this hotfix; unreadable journals are passed over."""
        wanted = os.path.realpath(self.config.root)
        found: tuple[str, str] | None = None
        for path in sorted((state_root(self.state_dir) / "runs").glob("*/journal.jsonl")):
            if path.parent == self.run_dir:
                continue
            try:
                records = read_journal(path).records
            except OSError:
                continue
            started = next((r for r in records if r.get("kind") == "run_started"), {})
            if started.get("flow") != self.flow or os.path.realpath(str(started.get("repo", ""))) != wanted:
                continue
            for record in records:
                if (
                    record.get("kind") == "hotfix_changelog_saved"
                    and record.get("version") == self.state.version
                    and record.get("branch") == self.branch
                    and isinstance(record.get("body"), str)
                ):
                    found = (path.parent.name, record["body"])
        return found

    # -- steps -------------------------------------------------------------------------

    def _gate(self, step_id: str) -> None:
        """The hotfix's rules: a known version; the hotfix checks passed before any change;
        the tag before any deploy; then the release's (the typed version, the verification
        before the announcement).

        Raises:
            VersionError, ChecklistError, ConfirmationError: What is missing and what to do.
        """
        order = [s.id for s in self.steps]
        if not self.state.version:
            raise VersionError("the hotfix's version is not known yet", "load what production runs first")
        if step_id in {BRANCH, CHECKS}:
            return
        checks = self.records[CHECKS]
        if checks.status != "ok" or checks.data.get("version") != self.state.version:
            raise ChecklistError(
                f"the hotfix checks have not passed for {self.ctx.tag}",
                f"commit the fix on {self.branch}, then run the hotfix checks",
            )
        if order.index(step_id) > order.index("tag") and self.records["tag"].status != "ok":
            raise ChecklistError(f"{self.ctx.tag} is not tagged and pushed yet", "run the steps up to the tag first")
        super()._gate(step_id)

    # -- leaving: the operator's branch back ---------------------------------------------

    async def remember_branch(self) -> str:
        """Note the branch checked out before the hotfix branch is (journaled once): the
        one :meth:`leave` checks out again. ``""`` when HEAD was detached.

        Call it before the ``hotfix-branch`` step; later calls keep the first answer.
        """
        if self.origin_branch is None:
            self.origin_branch = await self.ctx.git.current_branch() or ""
            self.journal.write("hotfix_origin", branch=self.origin_branch)
        return self.origin_branch

    async def branch_disposable(self) -> bool:
        """Whether deleting the hotfix branch loses nothing: this run created it, it holds
        no commit since production's tag, and the remote has no branch of that name."""
        record = self.records[BRANCH]
        if record.status != "ok" or record.data.get("how") != "created":
            return False
        git, remote = self.ctx.git, self.config.project.remote
        head = await git.rev(f"refs/heads/{self.branch}")
        if not head or head != await git.rev(f"refs/tags/{self.state.previous_tag}"):
            return False
        if await git.rev(f"refs/remotes/{remote}/{self.branch}"):
            return False
        return not await git.remote_branch_exists(remote, self.branch)

    async def leave(self, *, delete_branch: bool = False) -> str:
        """Check the operator's branch (:meth:`remember_branch`) back out, so the clone is
        where it was before the hotfix (the next release's checklist wants main); with
        ``delete_branch``, also delete the hotfix branch when :meth:`branch_disposable`.

        Uncommitted work is never touched: with a dirty tree nothing is checked out.

        Returns:
            What was done, for the operator; ``""`` when there was nothing to do (the
            hotfix branch is not checked out, or it is the branch the operator was on).

        Raises:
            GitError: The working tree has uncommitted changes (the hotfix branch stays
                checked out).
        """
        git, origin = self.ctx.git, self.origin_branch
        if not origin or origin == self.branch or await git.current_branch() != self.branch:
            return ""
        changed, _ = await git.dirty_files()
        if changed:
            raise GitError(
                f"the working tree has uncommitted changes ({', '.join(changed[:8])}): {self.branch} stays checked out",
                f"commit or stash them, then check out {origin}",
            )
        deleted = delete_branch and await self.branch_disposable()
        await git.checkout(origin)
        said = f"checked out {origin} again"
        if deleted:
            # ``-d``: git itself refuses a branch with commits that are not on ``origin``.
            await git.delete_merged_branch(self.branch)
            said += f"; deleted {self.branch} (no commit, never pushed)"
        else:
            said += f"; {self.branch} is kept"
        self.deleted_branch = self.branch if deleted else ""
        self.journal.write("hotfix_left", branch=origin, deleted=self.deleted_branch)
        return said

    def outcome(self) -> str:
        """What the hotfix did, in a few words: ``deployed to production and backported``,
        ``tagged and pushed; not deployed``, ``nothing changed``…, with a failed or
        cancelled step named (by its title)."""
        records = self.records
        ok = {sid for sid, record in records.items() if record.status == "ok"}
        if BACKPORT in ok:
            said = "deployed to production and backported"
        elif "deploy-production" in ok:
            said = "deployed to production" + (" and verified" if "verify" in ok else "") + "; not backported yet"
        elif "tag" in ok:
            said = "tagged and pushed; not deployed"
        elif ok & {"bump", "changelog", "commit", "push"}:
            said = f"prepared on {self.branch}; not tagged"
        elif BRANCH in ok and self.deleted_branch:
            said = f"{self.branch} created, then deleted (no commit, never pushed); nothing released"
        elif BRANCH in ok:
            said = f"{self.branch} {records[BRANCH].data.get('how', 'made')}; nothing released"
        else:
            said = "nothing changed"
        stopped = [
            f"{self.step(sid).title} {record.status}"
            for sid, record in records.items()
            if record.status in ("failed", "cancelled")
        ]
        return "; ".join([said, *stopped])

    def summary_lines(self) -> list[str]:
        """Where the hotfix ended, for the headless summary and the wizard's exit: first
        ``Hotfix vX.Y.Z: <what it did>`` (:meth:`outcome`), then the details."""
        if not self.state.version:
            return ["Hotfix: what production runs was not read; nothing changed"]
        where = f"on {self.branch}" + (" (deleted)" if self.deleted_branch else "")
        lines = [
            f"Hotfix {self.ctx.tag}: {self.outcome()}",
            f"production ran {self.production_tag}; hotfix {self.ctx.tag} {where}",
        ]
        backport = self.records[BACKPORT]
        targets = backport.data.get("targets")
        if isinstance(targets, dict):
            for target, outcome in targets.items():
                if isinstance(outcome, dict):
                    files = outcome.get("files") or []
                    extra = f": {', '.join(files)}" if files else ""
                    lines.append(f"{target}: {outcome.get('status')}{extra}")
        skipped = backport.data.get("skipped")
        if isinstance(skipped, dict):
            lines += [f"{branch}: skipped ({why})" for branch, why in skipped.items()]
        return lines


async def _starts_at(git: GitService, base: str, branch: str, main: str) -> bool:
    """Whether ``branch`` was cut from ``base``: it contains it, and none of main's commits
    made after it (a branch cut from main is not a hotfix of ``base``)."""
    if not await git.is_ancestor(base, branch):
        return False
    if not await git.rev(main):
        return True
    return await git.count_commits(f"{base}..{branch}") == await git.count_commits(f"{base}..{branch}", f"^{main}")


def _version(tag: str, prefix: str) -> str:
    """``v1.3.2`` → ``1.3.2``; ``""`` when the tag is not a SemVer release tag."""
    if not tag or (prefix and not tag.startswith(prefix)):
        return ""
    text = tag[len(prefix) :]
    try:
        semver.Version.parse(text)
    except ValueError:
        return ""
    return text
