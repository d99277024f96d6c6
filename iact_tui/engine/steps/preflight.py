"""The pre-release checklist's automatic checks, run concurrently with live status.

Checks (ids): ``clean-tree``, ``main-branch``, ``up-to-date`` (the remote exists and
answers, the clone is not shallow and has its tags, then level with the remote after a
fetch), ``tag-free`` (locally and on the remote, release branch too), ``version-files``
(every configured file read, a dynamic pyproject.toml version followed to its file; what
each holds), ``tests``,
``coverage`` (Cobertura XML ``line-rate``, or coverage.py's data file, after the tests
wrote it), ``changelog`` (something to release). Manual items are ticked by the operator
(``RunState.ticks``), not here.

The four git checks are :class:`GitChecks`; ``iact-tui plan`` runs them too
(:func:`repository_checks`), read-only: its fetch leaves local tags alone.
"""

from __future__ import annotations

import asyncio
import io
import os
import xml.etree.ElementTree as ET
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

from iact_tui.config import Config
from iact_tui.engine.events import CheckUpdate, Event, OutputLine, StepFinished
from iact_tui.engine.state import RunContext
from iact_tui.engine.step import Action
from iact_tui.errors import ConfigError, IactError, VersionError
from iact_tui.services import changelog, smoke, version_files, versioning
from iact_tui.services.git import GitService
from iact_tui.services.remote import CommandResult, LocalHost

if TYPE_CHECKING:
    from iact_tui.services.github import GitHubForge

STEP_ID = "preflight"

CHECKS: tuple[tuple[str, str], ...] = (
    ("clean-tree", "Working tree is clean"),
    ("main-branch", "On the main branch"),
    ("up-to-date", "Up to date with the remote"),
    ("tag-free", "Release tag and branch are free"),
    ("version-files", "Version files can be bumped"),
    ("secrets", "Secrets are available"),
    ("tests", "Tests pass"),
    ("coverage", "Coverage meets the threshold"),
    ("changelog", "Changelog has content"),
)
FORGE_CHECKS: tuple[tuple[str, str], ...] = (
    ("forge-prs", "Release pull requests are merged"),
    ("forge-issues", "No critical issues are open"),
    ("forge-ci", "CI is green on the main branch"),
)
"""Checks backed by the GitHub API, run when ``[forge] kind = "github"``; they replace the
manual ticks for merged PRs and open critical issues."""
COVERED_MANUAL: frozenset[str] = frozenset({"prs-merged", "no-critical-issues"})
"""Manual items the forge checks answer instead of the operator."""
_LABELS = dict(CHECKS) | dict(FORGE_CHECKS)


def missing_secrets(config: Config, environ: Mapping[str, str]) -> tuple[list[str], list[ConfigError]]:
    """Every environment variable the later steps read a secret from, and one error per
    variable that is unset or empty (names only; values are never read out).

    Looked at: each environment's smoke login ``password_env`` (unless a
    ``password_command`` stands in), the ``$env:NAME`` references in its smoke checks'
    headers and bodies, its backup's ``password_env``, and ``[notify] webhook_env``. A
    wizard's environment is fixed when it starts, so these are checked before the release.

    Returns:
        ``(names referenced, errors)``.
    """
    wanted: dict[str, str] = {}  # name → where it is named
    for env_name, env in config.environments.items():
        login = env.smoke.login
        if login is not None and login.password_env and not login.password_command:
            wanted.setdefault(login.password_env, f"[environments.{env_name}.smoke.login] password_env")
        for check in env.smoke.checks:
            for name in smoke.env_refs([dict(check.headers), check.json_body]):
                wanted.setdefault(name, f"smoke check {check.name!r} of {env_name} ($env:{name})")
        if env.backup is not None and env.backup.password_env:
            wanted.setdefault(env.backup.password_env, f"[environments.{env_name}.backup] password_env")
    if config.notify.webhook_env:
        wanted.setdefault(config.notify.webhook_env, "[notify] webhook_env")
    errors = [
        ConfigError(
            f"{where} names the environment variable {name}, which is unset or empty",
            f"export {name} (or fix the config), then start iact-tui again: a running wizard cannot see it",
        )
        for name, where in wanted.items()
        if not environ.get(name)
    ]
    return list(wanted), errors


