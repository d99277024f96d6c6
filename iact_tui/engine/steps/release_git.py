"""The release half: release branch, version files, changelog, commit, push, merge, tag.

Each step checks before acting, so a retry after a failure (or a rerun) is safe: a
release branch or tag already at the right commit is reused, one elsewhere is an error
naming both commits.

With ``[forge] kind = "github"`` the merge goes through the release pull request, whose
body this module renders (:func:`render_pr_body`: summary, the pull requests merged since
the previous tag, this run's checks, new migrations, the rollback plan, the changelog
section; ``[forge] pr_template`` places them) and previews (:func:`pr_preview`).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from iact_tui.engine import templates
from iact_tui.engine.events import CheckStatus, CheckUpdate, Event, OutputLine, StepFinished
from iact_tui.engine.state import MANUAL_CHECKS, RunContext
from iact_tui.engine.step import Action
from iact_tui.engine.steps import preflight
from iact_tui.errors import ChangelogError, GitError, IactError, VersionError, VersionFileError
from iact_tui.services import changelog, files, migrations, release_notes, version_files
from iact_tui.services.forge import LocalForge

if TYPE_CHECKING:
    from iact_tui.services.github import CheckSummary, GitHubForge, PullRequest, RetryWait
    from iact_tui.services.secrets import Secret


def _need_version(ctx: RunContext) -> None:
    if not ctx.state.version:
        raise VersionError("no version chosen yet", "choose MAJOR, MINOR or PATCH first")


def release_message(ctx: RunContext) -> str:
    """The release commit's message (Conventional Commits): ``chore: prepare release vX.Y.Z``
    (``chore: prepare hotfix vX.Y.Z`` in the hotfix flow)."""
    kind = "hotfix" if ctx.state.flow == "hotfix" else "release"
    return f"chore: prepare {kind} {ctx.tag}"


async def _on_release_branch(ctx: RunContext) -> None:
    branch = await ctx.git.current_branch()
    if branch != ctx.release_branch:
        if not await ctx.git.rev(f"refs/heads/{ctx.release_branch}"):
            raise GitError(
                f"release branch {ctx.release_branch} does not exist", "run the 'Create release branch' step first"
            )
        await ctx.git.checkout(ctx.release_branch)


async def _read_version_files(ctx: RunContext) -> list[version_files.FileVersion]:
    """Every version file's version (dynamic pyproject.toml versions followed), or the errors raised."""
    held, errors = await asyncio.to_thread(
        version_files.read_versions, ctx.config.root, ctx.config.project.version_files
    )
    version_files.raise_all(errors, "version files cannot be read")
    return held


def _file_label(f: version_files.FileVersion | version_files.VersionSource) -> str:
    """``pkg/__init__.py (version of pyproject.toml)`` for a followed file, else its path."""
    return f"{f.path} (version of {f.via})" if f.via else str(f.path)


async def _file_at(ctx: RunContext, ref: str, path: str) -> str:
    """The text of ``path`` at ``ref`` (``""`` when it is not there)."""
    try:
        return (await ctx.git.show_file(ref, path)).removeprefix("\ufeff")
    except IactError:
        return ""


async def _preconditions(ctx: RunContext) -> None:
    """Refuse before the first change: a dirty tree, an unreadable version file, an empty section.

    The checklist passed earlier, but the operator may have edited files since; the
    release commit must hold only the version bump and the changelog.
    """
    changed, _ = await ctx.git.dirty_files()
    if changed:
        shown = ", ".join(changed[:8])
        raise GitError(
            f"the working tree has uncommitted changes: {shown}",
            "commit or stash them, then retry; the release commit holds only the version bump and the changelog",
        )
    held = await _read_version_files(ctx)
    previous = ctx.state.previous_version
    disagree = [f for f in held if previous and f.version != previous.split("+")[0]]
    if disagree and not ctx.state.accept_version_mismatch:
        listing = ", ".join(f"{f.path} holds {f.version}" for f in disagree)
        raise VersionFileError(
            f"version files disagree with the current release {previous}: {listing}",
            f"align them with {previous} and commit, or accept on the checklist that the bump "
            f"writes {ctx.state.version} into them anyway",
        )
    problems = changelog.section_problems(ctx.state.changelog_body) if ctx.state.changelog_body is not None else []
    if problems:
        raise ChangelogError(
            "the new changelog section cannot be written: " + "; ".join(problems),
            "fix it in the changelog editor, then retry",
        )


