"""The headless front end: ``iact-tui run`` and ``iact-tui plan``.

Consumes the same engine events as the screens: one line per step, command output
streamed and indented, check results, and a final summary with the journal path.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import os
from collections.abc import AsyncIterator, Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Protocol, TextIO

from iact_tui import signals
from iact_tui.config import Config
from iact_tui.engine.events import CheckUpdate, Event, OutputLine, StepFinished, StepStarted
from iact_tui.engine.run import FlowRun, ReleaseRun
from iact_tui.engine.state import RunState
from iact_tui.engine.step import Step, StepRecord
from iact_tui.errors import IactError

if TYPE_CHECKING:
    from iact_tui.engine.hotfix import HotfixRun
    from iact_tui.engine.rollback import RollbackRun

_MARK = {"ok": "✔", "failed": "✘", "skipped": "–", "cancelled": "■"}
_CHECK_MARK = {"passed": "✔", "warning": "!", "failed": "✘", "skipped": "–"}


def _say(out: TextIO, text: str) -> None:
    """Print one line; a reader that went away never stops the run.

    ``iact-tui run ... | tee log`` and Ctrl+C: the same SIGINT ends ``tee``, and every later
    write would raise; so does a terminal that hung up (EIO). The run must still stop its
    command and run the post commands (maintenance mode off), so output goes to
    ``/dev/null`` from then on.
    """
    try:
        out.write(text + "\n")
        out.flush()
    except (OSError, ValueError):  # BrokenPipeError; EIO from a terminal that hung up
        with contextlib.suppress(OSError, ValueError, io.UnsupportedOperation):
            null = os.open(os.devnull, os.O_WRONLY)
            os.dup2(null, out.fileno())
            os.close(null)


@contextlib.contextmanager
def stop_on_signals() -> Iterator[list[str]]:
    """While inside, SIGHUP and SIGTERM cancel the current task, as SIGINT (Ctrl+C) does
    under :func:`asyncio.run`: the running step stops its command and a deploy runs its
    post commands (maintenance mode off, the deploy lock released) instead of the process
    dying mid-deploy (see :mod:`iact_tui.signals`). Call from a coroutine.

    Yields:
        A list that gets each signal's name (``"SIGHUP"``) as it arrives.
    """
    task = asyncio.current_task()
    got: list[str] = []

    def stop(name: str) -> None:
        got.append(name)
        if task is not None:
            task.cancel()

    remove = signals.install(stop)
    try:
        yield got
    finally:
        remove()


async def _stream(
    out: TextIO, events: AsyncIterator[Event], steps: Sequence[Step], width: int = 2
) -> tuple[StepFinished | None, bool]:
    """Print a flow's events as they come: ``[ n/total] title ...``, output indented (the
    host first, ``!`` for stderr), each check's result, each step's result with its time
    and, when failed, its fix.

    Returns:
        ``(the last failed StepFinished or None, cancelled by Ctrl+C, SIGHUP or SIGTERM)``.
    """
    with stop_on_signals() as got:
        return await _print_events(out, events, steps, width, got)


async def _print_events(
    out: TextIO, events: AsyncIterator[Event], steps: Sequence[Step], width: int, got: list[str]
) -> tuple[StepFinished | None, bool]:
    total = len(steps)
    index = {s.id: i for i, s in enumerate(steps, 1)}
    failed: StepFinished | None = None
    try:
        async for event in events:
            if isinstance(event, StepStarted):
                _say(out, f"[{index[event.step_id]:>{width}}/{total}] {event.title} ...")
            elif isinstance(event, OutputLine):
                host = f"[{event.host}] " if event.host else ""
                mark = "! " if event.stream == "stderr" else ""
                _say(out, f"        {host}{mark}{event.text}")
            elif isinstance(event, CheckUpdate):
                if event.status in _CHECK_MARK:
                    _say(out, f"      {_CHECK_MARK[event.status]} {event.label}: {event.detail}")
            elif isinstance(event, StepFinished):
                seconds = event.data.get("seconds")
                took = f" ({seconds:.1f} s)" if isinstance(seconds, float) else ""
                _say(
                    out, f"      {_MARK.get(event.status, '?')} {event.step_id}: {event.status} — {event.message}{took}"
                )
                if event.status == "failed":
                    failed = event
                    if event.fix:
                        _say(out, f"        → {event.fix}")
    except asyncio.CancelledError:
        # Ctrl+C: the running step stopped its command (a deploy ran its post commands).
        why = f"{got[0]}: the terminal closed or the process was told to stop" if got else "by the operator (Ctrl+C)"
        _say(out, f"      ■ cancelled {why}")
        return failed, True
    return failed, False


def _summary(out: TextIO, steps: Sequence[Step], records: Mapping[str, StepRecord], width: int) -> None:
    """Print one line per step: mark, id, status, message."""
    _say(out, "")
    _say(out, "summary:")
    for step in steps:
        rec = records[step.id]
        _say(out, f"  {_MARK.get(rec.status, '·')} {step.id:<{width}} {rec.status:<9} {rec.message}")


async def _prepare(run: ReleaseRun, bump: str | None, version_text: str | None) -> str:
    info = await run.load_versions()
    if version_text is not None:
        return run.choose_version(version_text)
    assert bump is not None
    current = str(info.current.version) if info.current else "none"
    version = run.choose_bump(bump)
    if info.ignored:
        run.journal.write("ignored_tags", tags=info.ignored)
    return f"{current} → {version} ({bump})"


async def _say_bump_advice(run: ReleaseRun, out: TextIO) -> None:
    """Print what the commits call for, and a warning when the chosen bump is smaller."""
    try:
        suggestion = await run.bump_suggestion()
    except IactError:
        return  # the history cannot be read: the checklist reports it
    warning = run.bump_warning(suggestion)
    since = run.state.previous_tag or "the first commit"
    level = f" → SemVer suggests {suggestion.level.upper()}" if suggestion.level else ""
    _say(out, f"commits since {since}: {suggestion.counts()}{level}")
    if warning:
        _say(out, f"! {warning}")


def _ended(out: TextIO, failed: StepFinished | None) -> int:
    """Say where a run that was not cancelled failed, if it did.

    Returns:
        1 when a step failed, else 0.
    """
    if failed is None:
        return 0
    _say(out, f"failed at {failed.step_id}: {failed.message}")
    return 1


def _refused(out: TextIO, *errors: IactError) -> int:
    """Print why a headless run refuses before changing anything: each error's what and
    fix, then ``nothing was changed``.

    Returns:
        2 (the exit status of a refusal).
    """
    for error in errors:
        _say(out, f"✘ {error.what}")
        if error.fix:
            _say(out, f"  → {error.fix}")
    _say(out, "nothing was changed")
    return 2


class _Loads(Protocol):
    """A hotfix or rollback run: :meth:`load` reads what runs and fills ``notes``."""

    notes: list[str]

    async def load(self) -> None: ...


async def _loaded(run: _Loads, out: TextIO) -> bool:
    """Load ``run`` (what production runs, the tags, the journals) and print its notes.

    Returns:
        True when loaded; False when it could not be (printed by :func:`_refused`:
        nothing was changed, the caller exits 2).
    """
    try:
        await run.load()
    except IactError as exc:
        _refused(out, exc)
        return False
    for note in run.notes:
        _say(out, f"! {note}")
    return True


class _Ticks(Protocol):
    """A run whose verification has items done by hand."""

    state: RunState

    def verify_manual_checks(self) -> tuple[tuple[str, str], ...]: ...

    def tick_verify(self, check_id: str, ticked: bool, note: str = "") -> None: ...


#: The note ``--yes`` gives the verification items done by hand (journaled, reported).
TICKED_BY_YES = "ticked in advance by --yes (nobody looked)"


def _tick_in_advance(run: _Ticks, out: TextIO) -> None:
    """``--yes``: tick each verification item done by hand not ticked yet (a resumed run
    keeps the operator's own ticks and notes), noted as nobody looked, and say so."""
    for check_id, label in run.verify_manual_checks():
        if check_id not in run.state.verify_ticks:
            run.tick_verify(check_id, True, TICKED_BY_YES)
            _say(out, f"! {label}: {TICKED_BY_YES}")


def _answer_in_advance(run: ReleaseRun, until: str | None, skip: dict[str, str] | None, out: TextIO) -> bool:
    """``--yes`` for a release or a hotfix: answer what the screens would ask, in advance,
    for the steps this run reaches (up to ``until``).

    Ticks the verification items done by hand not ticked yet (noted as nobody looked; a
    resumed run keeps the ticks and notes the operator gave), types the
    version for the production deploy, acknowledges the rollback plan (the prep step
    prints it), and skips the prep items the operator gave a reason for (empty reasons
    are ignored). When the run reaches ``prep-production``, nobody can answer the prep's
    questions headless: its gaps (no backup or notice configured and no reason to skip
    it) are printed with their fixes.

    Args:
        run: A release or hotfix run, its version chosen.
        until: The step the run stops after (``None``: the whole flow).
        skip: Production prep item (``backup``, ``notice``) → the operator's reason.
        out: Where to print.

    Returns:
        False when the prep has gaps (nothing is changed: refuse with 2); True otherwise.
    """
    order = [s.id for s in run.steps]

    def reaches(step_id: str) -> bool:
        return step_id in order and (until is None or order.index(until) >= order.index(step_id))

    # Only what this run will ask: answers journaled for steps past --until would be
    # replayed when the run is resumed in the wizard, which must then ask the operator
    # (found by a trial: production was deployed with no typed version after such a resume).
    if reaches("verify"):
        _tick_in_advance(run, out)
    if reaches("deploy-production"):
        run.confirm("deploy-production", run.state.version)
    reaches_prep = reaches("prep-production")
    if reaches_prep:
        run.acknowledge_rollback_plan("production", ["acknowledged in advance by --yes (the plan is in the output)"])
        for item, reason in (skip or {}).items():
            if reason.strip():
                # --yes stands for the typed version a backup skip needs, as for the deploy.
                run.skip_prep_item("production", item, reason, typed=run.state.version)
    gaps = run.prep_gaps("production") if reaches_prep else []
    if gaps:
        _refused(out, *gaps)
    return not gaps


async def run_release(
    config: Config,
    *,
    bump: str | None,
    version_text: str | None,
    until: str | None,
    out: TextIO,
    skip: dict[str, str] | None = None,
) -> int:
    """Run the release flow headless.

    Args:
        config: The validated config.
        bump: ``major``/``minor``/``patch``, or ``None`` when ``version_text`` is given.
        version_text: An exact version to release instead of a bump.
        until: Stop after this step id (``None``: the whole flow).
        out: Where to print.
        skip: Production prep item (``backup``, ``notice``) → the operator's reason to go
            on without it; empty reasons are ignored.

    Returns:
        0 when every step run passed or was skipped, 1 when one failed, 2 when
        ``version_text`` is refused or the production prep would need an answer nobody
        can give (no backup or notice configured and no reason to skip it; nothing is
        changed then), 130 when cancelled (Ctrl+C).
    """
    run = ReleaseRun(config)
    try:
        try:
            chosen = await _prepare(run, bump, version_text)
        except IactError as exc:
            _say(out, f"✘ version: {exc}")
            # A version the operator typed on the command line is bad usage (2).
            return 2 if version_text is not None else 1
        _say(out, f"release {run.ctx.tag}: {chosen}")
        _say(out, f"journal: {run.journal_path}")
        await _say_bump_advice(run, out)
        for check_id, _label in run.manual_checks():
            run.tick(check_id, True)
        if not _answer_in_advance(run, until, skip, out):
            return 2
        on_main = await run.ctx.git.current_branch() == config.project.main_branch
        # Off main (a leftover release branch), the files hold the release's version: no news.
        mismatches = await run.version_mismatches() if on_main else []
        for held in mismatches:
            _say(
                out,
                f"! {held.path} holds {held.version}, not {run.state.previous_version}: "
                f"--yes bumps it to {run.state.version} anyway",
            )
        if mismatches:
            run.accept_version_mismatch(True)
        failed, cancelled = await _run_release_steps(run, until, out)
        if cancelled:
            stopped = next((sid for sid, rec in run.records.items() if rec.status in {"cancelled", "running"}), "?")
            _say(out, f"cancelled at {stopped}")
            branch = await run.ctx.git.current_branch()
            if branch and branch != config.project.main_branch:
                _say(out, f"the clone is left on {branch}; `git checkout {config.project.main_branch}` to go back")
            return 130
        return _ended(out, failed)
    finally:
        run.journal.close()


async def _run_release_steps(run: ReleaseRun, until: str | None, out: TextIO) -> tuple[StepFinished | None, bool]:
    """Run the release's steps up to ``until``, journal the end, print the summary and
    where the announcement, the journal and the report are.

    Returns:
        ``(the failed step's result or None, cancelled)`` as :func:`_stream` gives them.
    """
    failed, cancelled = await _stream(out, run.run_until(until), run.steps, 2)
    run.finish()
    _summary(out, run.steps, run.records, 18)
    if run.announcement_path:
        _say(out, f"announcement: {run.announcement_path}")
    _say(out, f"journal: {run.journal_path}")
    report = run.journal_path.parent / "report.md"
    if report.is_file():
        _say(out, f"report: {report}")
    return failed, cancelled


async def print_plan(config: Config, *, bump: str, out: TextIO) -> int:
    """Print every action of a release with ``bump``, then run the read-only checks.

    The checks are :meth:`ReleaseRun.check_setup` and the checklist's git checks
    (:meth:`ReleaseRun.check_repository`: clean tree, branch, remote reachable, shallow
    clone or missing tags, level with the remote after a fetch, tag and branch free); the
    tests and coverage are not run. Then the read-only probes (each SSH host reached,
    each health URL's status and version, production's ``migrate --plan``) and only what
    the release would change. Nothing changes but remote-tracking refs (the fetch).

    The checks include the checklist's ``changelog`` check (something to release), so a
    plan with nothing to release fails as the checklist would.

    Returns:
        0 (the last line counts the probes that warned, e.g. a health URL that does not
        answer: a warning does not stop a release); 1 when the version cannot be worked
        out, a check finds a problem (each is printed with what to do) or a probe failed
        (a host out of reach).
    """
    from iact_tui.engine import probes

    run = ReleaseRun(config, record=False)
    try:
        try:
            chosen = await _prepare(run, bump, None)
        except IactError as exc:
            _say(out, f"✘ {exc}")
            return 1
        _say(out, f"plan for release {run.ctx.tag} ({chosen}) in {config.root}")
        await _say_bump_advice(run, out)
        for held in await run.version_mismatches():
            _say(
                out,
                f"! {held.path} holds {held.version}, not {run.state.previous_version} (the current release): "
                "the checklist asks whether to bump it anyway",
            )
        for i, (step, actions) in enumerate(run.plan(), 1):
            _say(out, f"{i:>2}. {step.title} [{step.id}]")
            for action in actions:
                where = f" @{action.target}" if action.target != "local" else ""
                _say(out, f"      - {action.kind}{where}: {action.description}")
        found = await probes.repository_checks(run)
        _say(out, "")
        _say(out, "repository checks (the checklist runs these again, with the tests and coverage):")
        for result in found.checks:
            if result.error is not None:
                _say(out, f"  ✘ {result.label}: {result.error.what}")
                if result.error.fix:
                    _say(out, f"    → {result.error.fix}")
            else:
                _say(out, f"  {_CHECK_MARK.get(result.status, '?')} {result.label}: {result.detail}")
        failed = [r.error for r in found.checks if r.error is not None]
        probe_failures, warnings = await _say_probes(run, out)
        failed += probe_failures
        seen = {error.what for error in failed}
        problems = [error for error in found.problems if error.what not in seen]
        if problems:
            _say(out, "")
            _say(out, f"✘ {len(problems)} setup problem(s):")
            for problem in problems:
                _say(out, f"  - {problem.what}")
                if problem.fix:
                    _say(out, f"    → {problem.fix}")
        count = len(failed) + len(problems)
        if count:
            _say(out, "")
            _say(out, f"✘ {count} problem(s) would stop this release")
        done = "nothing was changed (a fetch only updated the remote-tracking refs)"
        if warnings:
            # Exit 0 still: a site that does not answer now need not stop a release.
            done += f"; {warnings} probe warning(s) (marked !): they do not stop the release, but look at them first"
        _say(out, done)
        return 1 if count else 0
    finally:
        run.journal.close()


async def _say_probes(run: ReleaseRun, out: TextIO) -> tuple[list[IactError], int]:
    """Run the plan's read-only probes (SSH reachability, each health URL, production's
    ``migrate --plan``), print each, then only what the release would change.

    Returns:
        One error per failed probe (a host out of reach, a plan that cannot be read), and
        how many probes warned (e.g. a health URL that does not answer).
    """
    from iact_tui.engine import probes

    timeout = run.config.timeouts.http
    _say(out, "")
    _say(out, f"probes (read-only, each at most {timeout:g} s):")
    results: list[probes.ProbeResult] = []
    async for result in probes.run_probes(run.config, probes.target_of(run), timeout=timeout):
        results.append(result)
        mark = {"ok": "✔", "warning": "!", "failed": "✘"}[result.status]
        _say(out, f"  {mark} {result.line()}")
    _say(out, "")
    _say(out, "what would change:")
    for line in probes.planned_changes(run, results):
        _say(out, f"  - {line}")
    failed = [
        IactError(f"{r.kind} probe of {r.env} {r.target}: {r.detail}", "fix the access, then plan again")
        for r in results
        if r.status == "failed"
    ]
    return failed, sum(r.status == "warning" for r in results)


async def run_rollback(
    config: Config,
    *,
    to: str,
    env: str = "production",
    out: TextIO,
    state_dir: Path | None = None,
) -> int:
    """Roll ``env`` back to the release ``to`` headless (``--yes``: the target typed in advance).

    Prints what runs now, the plan per host (migrations to reverse, every command), then
    runs the rollback, the verification and the journal record.

    Args:
        config: The validated config.
        to: The target release, version or tag (``1.4.0`` or ``v1.4.0``).
        env: The environment rolled back.
        out: Where to print.
        state_dir: Where runs are kept; ``None``: platformdirs' user state dir.

    Returns:
        0 when rolled back, verified and recorded; 1 when a step failed (an irreversible
        migration refuses the plan: nothing is changed then); 2 when ``to`` is refused
        (not a release tag, marked bad, not older than what runs) or the hosts cannot be
        read; 130 when cancelled.
    """
    from iact_tui.engine.rollback import RollbackRun

    run = RollbackRun(config, state_dir=state_dir, env=env)
    try:
        _say(out, f"rollback of {env}; journal: {run.journal_path}")
        try:
            await run.load()
            target = run.choose_target(to)
        except IactError as exc:
            run.finish()  # refused before any step: the history says so, not "unfinished"
            return _refused(out, exc)
        for note in run.notes:
            _say(out, f"! {note}")
        _say(out, f"{env} runs {run.current_tag or 'an unknown release'}; going back to {target.tag} ({target.detail})")
        _tick_in_advance(run, out)
        run.confirm(run.deploy_step_id, target.version)
        failed, cancelled = await _stream(out, run.run_until(), run.steps, 1)
        run.finish()
        _summary(out, run.steps, run.records, 20)
        for line in run.now_running():  # what the environment runs now, not only step names
            _say(out, line)
        _say(out, f"journal: {run.journal_path}")
        if cancelled:
            return 130
        if failed is not None:
            if failed.step_id == "rollback-plan":
                _say(out, "nothing was changed")
            _say(out, f"failed at {failed.step_id}: {failed.message}")
            return 1
        return 0
    finally:
        run.journal.close()


async def print_rollback_targets(
    config: Config, *, env: str = "production", out: TextIO, state_dir: Path | None = None
) -> int:
    """Print what ``env`` runs and the releases it can go back to (``run rollback`` without ``--to``).

    Read-only: reads the journals, the tags and each host's state; writes no journal.

    Args:
        config: The validated config.
        env: The environment.
        out: Where to print.
        state_dir: Where runs are kept; ``None``: platformdirs' user state dir.

    Returns:
        2 always (``--to`` is required to roll back): the targets are printed with their
        details (:meth:`~iact_tui.engine.rollback.RollbackRun.targets`), or that there is
        none and what to do; a host or the tags that cannot be read are printed too.
    """
    from iact_tui.engine.rollback import RollbackRun

    run = RollbackRun(config, state_dir=state_dir, env=env, record=False)
    if not await _loaded(run, out):
        return 2
    _say(out, f"{env} runs {run.current_tag or 'an unknown release'}")
    offered = run.targets()
    if offered:
        _say(out, "rollback targets (give one with --to):")
        for target in offered:
            _say(out, f"  {target.tag:<12} {target.detail}")
    else:
        _say(out, f"✘ no rollback target: {run.no_target_text()}")
    _say(out, "nothing was changed")
    return 2


async def run_hotfix(
    config: Config,
    *,
    out: TextIO,
    until: str | None = None,
    skip: dict[str, str] | None = None,
    state_dir: Path | None = None,
) -> int:
    """Run the hotfix flow headless (``--yes``: the version typed, the rollback plan and
    the verification done by hand acknowledged in advance).

    The fix commits are expected on the hotfix branch already; without one the hotfix
    checks fail (``--until hotfix-branch`` creates the branch and stops, so they can be
    made there).

    Args:
        config: The validated config.
        out: Where to print.
        until: Stop after this step id (``None``: the whole flow).
        skip: Production prep item (``backup``, ``notice``) → the operator's reason to go
            on without it; empty reasons are ignored.
        state_dir: Where runs are kept; ``None``: platformdirs' user state dir.

    Returns:
        0 when every step run passed or was skipped; 1 when one failed (a backport
        conflict included: the files are printed); 2 when what production runs cannot be
        found, or the production prep would need an answer nobody can give (nothing is
        changed then); 130 when cancelled.
    """
    from iact_tui.engine.hotfix import HotfixRun

    run = HotfixRun(config, state_dir=state_dir)
    try:
        _say(out, f"hotfix; journal: {run.journal_path}")
        if not await _loaded(run, out):
            return 2
        _say(
            out,
            f"production runs {run.production_tag} (read from the {run.source}); hotfix {run.ctx.tag} on {run.branch}",
        )
        if not _answer_in_advance(run, until, skip, out):
            return 2
        return await _run_to_the_end(run, until, out, lambda: [f"  {line}" for line in run.summary_lines()], 18)
    finally:
        run.journal.close()


async def resume_flow(
    config: Config,
    flow: str,
    *,
    out: TextIO,
    until: str | None = None,
    env: str = "production",
    state_dir: Path | None = None,
) -> int:
    """Go on with the newest unfinished hotfix or rollback of this repository, headless
    (``run hotfix --resume --yes``, ``run rollback --resume --yes``): its inputs come from
    its journal (:func:`~iact_tui.engine.resume.resume_flow`) and ``--yes`` answers what
    is still unanswered (the typed version, the items verified by hand, a hotfix's
    rollback plan). Steps already ``ok`` are not run again; an interrupted one runs again.
    The same journal goes on.

    Args:
        config: The validated config.
        flow: ``hotfix`` or ``rollback``.
        out: Where to print.
        until: Stop after this step id (``None``: the whole flow).
        env: A rollback's environment.
        state_dir: Where runs are kept; ``None``: platformdirs' user state dir.

    Returns:
        0 when every step run passed; 1 when one failed; 2 when there is no unfinished
        run of ``flow`` here, it cannot be resumed, or a command of its interrupted
        deploy still runs on a host (nothing is run then); 130 when cancelled.
    """
    from iact_tui.engine import resume
    from iact_tui.engine.hotfix import HotfixRun
    from iact_tui.engine.rollback import RollbackRun

    env_only = env if flow == "rollback" else None
    found = await asyncio.to_thread(resume.find_unfinished, config, state_dir, flows=(flow,), env=env_only)
    if found is None:
        where = f" of {env}" if flow == "rollback" else ""
        return _refused(
            out,
            IactError(
                f"there is no unfinished {flow}{where} of {config.root} to resume",
                f"start one with `iact-tui run {flow} …` (without --resume)",
            ),
        )
    try:
        run, replayed = await resume.resume_flow(config, found)
    except (IactError, OSError) as exc:
        return _refused(out, exc if isinstance(exc, IactError) else IactError(f"cannot resume: {exc}", ""))
    assert isinstance(run, HotfixRun | RollbackRun)
    try:
        _say(out, f"resuming {found.subject} ({found.stopped_at}: {found.stopped_status})")
        _say(out, f"journal: {run.journal_path}")
        if not await _loaded(run, out):
            return 2
        if replayed.still_running:
            return _refused(out, *_orphans(run, replayed.still_running, f"run {flow} --resume"))
        _say_interrupted(run, replayed.output, out)
        if isinstance(run, RollbackRun):
            _tick_in_advance(run, out)
            if run.deploy_step_id not in run.state.confirmations:
                run.confirm(run.deploy_step_id, run.state.version)
        elif not _answer_in_advance(run, until, None, out):
            return 2
        if isinstance(run, RollbackRun):
            return await _run_to_the_end(run, until, out, run.now_running, 20)
        return await _run_to_the_end(run, until, out, lambda: [f"  {line}" for line in run.summary_lines()], 18)
    finally:
        run.journal.close()


async def _run_to_the_end(
    run: HotfixRun | RollbackRun, until: str | None, out: TextIO, last_lines: Callable[[], list[str]], width: int
) -> int:
    """Run a hotfix's or rollback's steps (up to ``until``), journal its end, print the
    summary (step ids padded to ``width`` characters), ``last_lines()`` (what it did,
    asked once it ended) and the journal.

    Returns:
        0 when every step run passed; 1 when one failed; 130 when cancelled.
    """
    failed, cancelled = await _stream(out, run.run_until(until), run.steps, 2)
    run.finish()
    _summary(out, run.steps, run.records, width)
    for line in last_lines():
        _say(out, line)
    _say(out, f"journal: {run.journal_path}")
    if cancelled:
        return 130
    return _ended(out, failed)


def _say_interrupted(run: FlowRun, output: dict[str, list[dict[str, str]]], out: TextIO) -> None:
    """Say each step of a resumed run that iact-tui stopped while it ran (it runs again),
    with how many output lines it had journaled (``output``: step id → its lines)."""
    from iact_tui.engine.resume import INTERRUPTED

    for sid, record in run.records.items():
        if record.status == INTERRUPTED:
            lines = len(output.get(sid, []))
            _say(out, f"! {sid} was interrupted; it runs again (its {lines} output line(s) so far are in the journal)")


async def _end_unended(run: ReleaseRun, out: TextIO) -> int:
    """Journal the end of a resumed run whose every step had passed (the process died
    right after its last step, see :func:`~iact_tui.engine.resume.find_unended`) and
    write its report; nothing runs.

    Returns:
        0.
    """
    _say(out, f"every step of release {run.ctx.tag} had passed; only its end and report were missing")
    run.finish()
    _summary(out, run.steps, run.records, 18)
    _say(out, f"report: {run.journal_path.parent / 'report.md'}")
    return 0


def _orphans(run: FlowRun, still_running: dict[str, list[str]], again: str = "run release --resume") -> list[IactError]:
    """One error per SSH host where a command of the interrupted deploy still runs (see
    :func:`~iact_tui.engine.resume.resume_release`): what runs, and the step's fix.

    Args:
        run: The resumed run.
        still_running: ``env/host`` → what still runs there.
        again: The command that resumes the run, for the fix.
    """
    fixes = {
        sid.partition("-")[2]: r.fix
        for sid, r in run.records.items()
        if sid.startswith(("deploy-", "rollback-")) and r.fix
    }
    return [
        IactError(
            f"the interrupted deploy's command is still running on {key.partition('/')[2]}: {', '.join(left)}",
            f"{fixes.get(key.partition('/')[0], '')}; then `{again}` again",
        )
        for key, left in still_running.items()
    ]


async def resume_release(config: Config, *, until: str | None, out: TextIO, state_dir: Path | None = None) -> int:
    """Go on with the newest unfinished release run of this repository, headless
    (``run release --resume --yes``): its version, ticks, changelog text and other inputs
    come from its journal (:mod:`~iact_tui.engine.resume`); ``--yes`` answers what is
    still unanswered, as in :func:`run_release`. Steps already ``ok`` are not run again;
    an interrupted one runs again (each step checks what is done first). The same
    journal goes on.

    Args:
        config: The validated config.
        until: Stop after this step id (``None``: the whole flow).
        out: Where to print.
        state_dir: Where runs are kept; ``None``: platformdirs' user state dir.

    Returns:
        As :func:`run_release`: 0, 1 when a step failed, 130 when cancelled; 2 when there
        is no unfinished release run of this repository (nothing is changed).
    """
    from iact_tui.engine import resume

    found = await asyncio.to_thread(resume.find_unfinished, config, state_dir)
    if found is None:
        found = await asyncio.to_thread(resume.find_unended, config, state_dir)
    if found is None:
        return _refused(
            out,
            IactError(
                f"there is no unfinished release run of {config.root} to resume",
                "start one with `iact-tui run release --bump …` (without --resume)",
            ),
        )
    try:
        run, replayed = await resume.resume_release(config, found)
    except (IactError, OSError) as exc:
        return _refused(out, exc if isinstance(exc, IactError) else IactError(f"cannot resume: {exc}", ""))
    try:
        _say(out, f"resuming release {run.ctx.tag} ({found.stopped_at}: {found.stopped_status})")
        _say(out, f"journal: {run.journal_path}")
        if found.stopped_status == resume.ENDED:
            return await _end_unended(run, out)
        if replayed.still_running:
            return _refused(out, *_orphans(run, replayed.still_running))
        _say_interrupted(run, replayed.output, out)
        for check_id, _label in run.manual_checks():
            if check_id not in run.state.ticks:
                run.tick(check_id, True)
        if not _answer_in_advance(run, until, None, out):
            return 2
        failed, cancelled = await _run_release_steps(run, until, out)
        if cancelled:
            return 130
        return _ended(out, failed)
    finally:
        run.journal.close()