def checks_for(config: Config) -> tuple[tuple[str, str], ...]:
    """The checklist's automatic checks for this config, ``(id, label)`` in report order."""
    return CHECKS + FORGE_CHECKS if config.forge.kind == "github" else CHECKS


GIT_CHECKS: tuple[str, ...] = ("clean-tree", "main-branch", "up-to-date", "tag-free")
"""The read-only repository checks ``plan`` runs as well (ids, in report order)."""


class CheckFailed(IactError):
    """A check found a problem: ``what`` is wrong and the ``fix`` (often a command to run)."""


def detail_of(exc: IactError) -> str:
    """One line for the checklist: ``what; fix``."""
    return f"{exc.what}; {exc.fix}" if exc.fix else exc.what


class _Skipped(Exception):
    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


_SQLITE_MAGIC = b"SQLite format 3\x00"
_COVERAGE_CONFIGS = (
    (".coveragerc", ""),
    ("setup.cfg", "[coverage:"),
    ("tox.ini", "[coverage:"),
    ("pyproject.toml", "[tool.coverage"),
)


def read_coverage(path: Path, root: Path | None = None) -> float:
    """Line coverage in percent from ``path``: Cobertura XML, or a coverage.py data file.

    Cobertura XML (``coverage xml``, most tools) gives the root's ``line-rate``. A
    coverage.py data file (``.coverage``, an SQLite database) is reported with coverage's
    own API, honouring the coverage settings found in ``root`` (``.coveragerc``,
    ``setup.cfg``, ``tox.ini``, ``pyproject.toml``). Blocking: call it off the event loop.

    Args:
        path: The report or data file.
        root: The project's root, for coverage.py's settings; default ``path``'s folder.

    Raises:
        IactError: The file is missing, is neither format, or (data file) the coverage
            package is not installed or cannot report it.
    """
    try:
        with path.open("rb") as fh:
            head = fh.read(len(_SQLITE_MAGIC))
    except FileNotFoundError:
        raise IactError(
            f"coverage report {path} does not exist",
            "make the tests command write it (e.g. `coverage run ...` for .coverage, then `coverage xml`)",
        ) from None
    except OSError as exc:
        raise IactError(
            f"cannot read coverage report {path}: {exc.strerror}", "check the file and its permissions"
        ) from None
    if head == _SQLITE_MAGIC and path.suffix != ".xml":
        return _read_coverage_data(path, root or path.parent)
    return _read_cobertura(path)


def _read_cobertura(path: Path) -> float:
    try:
        root = ET.parse(path).getroot()
    except FileNotFoundError:
        raise IactError(
            f"coverage report {path} does not exist", "make the tests command write it (e.g. coverage xml)"
        ) from None
    except ET.ParseError as exc:
        raise IactError(
            f"coverage report {path} is not XML: {exc}",
            "point coverage_report at a Cobertura XML file (coverage xml) or a coverage.py data file (.coverage)",
        ) from None
    rate = root.get("line-rate")
    if root.tag != "coverage" or rate is None:
        raise IactError(
            f"{path} is not a Cobertura report (no <coverage line-rate=...>)", "use `coverage xml` to write it"
        )
    return float(rate) * 100


def _read_coverage_data(path: Path, root: Path) -> float:
    try:
        import coverage  # optional: only a coverage.py data file needs it
    except ImportError:
        raise IactError(
            f"{path} is coverage.py data, but the coverage package is not installed where iact-tui runs",
            "install it (`pip install coverage`) next to iact-tui, or have the tests command write "
            "Cobertura XML (`coverage xml`) and point coverage_report at it",
        ) from None
    config: str | bool = False
    for name, marker in _COVERAGE_CONFIGS:
        candidate = root / name
        try:
            text = candidate.read_text(encoding="utf-8", errors="replace")
        except OSError:
            continue
        if not marker or marker in text:
            config = str(candidate)
            break
    try:
        cov = coverage.Coverage(data_file=str(path), config_file=config)
        cov.load()
        return float(cov.report(file=io.StringIO()))
    except coverage.exceptions.CoverageException as exc:
        raise IactError(
            f"coverage.py cannot report {path}: {exc}",
            "run the checklist where the measured sources are, or have the tests command write "
            "Cobertura XML (`coverage xml`) and point coverage_report at it",
        ) from None