class BranchStep:
    """Cut ``release/vX.Y.Z`` from an up-to-date main."""

    id = "branch"
    title = "Create release branch"

    def plan(self, ctx: RunContext) -> list[Action]:
        """git fetch, fast-forward main, create the branch."""
        p = ctx.config.project
        return [
            Action("git", f"git fetch --tags --prune {p.remote}"),
            Action("git", f"git checkout {p.main_branch} && git merge --ff-only {p.remote}/{p.main_branch}"),
            Action("git", f"git checkout -b {ctx.release_branch} {p.main_branch}"),
        ]

    async def run(self, ctx: RunContext) -> AsyncIterator[Event]:
        """Create (or reuse) the release branch and check it out."""
        _need_version(ctx)
        p, git = ctx.config.project, ctx.git
        await git.fetch(p.remote)
        yield OutputLine(self.id, f"fetched {p.remote}")
        current = await git.current_branch()
        existing = await git.rev(f"refs/heads/{ctx.release_branch}")
        if existing and current == ctx.release_branch:
            yield StepFinished(
                self.id, "ok", f"on {ctx.release_branch} (already created)", data={"branch": ctx.release_branch}
            )
            return
        await _preconditions(ctx)
        if current != p.main_branch:
            await git.checkout(p.main_branch)
        await git.fast_forward(p.remote, p.main_branch)
        main_head = await git.rev(p.main_branch)
        yield OutputLine(self.id, f"{p.main_branch} is at {str(main_head)[:10]}, level with {p.remote}/{p.main_branch}")
        if existing:
            if existing != main_head:
                raise GitError(
                    f"branch {ctx.release_branch} already exists at {existing[:10]}, but {p.main_branch} is at {str(main_head)[:10]}",
                    f"delete it (`git branch -D {ctx.release_branch}`) if it is a leftover, or choose another version",
                )
            await git.checkout(ctx.release_branch)
            yield OutputLine(self.id, f"reusing {ctx.release_branch} (already at {existing[:10]})")
        else:
            await git.create_branch(ctx.release_branch, p.main_branch)
            yield OutputLine(self.id, f"created {ctx.release_branch} from {p.main_branch}")
        yield StepFinished(
            self.id, "ok", f"on {ctx.release_branch}", data={"branch": ctx.release_branch, "base": main_head}
        )


class BumpStep:
    """Write the new version into every configured version file."""

    id = "bump"
    title = "Bump version files"

    def plan(self, ctx: RunContext) -> list[Action]:
        """One file action per version file, from what each held when the run read them."""
        if ctx.file_versions is None:
            return [
                Action("file", f"{f}: version {ctx.state.previous_version or '?'} → {ctx.state.version}")
                for f in ctx.config.project.version_files
            ]
        return [
            Action("file", f"{_file_label(f)}: version {f.version} → {ctx.state.version}") for f in ctx.file_versions
        ]

    async def run(self, ctx: RunContext) -> AsyncIterator[Event]:
        """Bump all files (all read before any is written; each read back after)."""
        _need_version(ctx)
        await _on_release_branch(ctx)
        files = ctx.config.project.version_files
        if not files:
            yield StepFinished(self.id, "skipped", "no version_files configured")
            return
        before = await _read_version_files(ctx)
        after = await asyncio.to_thread(version_files.bump_files, ctx.config.root, files, ctx.state.version)
        for old, new in zip(before, after, strict=True):
            yield OutputLine(self.id, f"{_file_label(old)}: {old.version} → {new.version}")
        written = [str(f.path) for f in after]
        yield StepFinished(self.id, "ok", f"{len(after)} file(s) at {ctx.state.version}", data={"files": written})


