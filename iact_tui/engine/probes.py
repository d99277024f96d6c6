"""Read-only dry-run probes for the release plan: can we reach what the release will touch?

Three kinds, none of which changes anything:

* ``ssh``: each SSH host of each environment: connect (the host key verified against
  known_hosts, as always) and run ``true``.
* ``health``: ``GET`` each environment's ``health_url``: the status and the version it
  reports, and so what the release would change there (``v1.3.2 → v1.4.0``).
* ``migrate``: ``manage.py migrate --plan`` on production's first host (Django prints
  the plan and applies nothing): migrations pending there now; with the migrations the
  release adds (from git), what the deploy would apply.

:func:`run_probes` runs them at once, each under its own timeout, and yields each
:class:`ProbeResult` as it comes; cancelling the iteration cancels what is left and
closes every connection.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING, Literal

from iact_tui.config import Config
from iact_tui.engine.commands import placeholder_values
from iact_tui.errors import IactError
from iact_tui.services import http_checks, migrations
from iact_tui.services.aio import within
from iact_tui.services.remote import Host, make_hosts, run_collect

if TYPE_CHECKING:
    from iact_tui.engine.run import ReleaseRun
    from iact_tui.engine.steps.preflight import CheckResult

ProbeKind = Literal["ssh", "health", "migrate"]
ProbeStatus = Literal["ok", "warning", "failed"]

#: A migration line of ``manage.py migrate --plan``: ``core.0004_note`` (unindented).
_PLANNED = re.compile(r"^([A-Za-z_][A-Za-z0-9_]*)\.([A-Za-z0-9_]+)$")


@dataclass(frozen=True)
class ProbeResult:
    """One probe's outcome.

    Attributes:
        kind: ``ssh``, ``health`` or ``migrate``.
        env: The environment probed.
        target: The host's name or the URL.
        status: ``ok``; ``warning`` (answered, but not as a release would want, e.g. the
            site is down: the release may still go on); ``failed`` (the release would stop
            there, e.g. a host cannot be reached or its key is not known).
        detail: One line: the evidence, or what went wrong.
        changes: What the release would change that this probe found out, one line each
            (e.g. ``"production: v1.3.2 → v1.4.0"``); empty when nothing.
        seconds: How long the probe took.
    """

    kind: ProbeKind
    env: str
    target: str
    status: ProbeStatus
    detail: str
    changes: tuple[str, ...] = ()
    seconds: float = 0.0

    def line(self) -> str:
        """The probe as one printed line, e.g. ``ssh production web1: reachable (0.1 s)``;
        the target is left out when it only repeats the environment (a local host named
        after it: ``migrate production: ...``)."""
        where = f"{self.env} {self.target}" if self.target != self.env else self.env
        return f"{self.kind} {where}: {self.detail} ({self.seconds:.1f} s)"


def verdict(results: Sequence[ProbeResult]) -> str:
    """How the probes went, in words: ``every probe answered``, or the counts, e.g.
    ``1 of 3 probes answered, 2 warned (they do not stop a release)``.

    Args:
        results: The probes' results (possibly only those so far).
    """
    ok = sum(r.status == "ok" for r in results)
    warned = sum(r.status == "warning" for r in results)
    failed = sum(r.status == "failed" for r in results)
    if ok == len(results):
        return "every probe answered"
    parts = [f"{ok} of {len(results)} probes answered"]
    if warned:
        parts.append(f"{warned} warned (they do not stop a release)")
    if failed:
        parts.append(f"{failed} failed (the release would stop there)")
    return ", ".join(parts)


@dataclass(frozen=True)
class ProbeTarget:
    """What to probe for a release: the new version and, for the migrations it adds,
    git and the release it replaces.

    Attributes:
        version: The new version, e.g. ``1.4.0``.
        tag: Its tag, e.g. ``v1.4.0``.
        previous_tag: The current release's tag, ``""`` for a first release.
        git: Reads the migrations the release adds (``added_paths``/``list_paths``);
            ``None``: not looked at.
        new_ref: The commit-ish holding the release's code (main's head before the tag).
    """

    version: str
    tag: str
    previous_tag: str = ""
    git: migrations._Git | None = None
    new_ref: str = "HEAD"


_Probe = tuple[ProbeKind, str, str, Callable[[], Awaitable[ProbeResult]]]


def _probe_list(config: Config, target: ProbeTarget, timeout: float) -> list[_Probe]:
    probes: list[_Probe] = []
    for env_name, env in config.environments.items():
        if env.transport == "ssh":
            for host_name in env.hosts:
                probes.append(("ssh", env_name, host_name, partial(_ssh, config, env_name, host_name, timeout)))
        probes.append(("health", env_name, env.health_url, partial(_health, config, env_name, target, timeout)))
    if "production" in config.environments:
        first = config.environments["production"].hosts[:1] or ["production"]
        probes.append(("migrate", "production", first[0], partial(_migrate_plan, config, target, timeout)))
    return probes


def probe_count(config: Config) -> int:
    """How many results :func:`run_probes` yields for ``config``."""
    ssh = sum(len(env.hosts) for env in config.environments.values() if env.transport == "ssh")
    return ssh + len(config.environments) + ("production" in config.environments)


async def run_probes(config: Config, target: ProbeTarget, *, timeout: float = 10.0) -> AsyncIterator[ProbeResult]:
    """Run every probe at once; yield each result as it comes.

    Args:
        config: The validated config.
        target: The release being planned.
        timeout: Seconds each probe may take (a connection, a request, a command); one
            that takes longer is reported failed, not waited for.

    Yields:
        One :class:`ProbeResult` per SSH host, per environment's health URL, and one for
        production's ``migrate --plan``, in the order they finish. Cancelling the
        iteration (closing the generator) cancels the probes still running.
    """
    tasks = [asyncio.ensure_future(_timed(probe, timeout)) for probe in _probe_list(config, target, timeout)]
    try:
        for next_done in asyncio.as_completed(tasks):
            yield await next_done
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


async def _timed(probe: _Probe, timeout: float) -> ProbeResult:
    # Each probe has its own timeouts; this one is the backstop (a hung DNS lookup, a
    # connection that never closes), with room for theirs to report first.
    kind, env, target, run = probe
    started = time.perf_counter()
    try:
        return await within(run(), timeout + 5)
    except TimeoutError:
        return ProbeResult(
            kind, env, target, "failed", f"no answer in {timeout + 5:g} s", (), time.perf_counter() - started
        )


async def _closing(host: Host) -> None:
    with contextlib.suppress(Exception):
        await host.close()


async def _ssh(config: Config, env: str, host_name: str, timeout: float) -> ProbeResult:
    started = time.perf_counter()
    cfg = config.environments[env]
    hosts = make_hosts(env, cfg, root=config.root)
    host = next(h for h in hosts if h.name == host_name) if any(h.name == host_name for h in hosts) else hosts[0]
    try:
        result, _ = await run_collect(host, "true", timeout=timeout)
    except IactError as exc:
        return ProbeResult("ssh", env, host_name, "failed", exc.what, (), time.perf_counter() - started)
    finally:
        for h in hosts:
            await _closing(h)
    seconds = time.perf_counter() - started
    if result.timed_out:
        return ProbeResult("ssh", env, host_name, "failed", f"`true` did not end in {timeout:g} s", (), seconds)
    if not result.ok:
        why = "; ".join(result.stderr_tail[-2:]) or f"exit status {result.exit_status}"
        return ProbeResult("ssh", env, host_name, "failed", f"`true` failed: {why}", (), seconds)
    return ProbeResult("ssh", env, host_name, "ok", "reachable, host key verified, `true` ran", (), seconds)


async def _health(config: Config, env: str, target: ProbeTarget, timeout: float) -> ProbeResult:
    started = time.perf_counter()
    url = config.environments[env].health_url
    try:
        got = await http_checks.check_health(url, expect_version=None, timeout=timeout)
    except IactError as exc:
        return ProbeResult("health", env, url, "warning", exc.what, (), time.perf_counter() - started)
    seconds = time.perf_counter() - started
    if not got.ok:
        return ProbeResult("health", env, url, "warning", got.detail, (), seconds)
    body = got.body if isinstance(got.body, dict) else {}
    running = str(body.get("version") or "")
    if not running:
        change = f"{env}: deploys {target.tag} (its health does not say what runs now)"
    elif running == target.version:
        change = ""
    else:
        change = f"{env}: {running} → {target.version}"
    detail = f"{got.status_code}, version {running or 'not reported'}"
    return ProbeResult("health", env, url, "ok", detail, (change,) if change else (), seconds)


async def _migrate_plan(config: Config, target: ProbeTarget, timeout: float) -> ProbeResult:
    started = time.perf_counter()
    env = "production"
    cfg = config.environments[env]
    host = make_hosts(env, cfg, root=config.root)[0]
    try:
        values = placeholder_values(config, env, target.version, target.tag)
        command = f"cd {values['app_dir']} || exit 12\nexec {values['python']} manage.py migrate --plan --no-color"
        result, out = await run_collect(host, command, timeout=timeout)
    except IactError as exc:
        return ProbeResult("migrate", env, host.name, "failed", exc.what, (), time.perf_counter() - started)
    finally:
        await _closing(host)
    if result.timed_out or not result.ok:
        why = "timed out" if result.timed_out else "; ".join(result.stderr_tail[-2:]) or f"exit {result.exit_status}"
        return ProbeResult(
            "migrate",
            env,
            host.name,
            "failed",
            f"`manage.py migrate --plan` failed: {why}",
            (),
            time.perf_counter() - started,
        )
    pending = parse_migrate_plan(out)
    added: list[str] = []
    if target.git is not None:
        try:
            found = await migrations.added_migrations(target.git, target.previous_tag, target.new_ref)
            added = [m for m in found.names if m not in pending]
        except IactError as exc:
            detail = f"pending now: {len(pending)}; the release's own could not be read: {exc.what}"
            return ProbeResult("migrate", env, host.name, "warning", detail, (), time.perf_counter() - started)
    changes: list[str] = []
    if pending:
        changes.append(f"{env}: migrations pending on the running code would be applied: {', '.join(pending)}")
    if added:
        changes.append(f"{env}: the release's migrations would be applied: {', '.join(added)}")
    detail = f"{len(pending)} pending on the running code" + (
        f", {len(added)} added by the release" if target.git else ""
    )
    return ProbeResult("migrate", env, host.name, "ok", detail, tuple(changes), time.perf_counter() - started)


def parse_migrate_plan(lines: Sequence[str]) -> list[str]:
    """The migrations ``manage.py migrate --plan`` would apply, e.g. ``["core.0004_note"]``.

    Args:
        lines: Its standard output (``Planned operations:``, then each migration on an
            unindented line with its operations indented below, or ``No planned
            migration operations.``).

    Returns:
        ``app.migration`` names in the order Django would apply them.
    """
    return [line.strip() for line in lines if _PLANNED.match(line.rstrip()) and not line.startswith(" ")]


@dataclass(frozen=True)
class RepositoryChecks:
    """The plan's read-only checks of a release whose version is chosen (both plan views:
    ``iact-tui plan release`` and ``p`` on Welcome)."""

    #: The checklist's git checks and its ``changelog`` check (something to release).
    checks: list[CheckResult]
    #: Setup problems (config, version files, environments, production prep gaps) that no
    #: check above already reported.
    problems: list[IactError]

    @property
    def failures(self) -> list[IactError]:
        """Every problem that would stop the release: the failed checks, then the rest."""
        return [r.error for r in self.checks if r.error is not None] + self.problems


async def repository_checks(run: ReleaseRun) -> RepositoryChecks:
    """Run :meth:`ReleaseRun.check_setup` and :meth:`ReleaseRun.check_repository` (clean
    tree, branch, remote, shallow clone, tags, level with the remote after a fetch, tag and
    branch free) and the checklist's ``changelog`` check; the tests and coverage are not
    run. Read-only but for the fetch's remote-tracking refs. Call after choosing the version.

    Returns:
        The checks in the checklist's order and the setup problems not already reported.
    """
    from iact_tui.engine.steps import preflight

    setup = [*await run.check_setup(), *run.prep_gaps("production")]
    checks = [*await run.check_repository(), await preflight.changelog_result(run.ctx)]
    seen = {r.error.what for r in checks if r.error is not None}
    return RepositoryChecks(checks, [error for error in setup if error.what not in seen])


def target_of(run: ReleaseRun) -> ProbeTarget:
    """The :class:`ProbeTarget` of a release run whose version is chosen."""
    return ProbeTarget(
        version=run.state.version,
        tag=run.ctx.tag,
        previous_tag=run.state.previous_tag,
        git=run.ctx.git,
        new_ref=f"refs/remotes/{run.config.project.remote}/{run.config.project.main_branch}",
    )


def planned_changes(run: ReleaseRun, results: Sequence[ProbeResult]) -> list[str]:
    """Only what the release would change, one line each: the git refs it makes and
    pushes, then what the probes found each environment would go through.

    Args:
        run: The release run, version chosen.
        results: The probes' results.
    """
    p = run.config.project
    lines = [
        f"git: branch {run.ctx.release_branch} with the version bump and the changelog, "
        f"merged into {p.main_branch} and pushed to {p.remote}; tag {run.ctx.tag} pushed",
    ]
    envs = list(run.config.environments)
    kinds: list[ProbeKind] = ["health", "migrate", "ssh"]
    ordered = sorted(results, key=lambda r: (envs.index(r.env) if r.env in envs else len(envs), kinds.index(r.kind)))
    probed = {r.env for r in results if r.kind == "health" and r.changes}
    for r in ordered:
        lines.extend(r.changes)
    for env in run.config.environments:
        if env not in probed and not any(r.kind == "health" and r.env == env and r.status == "ok" for r in results):
            lines.append(f"{env}: deploys {run.ctx.tag} (what runs there now is not known)")
    return lines