class GitChecks:
    """The repository checks of the checklist; each returns a detail or raises :class:`CheckFailed`.

    Args:
        ctx: The run's context (the version must be chosen: the tag is checked).
        fetch_tags: Fetch every tag (the real checklist) or branches only (``plan``:
            nothing but remote-tracking refs change).
    """

    def __init__(self, ctx: RunContext, *, fetch_tags: bool = True) -> None:
        self.ctx = ctx
        self.fetch_tags = fetch_tags
        self._fetched: asyncio.Task[str] | None = None

    @property
    def git(self) -> GitService:
        return self.ctx.git

    def bodies(self) -> dict[str, Callable[[], Awaitable[str]]]:
        """Check id → its check, for the ids in :data:`GIT_CHECKS`."""
        return {
            "clean-tree": self.clean_tree,
            "main-branch": self.main_branch,
            "up-to-date": self.up_to_date,
            "tag-free": self.tag_free,
        }

    def _fetch(self) -> asyncio.Task[str]:
        """Probe the remote then fetch, once for every check that needs it; the task gives the URL."""

        async def go() -> str:
            remote = self.ctx.config.project.remote
            url = await self.git.check_reachable(remote)
            await self.git.fetch(remote, tags=self.fetch_tags)
            return url

        if self._fetched is None:
            self._fetched = asyncio.ensure_future(go())
        return self._fetched

    def cancel(self) -> None:
        """Stop the shared fetch if it still runs."""
        if self._fetched is not None:
            self._fetched.cancel()

    async def clean_tree(self) -> str:
        changed, untracked = await self.git.dirty_files()
        if changed:
            shown = ", ".join(changed[:8]) + (f" and {len(changed) - 8} more" if len(changed) > 8 else "")
            raise CheckFailed(
                f"uncommitted changes: {shown}", "commit or stash them (`git stash`), then run the checks again"
            )
        if untracked:
            more = f" and {len(untracked) - 5} more" if len(untracked) > 5 else ""
            return f"clean (untracked, not released: {', '.join(untracked[:5])}{more})"
        return "no uncommitted changes"

    async def main_branch(self) -> str:
        main = self.ctx.config.project.main_branch
        branch = await self.git.current_branch()
        if branch is None:
            raise CheckFailed("HEAD is detached (no branch is checked out)", f"run `git checkout {main}`")
        if branch != main:
            raise CheckFailed(f"on branch {branch!r}, not {main!r}", f"run `git checkout {main}`")
        return f"on {branch}"

    async def up_to_date(self) -> str:
        p = self.ctx.config.project
        fetched = self._fetch()
        if await self.git.is_shallow():
            raise CheckFailed(
                "the clone is shallow: history and tags are missing, so the version and the changelog would be wrong",
                f"run `git fetch --unshallow {p.remote}`",
            )
        local_tags = self.ctx.versions.all_tags if self.ctx.versions is not None else await self.git.tags()
        await fetched
        if not local_tags:
            remote_tags = await self.git.remote_tags(p.remote)
            if remote_tags:
                raise CheckFailed(
                    f"the clone has no tags but {p.remote} has {len(remote_tags)}: the version was worked out "
                    "without the earlier releases",
                    f"run `git fetch --tags {p.remote}`, then choose the version again",
                )
        ab = await self.git.ahead_behind(p.main_branch, p.remote)
        where = f"{p.remote}/{p.main_branch}"
        if ab.ahead and ab.behind:
            raise CheckFailed(
                f"{p.main_branch} has diverged from {where} ({ab.ahead} ahead, {ab.behind} behind)",
                f"reconcile them first (e.g. `git pull --rebase {p.remote} {p.main_branch}`, then push)",
            )
        if ab.behind:
            raise CheckFailed(f"{p.main_branch} is {ab.behind} commit(s) behind {where}", "run `git pull --ff-only`")
        if ab.ahead:
            unpushed = await self.unpushed_release()
            if unpushed is not None:
                sha, tag = unpushed
                raise CheckFailed(
                    f"{p.main_branch} holds the release merge of {tag} ({sha[:10]}) that {where} does not have: "
                    f"an earlier run's push of {p.main_branch} was refused or stopped",
                    f"once {p.remote} accepts it, push it (`git push {p.remote} {p.main_branch}`) and tag it "
                    f"(`git tag -a {tag} -m 'Release {tag}' {sha[:10]} && git push {p.remote} {tag}`); or drop "
                    f"the local merge and the release branch (`git reset --hard {where} && git branch -D "
                    f"{p.release_branch_prefix}{tag} && git push {p.remote} --delete {p.release_branch_prefix}{tag}`) "
                    "and release again",
                )
            raise CheckFailed(
                f"{p.main_branch} has {ab.ahead} commit(s) not on {where}",
                f"push them (`git push {p.remote} {p.main_branch}`) or reset, then run the checks again",
            )
        return f"level with {where}"

    async def unpushed_release(self) -> tuple[str, str] | None:
        """The newest release commit or its merge on the local main branch but not on the remote.

        Returns:
            ``(sha, tag)`` of the local commit whose subject is ``chore: prepare release <tag>``
            or the merge of ``release/<tag>``, or ``None``.
        """
        p = self.ctx.config.project
        rng = f"{p.remote}/{p.main_branch}..{p.main_branch}"
        prefix = p.release_branch_prefix
        try:
            found = await self.git.subjects(rng)
        except IactError:
            return None  # no remote-tracking branch: the up-to-date check says why
        for sha, subject in found:
            for pattern in ("chore: prepare release ", f"Merge branch '{prefix}"):
                if subject.startswith(pattern):
                    tag = subject.removeprefix(pattern).split("'")[0].split()[0]
                    return sha, tag
        return None

    async def tag_free(self) -> str:
        git, p = self.git, self.ctx.config.project
        tag, branch = self.ctx.tag, self.ctx.release_branch
        problems: list[str] = []
        fixes: list[str] = []
        if await git.rev(f"refs/tags/{tag}"):
            problems.append(f"tag {tag} exists locally")
            fixes.append(f"`git tag -d {tag}` if it is stale")
        unpushed = await self.unpushed_release()
        if unpushed is not None and unpushed[1] == tag:
            raise CheckFailed(
                f"{p.main_branch} already holds the release merge of {tag} ({unpushed[0][:10]}), not yet on {p.remote}",
                "finish that release as 'Up to date with the remote' says, or drop the merge and release again",
            )
        local_branch = await git.rev(f"refs/heads/{branch}")
        main_head = await git.rev(p.main_branch)
        if local_branch and local_branch != main_head:
            problems.append(f"branch {branch} exists locally at {local_branch[:10]}")
            fixes.append(f"`git branch -D {branch}` if it is a leftover")
        try:
            await self._fetch()
        except IactError:
            if problems:
                raise CheckFailed(
                    "; ".join(problems) + f" ({p.remote} not checked: it cannot be read, see up-to-date)",
                    "; ".join(fixes) + "; or choose another version",
                ) from None
            raise _Skipped(f"not checked on {p.remote}: it cannot be read (see up-to-date)") from None
        if await git.remote_tag_exists(p.remote, tag):
            problems.append(f"tag {tag} exists on {p.remote}")
            fixes.append(f"`git push {p.remote} :refs/tags/{tag}` if it is stale")
        if await git.remote_branch_exists(p.remote, branch):
            problems.append(f"branch {branch} exists on {p.remote}")
            fixes.append(f"`git push {p.remote} --delete {branch}` if it is a leftover")
        previous = self.ctx.state.previous_tag
        if previous and previous != tag and not await git.remote_tag_exists(p.remote, previous):
            # The version was worked out from a tag nobody else has: a stale or unpushed release.
            problems.append(f"tag {previous}, the latest release here, is not on {p.remote}")
            fixes.append(f"`git push {p.remote} {previous}` if it was released, else `git tag -d {previous}`")
        merged = await git.log_grep(f"{p.remote}/{p.main_branch}", f"chore: prepare release {tag}")
        if merged and not any(f"tag {tag}" in problem for problem in problems):
            raise CheckFailed(
                f"{p.remote}/{p.main_branch} already holds 'chore: prepare release {tag}' ({merged[:10]}) but {tag} "
                "is not tagged: an earlier run stopped after the merge",
                f"tag it by hand: git tag -a {tag} -m 'Release {tag}' {p.remote}/{p.main_branch} && "
                f"git push {p.remote} {tag}",
            )
        if problems:
            raise CheckFailed("; ".join(problems), "; ".join(fixes) + "; or choose another version")
        if local_branch:
            return f"{tag} is free; reusing the local branch {branch} (at {p.main_branch}'s head)"
        return f"{tag} and {branch} are free"


