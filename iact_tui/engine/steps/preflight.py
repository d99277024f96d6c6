"""The pre-release checklist's automatic checks, run concurrently with live status.

Checks (ids): ``clean-tree``, ``main-branch``, ``up-to-date`` (after a fetch),
``tag-free`` (locally and on the remote, release branch too), ``tests``, ``coverage``
(Cobertura XML ``line-rate``, after the tests wrote it), ``changelog`` (something to
release). Manual items are ticked by the operator (``RunState.ticks``), not here.
"""

from __future__ import annotations

import asyncio
import xml.etree.ElementTree as ET
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

from iact_tui.engine.events import CheckUpdate, Event, OutputLine, StepFinished
from iact_tui.engine.state import RunContext
from iact_tui.engine.step import Action
from iact_tui.errors import IactError, VersionError
from iact_tui.services import changelog
from iact_tui.services.remote import CommandResult, LocalHost

STEP_ID = "preflight"

CHECKS: tuple[tuple[str, str], ...] = (
    ("clean-tree", "Working tree is clean"),
    ("main-branch", "On the main branch"),
    ("up-to-date", "Up to date with the remote"),
    ("tag-free", "Release tag and branch are free"),
    ("tests", "Tests pass"),
    ("coverage", "Coverage meets the threshold"),
    ("changelog", "Changelog has content"),
)
_LABELS = dict(CHECKS)


class _Failed(Exception):
    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


class _Skipped(Exception):
    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