class ChangelogStep:
    """Write the new Keep a Changelog section (the operator's edited text)."""

    id = "changelog"
    title = "Write CHANGELOG"

    def plan(self, ctx: RunContext) -> list[Action]:
        """Insert the section below [Unreleased]."""
        return [Action("file", f"{ctx.config.project.changelog}: new section [{ctx.state.version}] below [Unreleased]")]

    async def run(self, ctx: RunContext) -> AsyncIterator[Event]:
        """Insert the section; a section already there for this version is kept (rerun)."""
        _need_version(ctx)
        await _on_release_branch(ctx)
        p = ctx.config.project
        path = ctx.config.root / p.changelog
        raw = await asyncio.to_thread(lambda: path.read_bytes() if path.exists() else b"")
        bom = raw.startswith(b"\xef\xbb\xbf")
        text = raw.decode("utf-8-sig")
        body = await ctx.draft_changelog()
        existing = changelog.release_section(text, ctx.state.version)
        if existing is not None:
            # Written by an earlier attempt of this run (on the release branch), or by hand
            # before the release (then it is also on main, and is not this run's to keep).
            on_main = await _file_at(ctx, p.main_branch, p.changelog)
            merged = await ctx.git.log_grep(p.main_branch, release_message(ctx))
            if changelog.release_section(on_main, ctx.state.version) is not None and not merged:
                raise ChangelogError(
                    f"{p.changelog} already has a [{ctx.state.version}] section written before this release",
                    "move its entries under ## [Unreleased], delete that heading, commit, and run the release "
                    "again (the release writes the section with its date and links), or choose another version",
                )
            committed = await _file_at(ctx, "HEAD", p.changelog)
            if changelog.release_section(committed, ctx.state.version) is not None or existing == body:
                yield StepFinished(
                    self.id, "ok", f"{p.changelog} already has [{ctx.state.version}]", data={"file": p.changelog}
                )
                return
            # An uncommitted section from an earlier attempt, with other text: write it again.
            text = committed
            yield OutputLine(self.id, f"replacing the uncommitted [{ctx.state.version}] section of an earlier attempt")
        if not body.strip():
            raise ChangelogError(
                "the new changelog section is empty", "write at least one entry in the changelog editor"
            )
        warning = changelog.layout_warning(text)
        if warning:
            yield OutputLine(self.id, f"⚠ {p.changelog} does not follow Keep a Changelog 1.1.0: {warning}", "stderr")
        today = changelog.release_date()
        new = changelog.insert_release(
            text, ctx.state.version, today, body, tag_prefix=p.tag_prefix, repo_url=p.repo_url
        )
        # Every byte outside the new section is kept, a byte-order mark included; written
        # whole (temp file + rename), so a crash never leaves a half-written changelog.
        await asyncio.to_thread(files.write_atomic, path, (b"\xef\xbb\xbf" if bom else b"") + new.encode("utf-8"))
        yield OutputLine(self.id, f"{p.changelog}: added ## [{ctx.state.version}] - {today}")
        yield StepFinished(self.id, "ok", f"{p.changelog} updated", data={"file": p.changelog, "date": today})


class CommitStep:
    """Commit exactly the version files and the changelog."""

    id = "commit"
    title = "Commit release"

    def plan(self, ctx: RunContext) -> list[Action]:
        """The commit."""
        held = ctx.file_versions
        names = [str(f.path) for f in held] if held is not None else ctx.config.project.version_files
        files = [*names, ctx.config.project.changelog]
        return [Action("git", f"git commit -m {release_message(ctx)!r} -- {' '.join(files)}")]

    async def run(self, ctx: RunContext) -> AsyncIterator[Event]:
        """Commit, or reuse the release commit if it is already HEAD with nothing left."""
        _need_version(ctx)
        await _on_release_branch(ctx)
        sources = await asyncio.to_thread(
            version_files.resolve_files, ctx.config.root, ctx.config.project.version_files
        )
        files = [*(s.path for s in sources), ctx.config.project.changelog]
        changed, untracked = await ctx.git.dirty_files()
        # A changelog the run created (the repo had none) is untracked: it belongs in the commit.
        pending = [f for f in files if f in changed or f in untracked]
        head_subject = (await ctx.git.head_subject()).strip()
        if not pending and head_subject == release_message(ctx):
            sha = await ctx.git.rev("HEAD")
            yield StepFinished(self.id, "ok", f"release commit already made ({str(sha)[:10]})", data={"commit": sha})
            return
        if not pending:
            raise GitError(
                "nothing to commit: the version files and changelog are unchanged",
                "run the bump and changelog steps first",
            )
        sha = await ctx.git.commit_paths(pending, release_message(ctx))
        yield OutputLine(self.id, f"committed {sha[:10]} {release_message(ctx)}")
        for f in pending:
            yield OutputLine(self.id, f"  {f}")
        yield StepFinished(self.id, "ok", f"committed {sha[:10]}", data={"commit": sha})


class PushStep:
    """Push the release branch."""

    id = "push"
    title = "Push release branch"

    def plan(self, ctx: RunContext) -> list[Action]:
        """The push."""
        return [Action("git", f"git push {ctx.config.project.remote} {ctx.release_branch}")]

    async def run(self, ctx: RunContext) -> AsyncIterator[Event]:
        """Push; a refusal by the remote fails the step with the remote's reason."""
        _need_version(ctx)
        b = ctx.release_branch
        result = await ctx.git.push(ctx.config.project.remote, f"refs/heads/{b}:refs/heads/{b}")
        yield OutputLine(self.id, f"pushed {b} to {ctx.config.project.remote}: {result.summary}")
        yield StepFinished(self.id, "ok", f"{b} pushed", data={"branch": b})