class ForgeChecks:
    """The checklist's checks backed by the GitHub API (one client, opened on first use).

    Args:
        ctx: The run's context (``[forge]`` with ``kind = "github"``).
    """

    def __init__(self, ctx: RunContext) -> None:
        self.ctx = ctx
        self._forge: GitHubForge | None = None
        self._opening: asyncio.Lock = asyncio.Lock()

    def bodies(self) -> dict[str, Callable[[], Awaitable[str]]]:
        """Check id → its check, for the ids in :data:`FORGE_CHECKS`."""
        return {"forge-prs": self.prs_merged, "forge-issues": self.no_critical_issues, "forge-ci": self.ci_green}

    async def forge(self) -> GitHubForge:
        """The API client, opened on first use (the token is read then)."""
        from iact_tui.services.github import GitHubForge, github_token  # httpx only when used

        async with self._opening:
            if self._forge is None:
                f = self.ctx.config.forge
                token = await github_token(api_url=f.api_url)
                self._forge = GitHubForge(f.repository, token, api_url=f.api_url, timeout=f.timeout)
            return self._forge

    async def close(self) -> None:
        """Close the client, if one was opened."""
        if self._forge is not None:
            await self._forge.aclose()

    async def prs_merged(self) -> str:
        f = self.ctx.config.forge
        if not f.blocking_pr_label and not f.milestone:
            raise _Skipped("set [forge] blocking_pr_label or milestone to check it")
        forge = await self.forge()
        items = []
        if f.blocking_pr_label:
            items += await forge.open_prs_with_label(f.blocking_pr_label)
        if f.milestone:
            items += [
                i for i in await forge.open_prs_in_milestone(f.milestone) if i.number not in {x.number for x in items}
            ]
        where = " and ".join(
            part
            for part in (
                f"labelled {f.blocking_pr_label!r}" if f.blocking_pr_label else "",
                f"in milestone {f.milestone!r}" if f.milestone else "",
            )
            if part
        )
        if items:
            raise CheckFailed(
                f"{len(items)} open pull request(s) {where}: " + "; ".join(i.line for i in items[:5]),
                "merge them or move them out of this release, then run the checks again",
            )
        return f"no open pull request {where}"

    async def no_critical_issues(self) -> str:
        label = self.ctx.config.forge.critical_label
        if not label:
            raise _Skipped("set [forge] critical_label to check it")
        items = await (await self.forge()).open_issues_with_label(label)
        if items:
            raise CheckFailed(
                f"{len(items)} open issue(s) labelled {label!r}: " + "; ".join(i.line for i in items[:5]),
                "fix or triage them (remove the label if they do not block the release), then run the checks again",
            )
        return f"no open issue labelled {label!r}"

    async def ci_green(self) -> str:
        main = self.ctx.config.project.main_branch
        summary = await (await self.forge()).ci_status(main, required=self.ctx.config.forge.required_checks)
        if summary.state == "failure":
            names = ", ".join(f"{c.name} ({c.url})" if c.url else c.name for c in summary.failing)
            raise CheckFailed(f"CI failed on {main}: {names}", "fix the failing checks on the main branch first")
        if summary.state == "pending":
            raise CheckFailed(
                f"CI is still running on {main}: {', '.join(summary.pending)}", "wait for it, then run the checks again"
            )
        return str(summary.line)