def read_coverage(path: Path) -> float:
    """Line coverage in percent from a Cobertura XML report (the root's ``line-rate``).

    Raises:
        IactError: The file is missing or not Cobertura XML.
    """
    try:
        root = ET.parse(path).getroot()
    except FileNotFoundError:
        raise IactError(
            f"coverage report {path} does not exist", "make the tests command write it (e.g. coverage xml)"
        ) from None
    except ET.ParseError as exc:
        raise IactError(
            f"coverage report {path} is not XML: {exc}", "point coverage_report at a Cobertura XML file"
        ) from None
    rate = root.get("line-rate")
    if root.tag != "coverage" or rate is None:
        raise IactError(
            f"{path} is not a Cobertura report (no <coverage line-rate=...>)", "use `coverage xml` to write it"
        )
    return float(rate) * 100


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
            Action(
                "git", f"git fetch --tags --prune {p.remote}; {p.main_branch} is level with {p.remote}/{p.main_branch}"
            ),
            Action("git", f"tag {ctx.tag} and branch {ctx.release_branch} exist neither locally nor on {p.remote}"),
        ]
        if c.tests:
            actions.append(Action("command", f"run tests: {c.tests}"))
        if c.coverage_report:
            actions.append(Action("check", f"line coverage in {c.coverage_report} >= {c.coverage_min:g}%"))
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
        tests_done = asyncio.Event()

        async def guard(check_id: str, body: Callable[[], Awaitable[str]]) -> None:
            label = _LABELS[check_id]
            await queue.put(CheckUpdate(STEP_ID, check_id, label, "running"))
            try:
                detail = await body()
                results[check_id] = "passed"
                await queue.put(CheckUpdate(STEP_ID, check_id, label, "passed", detail))
            except _Skipped as exc:
                results[check_id] = "skipped"
                await queue.put(CheckUpdate(STEP_ID, check_id, label, "skipped", exc.detail))
            except _Failed as exc:
                results[check_id] = "failed"
                await queue.put(CheckUpdate(STEP_ID, check_id, label, "failed", exc.detail))
            except IactError as exc:
                results[check_id] = "failed"
                await queue.put(CheckUpdate(STEP_ID, check_id, label, "failed", str(exc)))
            finally:
                if check_id == "tests":
                    tests_done.set()

        git, p, c = ctx.git, ctx.config.project, ctx.config.checks

        async def clean_tree() -> str:
            changed, untracked = await git.dirty_files()
            if changed:
                shown = ", ".join(changed[:8]) + (f" and {len(changed) - 8} more" if len(changed) > 8 else "")
                raise _Failed(f"uncommitted changes: {shown}; commit or stash them")
            if untracked:
                return f"clean (untracked, not released: {', '.join(untracked[:5])})"
            return "no uncommitted changes"

        async def main_branch() -> str:
            branch = await git.current_branch()
            if branch is None:
                raise _Failed(f"HEAD is detached; run `git checkout {p.main_branch}`")
            if branch != p.main_branch:
                raise _Failed(f"on branch {branch!r}, not {p.main_branch!r}; run `git checkout {p.main_branch}`")
            return f"on {branch}"

        async def up_to_date() -> str:
            await git.fetch(p.remote)
            ab = await git.ahead_behind(p.main_branch, p.remote)
            where = f"{p.remote}/{p.main_branch}"
            if ab.ahead and ab.behind:
                raise _Failed(
                    f"{p.main_branch} has diverged from {where} ({ab.ahead} ahead, {ab.behind} behind); reconcile them first"
                )
            if ab.behind:
                raise _Failed(f"{p.main_branch} is {ab.behind} commit(s) behind {where}; run `git pull --ff-only`")
            if ab.ahead:
                raise _Failed(f"{p.main_branch} has {ab.ahead} commit(s) not on {where}; push them (or reset) first")
            return f"level with {where}"

        async def tag_free() -> str:
            tag, branch = ctx.tag, ctx.release_branch
            problems = []
            if await git.rev(f"refs/tags/{tag}"):
                problems.append(f"tag {tag} exists locally")
            if await git.remote_tag_exists(p.remote, tag):
                problems.append(f"tag {tag} exists on {p.remote}")
            if await git.remote_branch_exists(p.remote, branch):
                problems.append(f"branch {branch} exists on {p.remote}")
            local_branch = await git.rev(f"refs/heads/{branch}")
            main_head = await git.rev(p.main_branch)
            if local_branch and local_branch != main_head:
                problems.append(
                    f"branch {branch} exists locally at {local_branch[:10]} (remove it: git branch -D {branch})"
                )
            merged = await git.log_grep(f"{p.remote}/{p.main_branch}", f"chore: prepare release {tag}")
            if merged and not any(f"tag {tag}" in problem for problem in problems):
                raise _Failed(
                    f"{p.remote}/{p.main_branch} already holds 'chore: prepare release {tag}' ({merged[:10]}) but {tag} "
                    f"is not tagged: an earlier run stopped after the merge. Tag it by hand: git tag -a {tag} -m "
                    f"'Release {tag}' {p.remote}/{p.main_branch} && git push {p.remote} {tag}"
                )
            if problems:
                raise _Failed("; ".join(problems) + "; choose another version, or remove the stale refs")
            if local_branch:
                return f"{tag} is free; reusing the local branch {branch} (at {p.main_branch}'s head)"
            return f"{tag} and {branch} are free"

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
                raise _Failed(f"the tests command did not finish within {c.timeout:g} s ([checks] timeout)")
            if not result.ok:
                tail = " | ".join((result.stderr_tail or result.stdout_tail)[-3:])
                raise _Failed(f"the tests command exited {result.exit_status}: {tail}")
            return f"passed in {result.duration:.1f} s"

        async def coverage() -> str:
            if not c.coverage_report:
                raise _Skipped("disabled ([checks] coverage_report is empty)")
            await tests_done.wait()
            if results.get("tests") == "failed":
                raise _Failed("not measured: the tests failed")
            report = ctx.config.root / c.coverage_report
            percent = await asyncio.to_thread(read_coverage, report)
            if percent + 1e-9 < c.coverage_min:
                raise _Failed(f"line coverage {percent:.1f}% is below {c.coverage_min:g}%")
            return f"line coverage {percent:.1f}% (minimum {c.coverage_min:g}%)"

        async def changelog_has_content() -> str:
            body = await ctx.draft_changelog()
            entries = changelog.count_entries(body)
            if not entries:
                raise _Failed(
                    "nothing to release: no commits since the last tag and no [Unreleased] entries; "
                    "merge the changes first, or add entries under [Unreleased]"
                )
            return f"{entries} entr{'y' if entries == 1 else 'ies'} for {ctx.tag}"

        bodies: dict[str, Callable[[], Awaitable[str]]] = {
            "clean-tree": clean_tree,
            "main-branch": main_branch,
            "up-to-date": up_to_date,
            "tag-free": tag_free,
            "tests": tests,
            "coverage": coverage,
            "changelog": changelog_has_content,
        }
        for check_id, label in CHECKS:
            yield CheckUpdate(STEP_ID, check_id, label, "pending")
        tasks = [asyncio.create_task(guard(cid, bodies[cid])) for cid, _ in CHECKS]

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
            await asyncio.gather(*tasks, closer, return_exceptions=True)
        failed = [cid for cid, _ in CHECKS if results.get(cid) == "failed"]
        if failed:
            yield StepFinished(
                STEP_ID,
                "failed",
                f"{len(failed)} check(s) failed: {', '.join(failed)}",
                "fix what each failed check says, then run the checklist again",
                {"checks": results, "version": ctx.state.version},
            )
        else:
            yield StepFinished(
                STEP_ID, "ok", "every automatic check passed", data={"checks": results, "version": ctx.state.version}
            )