class MergeStep:
    """Merge the release branch into main (the ``local`` forge) and push main."""

    id = "merge"
    title = "Merge into main"

    def plan(self, ctx: RunContext) -> list[Action]:
        """Fetch, merge --no-ff, push main; or the pull request on GitHub."""
        p, f = ctx.config.project, ctx.config.forge
        if f.kind == "github":
            labels = ", ".join([f.release_label, *f.labels] if f.release_label else f.labels) or "none"
            template = f.pr_template or "the built-in template"
            return [
                Action(
                    "git",
                    f"body from {template}: the pull requests merged since {ctx.state.previous_tag or 'the start'} "
                    "(details from GitHub), this run's checks, new migrations, rollback plan, changelog",
                ),
                Action(
                    "http",
                    f"open (or reuse as it is) the pull request '{pr_title(ctx)}' {ctx.release_branch} → "
                    f"{p.main_branch} on {f.repository} (labels: {labels})",
                ),
                Action("http", f"wait up to {f.checks_deadline:g} s for its checks and mergeability"),
                Action("http", f"merge it ({f.merge_method})"),
                Action("git", f"git fetch {p.remote}; fast-forward {p.main_branch} to the merge commit"),
            ]
        return [
            Action("git", f"git checkout {p.main_branch} && git merge --ff-only {p.remote}/{p.main_branch}"),
            Action("git", f"git merge --no-ff {ctx.release_branch}"),
            Action("git", f"git push {p.remote} {p.main_branch}"),
        ]

    async def run(self, ctx: RunContext) -> AsyncIterator[Event]:
        """Merge (idempotent: an already-merged branch is only pushed)."""
        _need_version(ctx)
        if ctx.config.forge.kind == "github":
            async for event in _merge_on_github(self.id, ctx):
                yield event
            return
        p = ctx.config.project
        forge = LocalForge(ctx.git, p.remote, p.main_branch)
        lines: list[str] = []
        result = await forge.merge(ctx.release_branch, lines)
        for line in lines:
            yield OutputLine(self.id, line)
        yield StepFinished(self.id, "ok", f"{p.main_branch} at {result.commit[:10]}", data={"commit": result.commit})


PR_PLACEHOLDERS: tuple[str, ...] = ("summary", "changes", "testing", "migrations", "rollback", "changelog")
"""The sections a ``[forge] pr_template`` may place, as ``{name}``."""

DEFAULT_PR_TEMPLATE = """\
## Summary

{summary}

## Changes included

{changes}

## Testing

{testing}

## Migration notes

{migrations}

## Rollback plan

{rollback}

## Changelog

{changelog}
"""
"""The built-in release pull request body (``pr_template = ""``)."""

PR_ROWS: tuple[tuple[str, str], ...] = (("pr", "Pull request"), ("mergeable", "Mergeable"), ("merged", "Merged"))
"""The merge step's own rows in the release PR's live status, ``(check_id, label)``; each
check run or commit status of the PR's head is a row ``check:<name>`` as well."""

ENV_VARS_PLACEHOLDER = (
    "New environment variables: none "
    "<!-- does the release need new settings? list them here: `NAME`: what it is, required or its default -->"
)
"""The Migration notes' line the operator completes in the preview."""

_CHECK_WORD = {"passed": "passed", "failed": "FAILED", "skipped": "skipped"}
_CHECK_STATUS: dict[str, CheckStatus] = {"success": "passed", "failure": "failed"}


@dataclass(frozen=True)
class PrPreview:
    """The release pull request as it would be opened, for the preview.

    Attributes:
        title: ``Release vX.Y.Z``.
        head: The release branch.
        base: The main branch.
        repository: ``owner/name``.
        body: What would be sent: the operator's edited body, else ``rendered``; for an
            existing PR, its description on GitHub (kept as it is).
        rendered: The body from the template (what "reset to the template" restores).
        edited: Whether ``body`` is the operator's edit.
        existing: ``"#7 https://…"`` when an open PR for the head exists: it is reused as
            it is on GitHub (its description is not overwritten); ``""`` otherwise.
        notes: What the preview could not find out (no token, GitHub unreachable...).
    """

    title: str
    head: str
    base: str
    repository: str
    body: str
    rendered: str
    edited: bool = False
    existing: str = ""
    notes: tuple[str, ...] = ()


def pr_title(ctx: RunContext) -> str:
    """The release pull request's title, ``Release vX.Y.Z`` (as GitHubForge opens it)."""
    return f"Release v{ctx.state.version}"


def fill_pr_template(template: str, sections: Mapping[str, str], *, source: str = templates.BUILT_IN) -> str:
    """Put the sections into ``template`` (:func:`iact_tui.engine.templates.fill`:
    ``{name}`` from :data:`PR_PLACEHOLDERS`, ``{{``/``}}`` literal braces, other braces kept).

    Raises:
        ConfigError: An unknown ``{name}`` (its line, the allowed names, a close match).
    """
    return templates.fill(
        template,
        sections,
        source=source,
        what="the pull request template",
        key="[forge] pr_template",
        allowed=PR_PLACEHOLDERS,
    )


async def pr_template(ctx: RunContext) -> tuple[str, str]:
    """The release pull request template and where it came from.

    Returns:
        ``(text, source)``: ``[forge] pr_template`` read (relative to the config file), or
        the built-in :data:`DEFAULT_PR_TEMPLATE` when it is empty.

    Raises:
        ConfigError: The file is missing or unreadable.
    """
    c = ctx.config
    return await templates.read(
        c.root, c.path.name, c.forge.pr_template, key="[forge] pr_template", default=DEFAULT_PR_TEMPLATE
    )