@dataclass(frozen=True)
class CheckResult:
    """One check's outcome: ``status`` is ``passed``, ``failed`` or ``skipped``; ``error`` set when failed."""

    check_id: str
    label: str
    status: str
    detail: str
    error: IactError | None = None


async def repository_checks(ctx: RunContext) -> list[CheckResult]:
    """Run the git checks read-only (for ``plan``), concurrently; results in :data:`GIT_CHECKS` order.

    The fetch leaves local tags and branches alone (``--no-tags``); nothing but
    remote-tracking refs changes.
    """
    checks = GitChecks(ctx, fetch_tags=False)
    bodies = checks.bodies()

    async def one(check_id: str) -> CheckResult:
        label = _LABELS[check_id]
        try:
            detail = await bodies[check_id]()
        except _Skipped as exc:
            return CheckResult(check_id, label, "skipped", exc.detail)
        except IactError as exc:
            return CheckResult(check_id, label, "failed", detail_of(exc), exc)
        return CheckResult(check_id, label, "passed", detail)

    try:
        return list(await asyncio.gather(*(one(cid) for cid in GIT_CHECKS)))
    finally:
        checks.cancel()


async def changelog_has_content(ctx: RunContext) -> str:
    """The checklist's ``changelog`` check: the release has something to describe.

    Read-only (the changelog file, the commits since the last tag); ``plan`` runs it too.

    Returns:
        The detail, e.g. ``3 entries for v1.4.0``.

    Raises:
        CheckFailed: Nothing to release, or the changelog already has this version's (or
            a newer) section; what is wrong and the fix.
        _Skipped: The release commit is already on the branch.
    """
    path = ctx.config.root / ctx.config.project.changelog
    text = await asyncio.to_thread(lambda: path.read_bytes().decode("utf-8-sig") if path.exists() else "")
    merged = await ctx.git.log_grep("HEAD", f"chore: prepare release {ctx.tag}")
    if changelog.release_section(text, ctx.state.version) is not None and merged:
        raise _Skipped(f"{ctx.tag}'s release commit is already on this branch (see the tag check)")
    if changelog.release_section(text, ctx.state.version) is not None:
        raise CheckFailed(
            f"{ctx.config.project.changelog} already has a [{ctx.state.version}] section, written before "
            "the release: the release would leave it as it is (no date, no links, no new entries)",
            "move its entries under ## [Unreleased] and delete that heading, then commit; or choose another version",
        )
    newer = changelog.newest_release(text)
    if newer is not None and versioning.is_lower(ctx.state.version, newer):
        raise CheckFailed(
            f"{ctx.config.project.changelog} already describes {newer}, above the new {ctx.state.version}",
            "choose a version above it (were its tags never pushed? `git ls-remote --tags`), or fix the file",
        )
    body = await ctx.draft_changelog()
    entries = changelog.count_entries(body)
    if not entries:
        raise CheckFailed(
            "nothing to release: no commits since the last tag and no [Unreleased] entries",
            "merge the changes first, or add entries under [Unreleased]",
        )
    return f"{entries} entr{'y' if entries == 1 else 'ies'} for {ctx.tag}"


