"""The release half: release branch, version files, changelog, commit, push, merge, tag.

Each step checks before acting, so a retry after a failure (or a rerun) is safe: a
release branch or tag already at the right commit is reused, one elsewhere is an error
naming both commits.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import AsyncIterator

from iact_tui.engine.events import Event, OutputLine, StepFinished
from iact_tui.engine.state import RunContext
from iact_tui.engine.step import Action
from iact_tui.errors import ChangelogError, GitError, IactError, VersionError, VersionFileError
from iact_tui.services import changelog, version_files
from iact_tui.services.forge import LocalForge


def _need_version(ctx: RunContext) -> None:
    if not ctx.state.version:
        raise VersionError("no version chosen yet", "choose MAJOR, MINOR or PATCH first")


def release_message(ctx: RunContext) -> str:
    """The release commit's message (Conventional Commits): ``chore: prepare release vX.Y.Z``."""
    return f"chore: prepare release {ctx.tag}"


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
    if ctx.state.changelog_body is not None and not changelog.count_entries(ctx.state.changelog_body):
        raise ChangelogError("the new changelog section has no entries", "write at least one entry, then retry")


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
        today = dt.date.today().isoformat()
        new = changelog.insert_release(
            text, ctx.state.version, today, body, tag_prefix=p.tag_prefix, repo_url=p.repo_url
        )
        # Every byte outside the new section is kept, a byte-order mark included.
        await asyncio.to_thread(path.write_bytes, (b"\xef\xbb\xbf" if bom else b"") + new.encode("utf-8"))
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
            return [
                Action(
                    "http",
                    f"open (or reuse) the pull request 'Release {ctx.tag}' {ctx.release_branch} → {p.main_branch} "
                    f"on {f.repository} (labels: {labels})",
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


def release_pr_body(ctx: RunContext) -> str:
    """The release pull request's description: summary, testing, rollback plan, changelog.

    The testing section reports this run's real results (the checklist's checks); the
    rollback plan names the release being replaced.
    """
    checks = ctx.state.results.get("preflight", {}).get("checks", {})
    testing = "\n".join(f"- {name}: {status}" for name, status in checks.items()) or "- (the checklist has not run)"
    previous = ctx.state.previous_tag or "the previous release"
    return (
        f"## Summary\n\nRelease {ctx.tag} ({ctx.state.previous_version or 'first release'} → {ctx.state.version}), "
        f"prepared by iact-tui.\n\n## Testing\n\n{testing}\n\n## Rollback plan\n\n"
        f"Deploy {previous} again and reverse the migrations this release adds (the production prep lists them).\n\n"
        f"## Changelog\n\n{(ctx.state.changelog_body or '').strip()}\n"
    )


async def _merge_on_github(step_id: str, ctx: RunContext) -> AsyncIterator[Event]:
    """Open (or reuse) the release PR, wait for its checks and mergeability, merge it, and
    bring the local main branch to the merge commit (the tag goes on it)."""
    from iact_tui.services.github import GitHubForge, github_token  # httpx only when used

    f, p = ctx.config.forge, ctx.config.project
    queue: asyncio.Queue[Event | None] = asyncio.Queue()

    def say(text: str) -> None:
        queue.put_nowait(OutputLine(step_id, text))

    async def work() -> str:
        token = await github_token(api_url=f.api_url)
        async with GitHubForge(
            f.repository, token, api_url=f.api_url, timeout=f.timeout, on_wait=lambda w: say(w.line)
        ) as forge:
            pr = await forge.find_or_create_pr(
                version=ctx.state.version,
                head=ctx.release_branch,
                base=p.main_branch,
                body=release_pr_body(ctx),
                labels=(f.release_label, *f.labels) if f.release_label else tuple(f.labels),
                progress=say,
            )
            say(f"pull request #{pr.number}: {pr.url} ({'opened' if pr.created else 'reused'})")
            pr, checks = await forge.wait_until_mergeable(
                pr.number,
                deadline=f.checks_deadline,
                poll_interval=f.poll_interval,
                required=f.required_checks,
                progress=lambda w: say(w.line),
            )
            say(f"checks: {checks.line}")
            result = await forge.merge(pr.number, method=f.merge_method, sha=pr.head_sha)
            say(
                f"merged #{pr.number} ({f.merge_method}): {result.commit[:10]}"
                + (" (already)" if result.already else "")
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
    yield StepFinished(step_id, "ok", f"{p.main_branch} at {commit[:10]} (merged on GitHub)", data={"commit": commit})


class TagStep:
    """Annotated tag on main's head, pushed to the remote."""

    id = "tag"
    title = "Tag release"

    def plan(self, ctx: RunContext) -> list[Action]:
        """Tag and push."""
        p = ctx.config.project
        return [
            Action("git", f"git tag -a {ctx.tag} -m 'Release {ctx.tag}' {p.main_branch}"),
            Action("git", f"git push {p.remote} refs/tags/{ctx.tag}"),
        ]

    async def run(self, ctx: RunContext) -> AsyncIterator[Event]:
        """Create (or reuse, if already on main's head) the tag and push it."""
        _need_version(ctx)
        p, git, tag = ctx.config.project, ctx.git, ctx.tag
        head = await git.rev(p.main_branch)
        existing = await git.rev(f"refs/tags/{tag}")
        if existing and existing != head:
            raise GitError(
                f"tag {tag} already exists at {existing[:10]}, but {p.main_branch} is at {str(head)[:10]}",
                f"delete the stale tag (`git tag -d {tag}`) if it is a leftover of this run",
            )
        if not existing:
            section = ctx.state.changelog_body or ""
            await git.create_annotated_tag(tag, p.main_branch, f"Release {tag}\n\n{section}".strip() + "\n")
            yield OutputLine(self.id, f"created annotated tag {tag} on {str(head)[:10]}")
        else:
            yield OutputLine(self.id, f"tag {tag} already on {str(head)[:10]}")
        result = await git.push(p.remote, f"refs/tags/{tag}:refs/tags/{tag}")
        yield OutputLine(self.id, f"pushed {tag} to {p.remote}: {result.summary}")
        yield StepFinished(self.id, "ok", f"{tag} on {str(head)[:10]}", data={"tag": tag, "commit": head})