async def _release_ref(ctx: RunContext) -> str:
    """The release branch when it exists (it does from the branch step on), else ``HEAD``."""
    return ctx.release_branch if await ctx.git.rev(f"refs/heads/{ctx.release_branch}") else "HEAD"


async def release_changes(ctx: RunContext, forge: GitHubForge | None = None) -> release_notes.Changes:
    """The pull requests and commits since the previous tag, from git, with each PR's details
    from GitHub when ``forge`` is given (see :mod:`~iact_tui.services.release_notes`).

    Never raises: what cannot be read is said in :attr:`~release_notes.Changes.note`.
    """
    since = ctx.state.previous_tag
    try:
        commits = await ctx.git.mainline_commits(since or None, await _release_ref(ctx))
    except IactError as exc:
        return release_notes.Changes(
            since, note=f"git could not list the commits since {since or 'the start'}: {exc.what}"
        )
    exclude = {release_message(ctx)}
    if forge is None:
        return release_notes.from_git(commits, since, exclude=exclude)
    return await release_notes.from_forge(
        commits, since, get_pull=forge.find_pull, pulls_of_commit=forge.pulls_of_commit, exclude=exclude
    )


def _testing_section(ctx: RunContext) -> str:
    """This run's results: every checklist check with its figure, the ticks, the staging smoke."""
    preflight_data = ctx.state.results.get("preflight", {})
    results: dict[str, str] = preflight_data.get("checks", {})
    details: dict[str, str] = preflight_data.get("details", {})
    labels = dict(preflight.checks_for(ctx.config))
    lines = [f"This run's pre-release checklist ({ctx.tag}):", ""] if results else []
    ordered = [c for c in labels if c in results] + [c for c in results if c not in labels]
    for check_id in ordered:
        status = results[check_id]
        detail = details.get(check_id, "")
        figure = f" — {detail.splitlines()[0]}" if detail else ""
        lines.append(f"- {labels.get(check_id, check_id)}: **{_CHECK_WORD.get(status, status)}**{figure}")
    if not results:
        lines.append("The checklist has not run in this run.")
    ticked = [label for check_id, label in MANUAL_CHECKS if check_id in ctx.state.ticks]
    if ticked:
        lines.append(f"- Confirmed by the operator: {'; '.join(ticked)}")
    lines.append("")
    env = "staging"
    smoke = ctx.state.results.get(f"smoke-{env}")
    if env not in ctx.config.environments:
        lines.append(f"Smoke tests: no `{env}` environment is configured.")
    elif smoke is None:
        line = f"Smoke tests on {env}: not run yet (they run against {env} after this merge, on {ctx.tag})."
        if ctx.config.forge.kind == "github" and ctx.config.forge.smoke_comment:
            line += " Their results will be posted as a comment on this pull request."
        lines.append(line)
    else:
        lines += [f"Smoke tests on {env}:", ""]
        figures: dict[str, dict[str, Any]] = smoke.get("figures", {})
        for check_id, data in figures.items():
            lines.append(f"- {check_id}: **passed**{_figures(data)}")
        if not figures:
            lines.append("- **passed**")
    return "\n".join(lines).rstrip()


def _figures(data: Mapping[str, Any]) -> str:
    parts = []
    if "status" in data:
        parts.append(f"HTTP {data['status']}")
    if "elapsed_ms" in data:
        parts.append(f"{data['elapsed_ms']} ms")
    return f" ({', '.join(parts)})" if parts else ""


def _migration_sections(ctx: RunContext, added: migrations.AddedMigrations | None, error: str) -> tuple[str, str]:
    """The Migration notes and the Rollback plan."""
    since = ctx.state.previous_tag or "the first commit"
    previous = ctx.state.previous_tag
    if added is None:
        notes = (
            f"The migrations added since {since} could not be read from git ({error}); look before merging: "
            f"`git diff --name-only --diff-filter=A {previous or ''}..{ctx.release_branch} -- '*/migrations/*'`."
        )
        reverse = "Reverse this release's migrations (they could not be read from git: see the migration notes)."
    elif added.paths:
        count = len(added.paths)
        listing = [f"- `{app}`: {', '.join(names)}" for app, names in added.by_app.items()]
        notes = "\n".join([f"**{count} new Django migration{'s' if count > 1 else ''}** since {since}:", "", *listing])
        commands = ", ".join(f"`{c}`" for c in added.migrate_commands())
        reverse = f"Reverse the new migrations with {ctx.tag}'s code still deployed: {commands}."
    else:
        notes = f"New Django migrations since {since}: none."
        reverse = f"{ctx.tag} adds no migrations: nothing to reverse in the database."
    notes += f"\n\n{ENV_VARS_PLACEHOLDER}"
    back = (
        f"Deploy **{previous}** again: check out the tag, collect static files, restart the app and web server."
        if previous
        else "There is no earlier release to go back to: stop the app instead."
    )
    steps = [reverse, back]
    production = ctx.config.environments.get("production")
    if production is not None and production.backup is not None:
        steps.append(
            "If data must be restored: the production prep takes a `pg_dump` backup before the deploy; "
            f"`pg_restore --clean --dbname={production.backup.database}` it."
        )
    elif production is not None:
        steps.append("No database backup is configured for production: reversing the migrations is the way back.")
    return notes, "\n".join(f"{i}. {step}" for i, step in enumerate(steps, 1))