async def changelog_result(ctx: RunContext) -> CheckResult:
    """Run :func:`changelog_has_content` for ``plan``.

    Returns:
        The ``changelog`` check's :class:`CheckResult` (``error`` set when it fails).
    """
    label = _LABELS["changelog"]
    try:
        detail = await changelog_has_content(ctx)
    except _Skipped as exc:
        return CheckResult("changelog", label, "skipped", exc.detail)
    except IactError as exc:
        return CheckResult("changelog", label, "failed", detail_of(exc), exc)
    return CheckResult("changelog", label, "passed", detail)


class PreflightStep:
    """The automatic half of the pre-release checklist."""

    id = STEP_ID
    title = "Pre-release checklist"

    def plan(self, ctx: RunContext) -> list[Action]:
        """The checks that would run."""
        p, c = ctx.config.project, ctx.config.checks
        actions = [
            Action("git", "git status: the working tree has no changes"),
            Action("git", f"the checked-out branch is {p.main_branch}"),
            Action("git", f"{p.remote} exists and answers (git ls-remote); the clone is not shallow and has its tags"),
            Action(
                "git", f"git fetch --tags --prune {p.remote}; {p.main_branch} is level with {p.remote}/{p.main_branch}"
            ),
            Action("git", f"tag {ctx.tag} and branch {ctx.release_branch} exist neither locally nor on {p.remote}"),
        ]
        if c.tests:
            actions.append(Action("command", f"run tests: {c.tests}"))
        if c.coverage_report:
            actions.append(Action("check", f"line coverage in {c.coverage_report} >= {c.coverage_min:g}%"))
        actions.append(Action("check", "every version file can be read (dynamic pyproject.toml versions followed)"))
        actions.append(Action("check", f"{p.changelog}: the release has changelog entries"))
        return actions

    async def run(self, ctx: RunContext) -> AsyncIterator[Event]:
        """Run every check concurrently; yields ``CheckUpdate`` and test output.

        Raises:
            VersionError: No version has been chosen yet.
        """
        if not ctx.state.version:
            raise VersionError("no version chosen yet", "choose MAJOR, MINOR or PATCH first")
        queue: asyncio.Queue[Event | None] = asyncio.Queue()
        results: dict[str, str] = {}
        # Each check's figure or reason, for the release pull request's Testing section.
        details: dict[str, str] = {}
        tests_done = asyncio.Event()

        fixes: dict[str, str] = {}

        async def guard(check_id: str, body: Callable[[], Awaitable[str]]) -> None:
            label = _LABELS[check_id]
            await queue.put(CheckUpdate(STEP_ID, check_id, label, "running"))
            try:
                detail = await body()
                results[check_id], details[check_id] = "passed", detail
                await queue.put(CheckUpdate(STEP_ID, check_id, label, "passed", detail))
            except _Skipped as exc:
                results[check_id], details[check_id] = "skipped", exc.detail
                await queue.put(CheckUpdate(STEP_ID, check_id, label, "skipped", exc.detail))
            except IactError as exc:
                results[check_id], details[check_id] = "failed", detail_of(exc)
                fixes[check_id] = f"{exc.what} → {exc.fix}" if exc.fix else exc.what
                await queue.put(CheckUpdate(STEP_ID, check_id, label, "failed", detail_of(exc)))
            finally:
                if check_id == "tests":
                    tests_done.set()

        c = ctx.config.checks
        git_checks = GitChecks(ctx)

        async def tests() -> str:
            if not c.tests:
                raise _Skipped("disabled ([checks] tests is empty)")
            host = LocalHost("local")
            result: CommandResult | None = None
            async for item in host.stream(c.tests, cwd=str(ctx.config.root), timeout=c.timeout):
                if isinstance(item, CommandResult):
                    result = item
                else:
                    await queue.put(OutputLine(STEP_ID, item.text, item.stream, "tests"))
            assert result is not None
            if result.timed_out:
                raise CheckFailed(
                    f"the tests command did not finish within {c.timeout:g} s",
                    "make the tests faster, or raise [checks] timeout",
                )
            if not result.ok:
                tail = " | ".join((result.stderr_tail or result.stdout_tail)[-3:])
                raise CheckFailed(
                    f"the tests command exited {result.exit_status}: {tail}",
                    "fix the failing tests, then run the checks again",
                )
            return f"passed in {result.duration:.1f} s"

        async def coverage() -> str:
            if not c.coverage_report:
                raise _Skipped("disabled ([checks] coverage_report is empty)")
            await tests_done.wait()
            if results.get("tests") == "failed":
                raise CheckFailed("not measured: the tests failed", "make the tests pass first")
            report = ctx.config.root / c.coverage_report
            percent = await asyncio.to_thread(read_coverage, report, ctx.config.root)
            if percent + 1e-9 < c.coverage_min:
                raise CheckFailed(
                    f"line coverage {percent:.1f}% is below {c.coverage_min:g}%",
                    "add tests, or lower [checks] coverage_min",
                )
            return f"line coverage {percent:.1f}% (minimum {c.coverage_min:g}%)"

        async def version_files_ok() -> str:
            files = ctx.config.project.version_files
            if not files:
                raise _Skipped("none configured ([project] version_files is empty)")
            held, errors = await asyncio.to_thread(version_files.read_versions, ctx.config.root, files)
            ctx.file_versions = held
            if errors:
                raise CheckFailed(
                    "; ".join(e.what for e in errors), " ".join(dict.fromkeys(e.fix for e in errors if e.fix))
                )
            previous = ctx.state.previous_version.split("+")[0]
            above = [f for f in held if versioning.is_lower(ctx.state.version, f.version)]
            if above:
                listing = ", ".join(f"{f.path} holds {f.version}" for f in above)
                raise CheckFailed(
                    f"the new version {ctx.state.version} is below what the files hold ({listing}): "
                    "the release would downgrade them",
                    "choose a higher version; if earlier releases were never tagged here, tag the current one "
                    f"(`git tag -a {ctx.config.project.tag_prefix}{above[0].version} -m ...`) or type the version",
                )
            shown = ", ".join(f"{f.path}{f' (via {f.via})' if f.via else ''} {f.version}" for f in held)
            disagree = [f for f in held if previous and f.version != previous]
            if disagree:
                return f"{shown}; {len(disagree)} disagree with {previous}: choose below whether to bump them"
            return shown

        async def secrets_set() -> str:
            names, errors = missing_secrets(ctx.config, os.environ)
            if not names:
                raise _Skipped("no secret read from an environment variable")
            if errors:
                raise CheckFailed("; ".join(e.what for e in errors), errors[0].fix)
            return f"{len(names)} set: {', '.join(names)}"

        forge = ForgeChecks(ctx) if ctx.config.forge.kind == "github" else None
        bodies: dict[str, Callable[[], Awaitable[str]]] = {
            **(forge.bodies() if forge is not None else {}),
            **git_checks.bodies(),
            "version-files": version_files_ok,
            "secrets": secrets_set,
            "tests": tests,
            "coverage": coverage,
            "changelog": partial(changelog_has_content, ctx),
        }
        checks = checks_for(ctx.config)
        for check_id, label in checks:
            yield CheckUpdate(STEP_ID, check_id, label, "pending")
        tasks = [asyncio.create_task(guard(cid, bodies[cid])) for cid, _ in checks]

        async def close_when_done() -> None:
            await asyncio.gather(*tasks, return_exceptions=True)
            await queue.put(None)

        closer = asyncio.create_task(close_when_done())
        try:
            while (event := await queue.get()) is not None:
                yield event
        finally:
            for task in (*tasks, closer):
                task.cancel()
            git_checks.cancel()
            await asyncio.gather(*tasks, closer, return_exceptions=True)
            if forge is not None:
                await forge.close()
        failed = [cid for cid, _ in checks if results.get(cid) == "failed"]
        if failed:
            # Each failure's reason and fix in full: the table may cut a long detail.
            said = "; ".join(f"{cid}: {fixes[cid]}" for cid in failed if cid in fixes)
            yield StepFinished(
                STEP_ID,
                "failed",
                f"{len(failed)} check(s) failed: {', '.join(failed)}",
                f"{said}; then run the checklist again"
                if said
                else "fix what each failed check says, then run the checklist again",
                {"checks": results, "details": details, "version": ctx.state.version},
            )
        else:
            yield StepFinished(
                STEP_ID,
                "ok",
                "every automatic check passed",
                data={"checks": results, "details": details, "version": ctx.state.version},
            )