async def pr_sections(
    ctx: RunContext, forge: GitHubForge | None = None
) -> tuple[dict[str, str], release_notes.Changes]:
    """Every section of the release pull request's body (see :data:`PR_PLACEHOLDERS`).

    Args:
        ctx: The run (version chosen; the checklist's results in ``state.results``).
        forge: GitHub, to enrich the changes; ``None``: git only.

    Returns:
        Section name → Markdown, and the changes found (for the step's output).
    """
    changes = await release_changes(ctx, forge)
    added: migrations.AddedMigrations | None = None
    error = ""
    try:
        added = await migrations.added_migrations(ctx.git, ctx.state.previous_tag, await _release_ref(ctx))
    except IactError as exc:
        error = exc.what
    notes, rollback = _migration_sections(ctx, added, error)
    previous = ctx.state.previous_version or "first release"
    bump = f", {ctx.state.bump}" if ctx.state.bump in ("major", "minor", "patch") else ""
    count = len(added.paths) if added is not None else -1
    new_migrations = {-1: "migrations unknown", 0: "no new migrations", 1: "1 new migration"}.get(
        count, f"{count} new migrations"
    )
    summary = (
        f"Release **{ctx.tag}** ({previous} → {ctx.state.version}{bump}): {changes.line}; {new_migrations}.\n\n"
        f"Merges `{ctx.release_branch}` (version files and changelog) into `{ctx.config.project.main_branch}`; "
        f"the tag {ctx.tag} goes on the merge commit. Prepared with iact-tui."
    )
    body = (await ctx.draft_changelog()).strip() or "(no changelog entries)"
    sections = {
        "summary": summary,
        "changes": changes.markdown(),
        "testing": _testing_section(ctx),
        "migrations": notes,
        "rollback": rollback,
        "changelog": body,
    }
    return sections, changes


async def render_pr_body(ctx: RunContext, forge: GitHubForge | None = None) -> tuple[str, release_notes.Changes]:
    """The release pull request's body from the template (``[forge] pr_template`` or the
    built-in one) and the changes it lists.

    Raises:
        ConfigError: The template file is missing or has an unknown placeholder.
    """
    template, source = await pr_template(ctx)
    fill_pr_template(template, dict.fromkeys(PR_PLACEHOLDERS, ""), source=source)  # fail before the lookups
    sections, changes = await pr_sections(ctx, forge)
    return fill_pr_template(template, sections, source=source).rstrip() + "\n", changes


def _github(
    ctx: RunContext, token: Secret, *, retries: int = 3, on_wait: Callable[[RetryWait], None] | None = None
) -> GitHubForge:
    from iact_tui.services.github import GitHubForge  # httpx only when used

    f = ctx.config.forge
    return GitHubForge(f.repository, token, api_url=f.api_url, timeout=f.timeout, retries=retries, on_wait=on_wait)


async def pr_preview(ctx: RunContext) -> PrPreview:
    """The release pull request as the merge step would open it, for the operator to read
    and edit first: title, branches, the body (the operator's edit when there is one), and
    whether an open PR for the branch exists already (then it is reused as it is).

    GitHub is asked for the changes' details and the open PR; when it cannot be (no token,
    unreachable), the body is rendered from git and :attr:`PrPreview.notes` says why.

    Raises:
        ConfigError: The template file is missing or has an unknown placeholder.
    """
    from iact_tui.services.github import github_token  # httpx only when used

    f, p = ctx.config.forge, ctx.config.project
    notes: list[str] = []
    existing, kept = "", ""
    forge: GitHubForge | None = None
    try:
        token = await github_token(api_url=f.api_url)
        forge = _github(ctx, token, retries=1)
    except IactError as exc:
        notes.append(f"GitHub cannot be asked ({exc.what}): the changes are listed from git only; {exc.fix}")
    try:
        rendered, changes = await render_pr_body(ctx, forge)
        if changes.note:
            notes.append(changes.note)
        if forge is not None:
            try:
                open_pr = await forge.find_open_pr(ctx.release_branch, p.main_branch)
            except IactError as exc:
                notes.append(f"whether a pull request is open for {ctx.release_branch} could not be read: {exc.what}")
            else:
                if open_pr is not None:
                    existing, kept = f"#{open_pr.number} {open_pr.url}", open_pr.body
    finally:
        if forge is not None:
            await forge.aclose()
    edited = ctx.state.pr_body is not None
    body = ctx.state.pr_body if ctx.state.pr_body is not None else rendered
    return PrPreview(
        title=pr_title(ctx),
        head=ctx.release_branch,
        base=p.main_branch,
        repository=f.repository,
        body=kept if existing else body,
        rendered=rendered,
        edited=edited,
        existing=existing,
        notes=tuple(notes),
    )


class _PrRows:
    """The release PR's live rows: a row's update is sent only when its status or detail changed."""

    def __init__(self, step_id: str, say: Callable[[Event], None]) -> None:
        self.step_id = step_id
        self._say = say
        self.shown: dict[str, tuple[str, str, str]] = {}

    def update(self, check_id: str, label: str, status: CheckStatus, detail: str = "", **data: Any) -> None:
        if self.shown.get(check_id) == (label, status, detail):
            return
        self.shown[check_id] = (label, status, detail)
        self._say(CheckUpdate(self.step_id, check_id, label, status, detail, data))

    def running(self) -> list[tuple[str, str]]:
        """``(check_id, label)`` of the rows still running or pending."""
        return [(cid, label) for cid, (label, status, _) in self.shown.items() if status in ("running", "pending")]

    def observe(self, pr: PullRequest, checks: CheckSummary) -> None:
        """One poll's reading: every check of the head, then the mergeability."""
        for check in checks.checks:
            status = _CHECK_STATUS.get(check.state, "running")
            required = not checks.required or check.name in checks.required
            detail = check.detail + ("" if required else " (not required)")
            if check.url:
                detail += f" — {check.url}"
            self.update(f"check:{check.name}", check.name, status, detail, source=check.source, url=check.url)
        for name in checks.missing:
            self.update(f"check:{name}", name, "pending", "required; not reported on the head commit yet")
        label = dict(PR_ROWS)["mergeable"]
        word = pr.mergeable_state
        if pr.mergeable is None:
            self.update("mergeable", label, "running", "GitHub is computing mergeability", state=word)
        elif not pr.mergeable or word == "dirty":
            self.update("mergeable", label, "failed", f"dirty: merge conflicts with {pr.base}", state=word)
        elif word == "behind":
            self.update(
                "mergeable", label, "failed", f"behind {pr.base} (branch protection wants it up to date)", state=word
            )
        elif word == "blocked":
            self.update(
                "mergeable", label, "running", "blocked: branch protection (a review or a required check)", state=word
            )
        else:
            self.update("mergeable", label, "passed", word, state=word)


async def _merge_on_github(step_id: str, ctx: RunContext) -> AsyncIterator[Event]:
    """Open (or reuse) the release PR, wait for its checks and mergeability, merge it, and
    bring the local main branch to the merge commit (the tag goes on it).

    Besides output lines, the PR's live state is sent as ``CheckUpdate`` rows (see
    :data:`PR_ROWS`): ``pr``, one ``check:<name>`` per check run or commit status, then
    ``mergeable`` and ``merged``. A reused PR keeps its title and description as they are
    on GitHub; the body sent is the operator's edit from the preview when there is one,
    else the template's (printed first, as there was no preview).

    Result data: ``commit`` (GitHub's merge commit) and ``pr`` (``number``, ``url``: the
    staging smoke step comments its results there).
    """
    from iact_tui.services.github import github_token  # httpx only when used

    f, p = ctx.config.forge, ctx.config.project
    queue: asyncio.Queue[Event | None] = asyncio.Queue()
    rows = _PrRows(step_id, queue.put_nowait)
    labels = dict(PR_ROWS)

    def say(text: str) -> None:
        queue.put_nowait(OutputLine(step_id, text))

    merged_pr: dict[str, Any] = {}  # the result data's "pr": number and page

    async def work() -> str:
        rows.update("pr", labels["pr"], "running", f"{pr_title(ctx)}: {ctx.release_branch} → {p.main_branch}")
        token = await github_token(api_url=f.api_url)
        if ctx.state.pr_body is not None:
            body = ctx.state.pr_body
            say(f"pull request body: as shown in the preview ({len(body.splitlines())} lines)")
        else:
            # Notes only: one retry, so an unwell GitHub delays the release little.
            async with _github(ctx, token, retries=1, on_wait=lambda w: say(w.line)) as notes_forge:
                body, changes = await render_pr_body(ctx, notes_forge)
            say(f"changes: {changes.line}")
            if changes.note:
                say(changes.note)
            say("pull request body:")
            for line in body.splitlines():
                say(f"  | {line}")
        async with _github(ctx, token, on_wait=lambda w: say(w.line)) as forge:
            pr = await forge.find_or_create_pr(
                version=ctx.state.version,
                head=ctx.release_branch,
                base=p.main_branch,
                body=body,
                labels=(f.release_label, *f.labels) if f.release_label else tuple(f.labels),
                progress=say,
            )
            how = "opened" if pr.created else "reused as it is on GitHub"
            merged_pr.update(number=pr.number, url=pr.url)
            say(f"pull request #{pr.number}: {pr.url} ({how})")
            rows.update(
                "pr",
                labels["pr"],
                "passed",
                f"#{pr.number} {how}: {pr.url}",
                number=pr.number,
                url=pr.url,
                created=pr.created,
            )
            pr, checks = await forge.wait_until_mergeable(
                pr.number,
                deadline=f.checks_deadline,
                poll_interval=f.poll_interval,
                required=f.required_checks,
                progress=lambda w: say(w.line),
                observe=rows.observe,
            )
            say(f"checks: {checks.line}")
            result = await forge.merge(pr.number, method=f.merge_method, sha=pr.head_sha)
            say(
                f"merged #{pr.number} ({f.merge_method}): {result.commit[:10]}"
                + (" (already)" if result.already else "")
            )
            rows.update(
                "merged",
                labels["merged"],
                "passed",
                f"#{pr.number} {f.merge_method}: {result.commit[:10]}"
                + (" (already merged)" if result.already else ""),
                commit=result.commit,
            )
        return result.commit

    task = asyncio.ensure_future(work())
    task.add_done_callback(lambda _t: queue.put_nowait(None))
    try:
        while (event := await queue.get()) is not None:
            yield event
    finally:
        if not task.done():
            task.cancel()
    error = None if task.cancelled() else task.exception()
    if isinstance(error, IactError):
        # The row that was waiting shows why it stopped (a failed check row already does).
        for check_id, label in rows.running():
            if check_id in labels:
                yield CheckUpdate(step_id, check_id, label, "failed", error.what)
    commit = task.result()  # raises the ForgeError/SecretError: the step fails with it
    await ctx.git.fetch(p.remote)
    await ctx.git.checkout(p.main_branch)
    await ctx.git.fast_forward(p.remote, p.main_branch)
    head = await ctx.git.rev(p.main_branch)
    if head != commit:
        raise GitError(
            f"{p.main_branch} is at {str(head)[:10]} after the fetch, not at GitHub's merge commit {commit[:10]}",
            f"check `git log {p.remote}/{p.main_branch}`; the tag must go on the merge commit",
        )
    yield OutputLine(step_id, f"{p.main_branch} fast-forwarded to the merge commit {commit[:10]}")
    yield StepFinished(
        step_id, "ok", f"{p.main_branch} at {commit[:10]} (merged on GitHub)", data={"commit": commit, "pr": merged_pr}
    )


class TagStep:
    """Annotated tag on main's head (the hotfix branch's in a hotfix), pushed to the remote."""

    id = "tag"
    title = "Tag release"

    def plan(self, ctx: RunContext) -> list[Action]:
        """Tag and push."""
        p = ctx.config.project
        return [
            Action("git", f"git tag -a {ctx.tag} -m 'Release {ctx.tag}' {ctx.tag_ref}"),
            Action("git", f"git push {p.remote} refs/tags/{ctx.tag}"),
        ]

    async def run(self, ctx: RunContext) -> AsyncIterator[Event]:
        """Create (or reuse, if already on main's head) the tag and push it."""
        _need_version(ctx)
        p, git, tag, ref = ctx.config.project, ctx.git, ctx.tag, ctx.tag_ref
        head = await git.rev(ref)
        existing = await git.rev(f"refs/tags/{tag}")
        if existing and existing != head:
            raise GitError(
                f"tag {tag} already exists at {existing[:10]}, but {ref} is at {str(head)[:10]}",
                f"delete the stale tag (`git tag -d {tag}`) if it is a leftover of this run",
            )
        if not existing:
            section = ctx.state.changelog_body or ""
            await git.create_annotated_tag(tag, ref, f"Release {tag}\n\n{section}".strip() + "\n")
            yield OutputLine(self.id, f"created annotated tag {tag} on {str(head)[:10]}")
        else:
            yield OutputLine(self.id, f"tag {tag} already on {str(head)[:10]}")
        result = await git.push(p.remote, f"refs/tags/{tag}:refs/tags/{tag}")
        yield OutputLine(self.id, f"pushed {tag} to {p.remote}: {result.summary}")
        yield StepFinished(self.id, "ok", f"{tag} on {str(head)[:10]}", data={"tag": tag, "commit": head})
