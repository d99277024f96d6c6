"""HTTP smoke tests after a deploy, and post-deploy verification of production.

Smoke (check ids, in order): ``health`` (GET, 200, version), ``login`` (POST, credentials
from the environment or a secret command), ``http:<name>`` (configured HTTP checks with a
settling window), ``cmd:<name>`` (commands on the environment's first host). With
``[forge] kind = "github"`` (and ``smoke_comment``), the results are then posted as a
comment on the release pull request the merge step merged (:func:`smoke_comment_body`);
a comment that cannot be posted is an output line, never a failed smoke step.

Verification (check ids, in order): ``health``; the smoke checks again, run by the same
code (:func:`smoke_checks`) with ids ``smoke:login``, ``smoke:http:<name>``,
``smoke:cmd:<name>``; ``response-time`` and ``error-rate`` (``[verify] requests`` timed
requests to the health URL, :mod:`~iact_tui.services.timing`, judged against
``max_p95_ms``, ``max_response_ms`` and ``max_error_rate``; live ``running`` updates carry
the partial figures for the sparkline); ``logs:<host>`` per host when the environment has
``[logs] paths`` (the lines written since the marks the deploy took,
:mod:`~iact_tui.services.log_scan`; lines matching ``[logs] maintenance_ignore`` inside
the deploy's maintenance window, between the marks before its ``pre`` and after its
``post`` commands, are reported as a figure, not counted). Every check runs even after
one fails; the step's result data holds every figure (see :meth:`VerifyStep.run`).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

from iact_tui import __version__
from iact_tui.config import (
    DEFAULT_LOG_PATTERNS,
    DEFAULT_MAINTENANCE_IGNORE,
    EnvironmentConfig,
    HttpCheckSpec,
    LogScanConfig,
    VerifyConfig,
)
from iact_tui.engine.commands import placeholder_values, render
from iact_tui.engine.events import CheckUpdate, Event, OutputLine, StepFinished
from iact_tui.engine.state import RunContext
from iact_tui.engine.step import Action
from iact_tui.engine.steps.deploy import error_summary
from iact_tui.errors import IactError
from iact_tui.services import http_checks, log_scan, smoke, timing
from iact_tui.services.remote import CommandResult, Host, LocalHost, make_hosts
from iact_tui.services.secrets import Secret, read_secret

#: Seconds between two live ``response-time`` updates while the requests run (at most
#: ten a second, whatever the request rate).
LIVE_INTERVAL = 0.1
#: Characters of a failed check's detail quoted in the step's message.
_WHY_CHARS = 160


def _expect(ctx: RunContext, env: EnvironmentConfig) -> str | None:
    return ctx.state.version if env.check_version else None


def _short(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= _WHY_CHARS else text[: _WHY_CHARS - 1] + "…"


@dataclass
class Tally:
    """What a run of checks found, filled while their events are yielded.

    Attributes:
        failed: Failed check ids, in order.
        why: Check id → its failure in a few words with its figure, for the step's message.
        figures: Check id → its figures (JSON-ready).
        secrets: Secrets the checks used (the login password, ``$env:`` values), to mask
            them in anything shown later (the log lines).
    """

    failed: list[str] = field(default_factory=list)
    why: dict[str, str] = field(default_factory=dict)
    figures: dict[str, dict[str, Any]] = field(default_factory=dict)
    secrets: list[Secret] = field(default_factory=list)

    def fail(self, check_id: str, why: str) -> None:
        """Count ``check_id`` as failed, with ``why`` (a few words and the figure)."""
        self.failed.append(check_id)
        self.why[check_id] = _short(why)

    def redact(self, text: str) -> str:
        """``text`` with every secret the checks used masked."""
        for secret in self.secrets:
            text = secret.redact(text)
        return text


async def health_check(
    step_id: str, env: EnvironmentConfig, expect_version: str | None, timeout: float, tally: Tally
) -> AsyncIterator[Event]:
    """``GET health_url``: 200, JSON, ``version`` as expected; check id ``health``.

    Figures (``tally.figures["health"]``): ``status`` (``None`` without an answer),
    ``elapsed_ms``, ``version`` (what the app reported, or ``None``).
    """
    label = f"GET {env.health_url}"
    yield CheckUpdate(step_id, "health", label, "running")
    health = await http_checks.check_health(env.health_url, expect_version=expect_version, timeout=timeout)
    body = health.body if isinstance(health.body, dict) else {}
    version = body.get("version")
    data: dict[str, Any] = {
        "status": health.status_code,
        "elapsed_ms": round(health.elapsed_ms, 1),
        "version": version if isinstance(version, str) else None,
    }
    tally.figures["health"] = data
    if not health.ok:
        tally.fail("health", health.detail)
    yield CheckUpdate(step_id, "health", label, "passed" if health.ok else "failed", health.detail, data)


async def smoke_checks(
    ctx: RunContext, step_id: str, env_name: str, tally: Tally, *, prefix: str = ""
) -> AsyncIterator[Event]:
    """The smoke checks after the health check: login, configured HTTP checks, commands.

    The smoke step runs them with ``prefix=""`` (ids ``login``, ``http:<name>``,
    ``cmd:<name>``), the verification with ``prefix="smoke:"``. Every check runs even
    after one fails; results go to ``tally``.

    Args:
        ctx: The run.
        step_id: The step reporting them.
        env_name: The environment checked.
        tally: Filled with failures, figures and the secrets used.
    """
    env = ctx.config.environments[env_name]
    timeout = ctx.config.timeouts.http

    if env.smoke.login:
        login = env.smoke.login
        check_id = f"{prefix}login"
        label = f"POST {login.url} as {login.username}"
        yield CheckUpdate(step_id, check_id, label, "running")
        data: dict[str, Any] = {}
        try:
            secret = await read_secret(
                env=login.password_env, command=login.password_command, cwd=ctx.config.root, what="smoke-test password"
            )
            tally.secrets.append(secret)
            result = await http_checks.check_login(
                login.url, login.username, secret.reveal(), expect_status=login.expect_status, timeout=timeout
            )
            ok, detail = result.ok, secret.redact(result.detail)
            data = {"status": result.status_code, "elapsed_ms": round(result.elapsed_ms, 1)}
        except IactError as exc:
            ok, detail = False, f"{exc.what}; {exc.fix}" if exc.fix else exc.what
            data = {"error": exc.what}
        tally.figures[check_id] = data
        if not ok:
            tally.fail(check_id, detail)
        yield CheckUpdate(step_id, check_id, label, "passed" if ok else "failed", detail, data)

    for spec in env.smoke.checks:
        check_id = f"{prefix}http:{spec.name}"
        label = f"{spec.method} {spec.url}"
        yield CheckUpdate(step_id, check_id, label, "running")
        ok, detail, data = await _run_http_check(ctx, spec, env.smoke.settle_seconds, tally)
        tally.figures[check_id] = data
        if not ok:
            tally.fail(check_id, detail)
        yield CheckUpdate(step_id, check_id, label, "passed" if ok else "failed", detail, data)

    if not env.smoke.commands:
        return
    # Smoke commands run once: on the environment's first host, or here in the repository.
    local = env.smoke.commands_on == "local"
    host: Host = LocalHost("local") if local else make_hosts(env_name, env, root=ctx.config.root)[0]
    command_env = (
        {
            "IACT_ENV": env_name,
            "IACT_VERSION": ctx.state.version,
            "IACT_TAG": ctx.tag,
            "IACT_HEALTH_URL": env.health_url,
        }
        if local
        else None
    )
    values = placeholder_values(ctx.config, env_name, ctx.state.version or "0.0.0", ctx.tag)
    try:
        for cmd_spec in env.smoke.commands:
            cmd = render(ctx.config, env_name, cmd_spec.run, cmd_spec.name, cmd_spec.cwd, cmd_spec.timeout, values)
            cwd = _local_cwd(ctx, cmd_spec.cwd) if local else cmd.cwd
            check_id = f"{prefix}cmd:{cmd_spec.name}"
            yield CheckUpdate(step_id, check_id, cmd_spec.name, "running")
            res: CommandResult | None = None
            try:
                async for item in host.stream(cmd.run, cwd=cwd, timeout=cmd.timeout, env=command_env):
                    if isinstance(item, CommandResult):
                        res = item
                    else:
                        yield OutputLine(step_id, tally.redact(item.text), item.stream, host.name)
            except IactError as exc:
                detail = f"{exc.what}; {exc.fix}" if exc.fix else exc.what
                tally.figures[check_id] = {"error": exc.what}
                tally.fail(check_id, detail)
                yield CheckUpdate(step_id, check_id, cmd_spec.name, "failed", detail, {"error": exc.what})
                continue
            assert res is not None
            summary = tally.redact(summary_line(res))
            data = {
                "exit_status": res.exit_status,
                "seconds": round(res.duration, 3),
                "timed_out": res.timed_out,
                "summary": summary,
                "where": host.name,
            }
            tally.figures[check_id] = data
            if res.ok:
                detail = f"exited 0 in {res.duration:.1f} s" + (f": {summary}" if summary else "")
                yield CheckUpdate(step_id, check_id, cmd_spec.name, "passed", detail, data)
            else:
                why = f"timed out after {cmd.timeout:g} s" if res.timed_out else f"exited {res.exit_status}"
                tail = tally.redact(error_summary(res, 2))
                detail = f"{why}: {tail}" if tail else why
                tally.fail(check_id, detail)
                yield CheckUpdate(step_id, check_id, cmd_spec.name, "failed", detail, data)
    finally:
        await host.close()


def _local_cwd(ctx: RunContext, cwd: str) -> str:
    """A ``commands_on = "local"`` smoke command's folder: ``cwd`` relative to the config's."""
    return os.path.normpath(ctx.config.root / cwd)


def summary_line(result: CommandResult, width: int = 160) -> str:
    """The command's summary: its last non-blank stdout line (else stderr's), without the
    ``=`` rules pytest draws around it, e.g. ``5 passed in 0.31s``; at most ``width``
    characters; ``""`` when it printed nothing."""
    for tail in (result.stdout_tail, result.stderr_tail):
        for line in reversed(tail):
            text = line.strip().strip("=").strip()
            if text:
                return text if len(text) <= width else text[: width - 1] + "…"
    return ""


async def _run_http_check(
    ctx: RunContext, spec: HttpCheckSpec, settle_seconds: float, tally: Tally
) -> tuple[bool, str, dict[str, Any]]:
    """Run one configured HTTP check with the settling window; ``(ok, detail, figures)``, redacted."""
    version = ctx.state.version

    def fill(value: object) -> object:
        return version if value == "{version}" else value

    try:
        check = smoke.SmokeCheck(
            name=spec.name,
            url=spec.url.replace("{version}", version),
            method=spec.method.upper(),
            headers=dict(spec.headers),
            json_body=spec.json_body,
            expect_status=spec.expect_status,
            expect_json={path: fill(value) for path, value in spec.expect_json.items()},
            expect_text=spec.expect_text or None,
            timeout=spec.timeout,
        )
        # The $env: values it sends, to mask them in the log lines shown later too.
        for name in smoke.secret_refs(check):
            if os.environ.get(name):
                tally.secrets.append(Secret(os.environ[name], f"env {name}"))
        result = await smoke.run_check(check, settle_seconds=settle_seconds)
    except IactError as exc:
        return False, f"{exc.what}; {exc.fix}" if exc.fix else exc.what, {"error": exc.what}
    return result.ok, result.detail, result.figures()


def _smoke_plan(ctx: RunContext, env_name: str) -> list[Action]:
    """The login, HTTP checks and commands :func:`smoke_checks` would run."""
    env = ctx.config.environments[env_name]
    actions: list[Action] = []
    if env.smoke.login:
        login = env.smoke.login
        actions.append(Action("http", f"POST {login.url} as {login.username} → {login.expect_status}", env_name))
    settle = f", settling up to {env.smoke.settle_seconds:g} s" if env.smoke.settle_seconds else ""
    actions += [
        Action("http", f"{check.name}: {check.method} {check.url} → {check.expect_status}{settle}", env_name)
        for check in env.smoke.checks
    ]
    if env.smoke.commands:
        values = placeholder_values(ctx.config, env_name, ctx.state.version or "0.0.0", ctx.tag)
        for spec in env.smoke.commands:
            cmd = render(ctx.config, env_name, spec.run, spec.name, spec.cwd, spec.timeout, values)
            where = (
                f"on this machine in {_local_cwd(ctx, spec.cwd)}"
                if env.smoke.commands_on == "local"
                else f"in {cmd.cwd}"
            )
            actions.append(Action("command", f"{cmd.name}: {cmd.run}  ({where})", env_name))
    return actions


class SmokeStep:
    """Smoke tests against one environment.

    Args:
        env: The environment's name.
    """

    def __init__(self, env: str) -> None:
        self.env = env
        self.id = f"smoke-{env}"
        self.title = f"Smoke tests on {env}"

    def plan(self, ctx: RunContext) -> list[Action]:
        """The requests and commands."""
        if self.env not in ctx.config.environments:
            return [Action("notice", f"no [environments.{self.env}]: skipped", self.env)]
        env = ctx.config.environments[self.env]
        health = Action("http", f"GET {env.health_url} → 200, version {ctx.state.version}", self.env)
        actions = [health, *_smoke_plan(ctx, self.env)]
        f = ctx.config.forge
        if f.kind == "github" and f.smoke_comment:
            actions.append(
                Action("http", f"comment the results (passed or failed) on the release pull request on {f.repository}")
            )
        return actions

    async def run(self, ctx: RunContext) -> AsyncIterator[Event]:
        """Run each smoke test; the step fails if any does, after all have run.

        ``StepFinished.data``: ``{"figures": {check id: figures}}``; with the GitHub forge
        also ``pr_comment``: ``{"number", "url", "id"}`` of the comment posted on the
        release pull request, or ``{"number", "error"}`` when it could not be (the
        step's status and message do not change).
        """
        if self.env not in ctx.config.environments:
            yield StepFinished(self.id, "skipped", f"no {self.env} environment configured")
            return
        env = ctx.config.environments[self.env]
        tally = Tally()
        finals: dict[str, CheckUpdate] = {}
        checks = _chain(
            health_check(self.id, env, _expect(ctx, env), ctx.config.timeouts.http, tally),
            smoke_checks(ctx, self.id, self.env, tally),
        )
        async for event in checks:
            if isinstance(event, CheckUpdate) and event.status not in ("running", "pending"):
                finals[event.check_id] = event
            yield event
        data: dict[str, Any] = {"figures": tally.figures}
        f = ctx.config.forge
        if f.kind == "github" and f.smoke_comment:
            comment: dict[str, Any] = {}
            async for event in _comment_on_pr(ctx, self.id, self.env, list(finals.values()), tally, comment):
                yield event
            data["pr_comment"] = comment
        if tally.failed:
            yield StepFinished(
                self.id,
                "failed",
                f"smoke tests failed on {self.env}: {', '.join(tally.failed)}",
                f"look at {self.env} (is it serving {ctx.tag}?), fix, and retry the smoke tests",
                data,
            )
        else:
            yield StepFinished(self.id, "ok", f"every smoke test passed on {self.env}", data=data)


async def _chain(*streams: AsyncIterator[Event]) -> AsyncIterator[Event]:
    """The events of ``streams``, one stream after the other."""
    for stream in streams:
        async for event in stream:
            yield event


def _figure_text(data: dict[str, Any]) -> str:
    """A check's figures in words: ``HTTP 200, 12.5 ms, version 1.4.0``; ``exit 0, 1.2 s``."""
    parts: list[str] = []
    if "status" in data:
        parts.append(f"HTTP {data['status']}" if data["status"] is not None else "no answer")
    if data.get("elapsed_ms") is not None:
        parts.append(f"{data['elapsed_ms']:g} ms")
    if data.get("version"):
        parts.append(f"version {data['version']}")
    if int(data.get("attempts") or 1) > 1:
        parts.append(f"{data['attempts']} attempts over {data.get('waited_s', 0):g} s")
    if "exit_status" in data:
        parts.append(f"exit {data['exit_status']}" if data["exit_status"] is not None else "no exit status")
    if data.get("seconds") is not None:
        parts.append(f"{data['seconds']:g} s")
    if data.get("timed_out"):
        parts.append("timed out")
    if data.get("error"):
        parts.append(str(data["error"]))
    return ", ".join(parts)


def _cell(text: str) -> str:
    """``text`` fit for one cell of a Markdown table: one line, pipes escaped, bounded."""
    text = " ".join(text.split())
    if len(text) > 300:
        text = text[:299] + "…"
    return text.replace("\\", "\\\\").replace("|", "\\|")


def smoke_comment_body(
    ctx: RunContext, env_name: str, checks: list[CheckUpdate], figures: dict[str, dict[str, Any]], *, now: dt.datetime
) -> str:
    """The release pull request's comment with one smoke run's results (Markdown; not yet
    masked: the caller passes it through the secrets' ``redact``).

    A heading with the verdict, the tag and the time, then a table: each check's id and
    label, ``passed``/``failed``, and its figures (a failed check's reason after them).
    """
    failed = [c for c in checks if c.status == "failed"]
    verdict = f"failed ({len(failed)} of {len(checks)} checks failed)" if failed else f"passed ({len(checks)} checks)"
    lines = [
        f"### Smoke tests on {env_name}: {verdict}",
        "",
        f"`{ctx.tag}` on {env_name}, checked by iact-tui {__version__} at {now:%Y-%m-%d %H:%M} UTC "
        f"(step `smoke-{env_name}`; a retry posts its own comment).",
        "",
        "| Check | Result | Figures |",
        "| --- | --- | --- |",
    ]
    for check in checks:
        figure = _figure_text(figures.get(check.check_id, {}))
        if check.status == "failed" and check.detail:
            figure = f"{figure} — {check.detail}" if figure else check.detail
        word = {"passed": "✅ passed", "failed": "❌ failed"}.get(check.status, check.status)
        lines.append(f"| `{_cell(check.check_id)}` {_cell(check.label)} | {word} | {_cell(figure) or '—'} |")
    return "\n".join(lines) + "\n"


async def _comment_on_pr(
    ctx: RunContext, step_id: str, env_name: str, checks: list[CheckUpdate], tally: Tally, out: dict[str, Any]
) -> AsyncIterator[Event]:
    """Post the smoke results on the release pull request the merge step recorded; ``out``
    receives ``number``, ``url`` and ``id``, or ``error``. Never raises an :class:`IactError`:
    a failure is an output line naming what went wrong and what to do."""
    from iact_tui.services.github import GitHubForge, github_token  # httpx only when used

    f = ctx.config.forge
    pr = ctx.state.results.get("merge", {}).get("pr") or {}
    number = pr.get("number")
    if not isinstance(number, int) or number <= 0:
        out.update(number=None, error="no release pull request in this run")
        yield OutputLine(
            step_id,
            "⚠ the smoke results were not posted on GitHub: this run's merge step recorded no release pull request "
            "(it did not merge one in this run); copy them to the release pull request by hand",
            "stderr",
        )
        return
    where = f"pull request #{number}" + (f" ({pr['url']})" if pr.get("url") else "")
    body = tally.redact(smoke_comment_body(ctx, env_name, checks, tally.figures, now=dt.datetime.now(dt.UTC)))
    try:
        token = await github_token(api_url=f.api_url)
        tally.secrets.append(token)
        # One retry only: an unwell GitHub must not hold the release up for long.
        async with GitHubForge(f.repository, token, api_url=f.api_url, timeout=f.timeout, retries=1) as forge:
            comment = await forge.comment(number, body)
    except IactError as exc:
        out.update(number=number, error=tally.redact(exc.what))
        fix = f"{exc.fix}; " if exc.fix else ""
        yield OutputLine(
            step_id,
            tally.redact(
                f"⚠ the smoke results were not posted on {where}: {exc.what}. {fix}the smoke tests' "
                "own result stands; copy the results to the pull request by hand"
            ),
            "stderr",
        )
        return
    out.update(number=number, url=comment.url, id=comment.id)
    yield OutputLine(step_id, f"smoke results posted on {where}: {comment.url or 'comment ' + str(comment.id)}")


def thresholds_of(verify: VerifyConfig) -> dict[str, float | None]:
    """``[verify]``'s limits as JSON: ``max_p95_ms``, ``max_response_ms`` (``None``: not
    judged) and ``max_error_rate`` (0.0–1.0)."""
    return {
        "max_p95_ms": verify.max_p95_ms,
        "max_response_ms": verify.max_response_ms,
        "max_error_rate": verify.max_error_rate,
    }


def _host_names(env_name: str, env: EnvironmentConfig) -> list[str]:
    return list(env.hosts) if env.transport == "ssh" else [env_name]


class VerifyStep:
    """Post-deploy verification of production: health, smoke again, response time and
    error rate, the logs since the deploy.

    Args:
        env: The environment verified (``production``).
    """

    def __init__(self, env: str = "production") -> None:
        self.env = env
        self.id = "verify"
        self.title = f"Verify {env}"

    def plan(self, ctx: RunContext) -> list[Action]:
        """Every request, the smoke checks, the timing with its thresholds, the log scan per host."""
        if self.env not in ctx.config.environments:
            return [Action("notice", f"no [environments.{self.env}]: skipped", self.env)]
        env, v = ctx.config.environments[self.env], ctx.config.verify
        actions = [Action("http", f"GET {env.health_url} → 200, version {ctx.state.version}", self.env)]
        actions += _smoke_plan(ctx, self.env)
        pace = f", {v.interval_seconds:g} s apart" if v.interval_seconds else ", one after another"
        slowest = f", slowest ≤ {v.max_response_ms:g} ms" if v.max_response_ms is not None else ""
        actions.append(
            Action(
                "http",
                f"GET {env.health_url} ×{v.requests}{pace}: p95 ≤ {v.max_p95_ms:g} ms{slowest}, "
                f"error rate ≤ {v.max_error_rate * 100:g}%",
                self.env,
            )
        )
        logs = env.logs
        if logs.paths:
            if tuple(logs.patterns) == DEFAULT_LOG_PATTERNS:
                patterns = "the default patterns (ERROR, CRITICAL, a traceback's first line, a 5xx in an access log)"
            else:
                patterns = ", ".join(repr(p) for p in logs.patterns)
            ignored = ""
            if logs.maintenance_ignore:
                ignored = (
                    f"; lines matching {', '.join(repr(p) for p in logs.maintenance_ignore)} written during the "
                    "maintenance window (from before the pre commands until the post commands succeeded) are not counted"
                )
            for name in _host_names(self.env, env):
                actions.append(
                    Action(
                        "logs",
                        f"scan {', '.join(logs.paths)} on {name} for lines written since the deploy began matching "
                        f"{patterns}: at most {logs.max_matches} allowed"
                        + ("; every path must match a readable file" if logs.require_files else "")
                        + ignored,
                        self.env,
                    )
                )
        return actions

    async def run(self, ctx: RunContext) -> AsyncIterator[Event]:
        """Run every check (one failing does not stop the others).

        ``StepFinished.data``, on a failure too: ``health`` (``status``, ``elapsed_ms``,
        ``version``), ``smoke`` (check id → figures), ``timing``
        (:meth:`~iact_tui.services.timing.TimingReport.figures`: ``p50_ms``, ``p95_ms``,
        ``max_ms``, ``error_rate``, ``errors``, ``requests``, ``samples_ms``,
        ``sparkline``, ``url``; or ``{"error": ...}``), ``thresholds``
        (:func:`thresholds_of`), ``logs`` (host → the scan's figures, or ``{"error": ...}``;
        the figures include ``ignored``, the lines inside the maintenance window matching
        ``maintenance_ignore``, ``windows``, the usable windows, and ``maintenance_note``,
        why a window could not be used, or ``""``) and ``failed`` (the failed check ids).
        """
        if self.env not in ctx.config.environments:
            yield StepFinished(self.id, "skipped", f"no {self.env} environment configured")
            return
        env, v = ctx.config.environments[self.env], ctx.config.verify
        tally = Tally()
        async for event in health_check(self.id, env, _expect(ctx, env), ctx.config.timeouts.http, tally):
            yield event
        async for event in smoke_checks(ctx, self.id, self.env, tally, prefix="smoke:"):
            yield event
        timing_data: dict[str, Any] = {}
        async for event in self._timing(ctx, env, v, tally, timing_data):
            yield event
        logs: dict[str, dict[str, Any]] = {}
        if env.logs.paths:
            async for event in self._logs(ctx, env, tally, logs):
                yield event

        data: dict[str, Any] = {
            "health": tally.figures["health"],
            "smoke": {k: f for k, f in tally.figures.items() if k.startswith("smoke:")},
            "timing": timing_data,
            "thresholds": thresholds_of(v),
            "logs": logs,
            "failed": list(tally.failed),
        }
        if not tally.failed:
            summary = [f"health {data['health']['status']}"]
            if data["smoke"]:
                summary.append(f"{len(data['smoke'])} smoke check(s) passed")
            summary.append(f"p95 {timing_data['p95_ms']:g} ms, error rate {timing_data['error_rate'] * 100:g}%")
            if logs:
                matched = sum(int(f.get("total_matches", 0)) for f in logs.values())
                ignored = sum(int(f.get("ignored", 0)) for f in logs.values())
                summary.append(
                    f"{matched} matching log line(s) on {len(logs)} host(s)"
                    + (f" ({ignored} in the maintenance window not counted)" if ignored else "")
                )
            yield StepFinished(self.id, "ok", f"{self.env} healthy on {ctx.tag}: {'; '.join(summary)}", data=data)
            return
        reasons = "; ".join(f"{check_id}: {tally.why[check_id]}" for check_id in tally.failed)
        rollback = ctx.state.previous_tag or "the previous release"
        health_why = tally.why.get("health", "") if "health" in tally.failed else ""
        first = (
            f"first make sure [environments.{self.env}] health_url ({env.health_url}) is right: nothing answered "
            "there; then "
            if "cannot connect" in health_why
            else ""
        )
        fix = (
            f"{first}look at {self.env} now (every figure and log line is above and in the journal); if it is "
            f"really unhealthy, roll back to {rollback} with `iact-tui rollback`; once fixed or explained, "
            "retry the verification"
        )
        if any(check_id.startswith("logs:") for check_id in tally.failed):
            fix += f"; if the log lines are expected, raise [environments.{self.env}.logs] max_matches"
        yield StepFinished(self.id, "failed", f"verification failed on {self.env}: {reasons}", fix, data)

    async def _timing(
        self, ctx: RunContext, env: EnvironmentConfig, v: VerifyConfig, tally: Tally, out: dict[str, Any]
    ) -> AsyncIterator[Event]:
        """``response-time`` and ``error-rate``: live partial figures, then the verdict; ``out``
        receives the report's figures (or ``{"error": ...}``)."""
        limits = thresholds_of(v)
        rt_label = f"Response time of {v.requests} requests"
        er_label = "Error rate"
        yield CheckUpdate(
            self.id, "response-time", rt_label, "running", f"0 of {v.requests} requests", {"thresholds": limits}
        )
        yield CheckUpdate(self.id, "error-rate", er_label, "running")
        samples: list[timing.Sample] = []

        def collect(_index: int, sample: timing.Sample) -> None:
            samples.append(sample)

        task = asyncio.ensure_future(
            timing.time_requests(
                env.health_url,
                v.requests,
                timeout=ctx.config.timeouts.http,
                interval=v.interval_seconds,
                on_sample=collect,
            )
        )
        try:
            shown = 0
            while not task.done():
                await asyncio.wait({task}, timeout=LIVE_INTERVAL)
                if not task.done() and len(samples) > shown:
                    shown = len(samples)
                    partial = timing.TimingReport(env.health_url, tuple(samples))
                    yield CheckUpdate(
                        self.id,
                        "response-time",
                        rt_label,
                        "running",
                        f"{shown} of {v.requests} requests",
                        partial.figures() | {"thresholds": limits},
                    )
            report = task.result()
        except IactError as exc:
            detail = f"cannot time the requests: {exc.what}"
            out["error"] = exc.what
            for check_id, label in (("response-time", rt_label), ("error-rate", er_label)):
                tally.fail(check_id, detail)
                yield CheckUpdate(self.id, check_id, label, "failed", detail, {"error": exc.what, "thresholds": limits})
            return
        finally:
            if not task.done():
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)
        figures = report.figures()
        out.update(figures)
        verdict = timing.judge(report, timing.Thresholds(v.max_p95_ms, v.max_error_rate, v.max_response_ms))
        rt_detail = verdict.response_time_detail
        if not verdict.response_time_ok:
            unmet = "; ".join(f for f in verdict.failures if f != verdict.error_rate_detail)
            if unmet != rt_detail:  # with no successful answer, the detail is the failure
                rt_detail = f"{unmet}: {rt_detail}"
            tally.fail("response-time", unmet)
        yield CheckUpdate(
            self.id,
            "response-time",
            rt_label,
            "passed" if verdict.response_time_ok else "failed",
            rt_detail,
            figures | {"thresholds": limits},
        )
        if not verdict.error_rate_ok:
            tally.fail("error-rate", verdict.error_rate_detail)
        yield CheckUpdate(
            self.id,
            "error-rate",
            er_label,
            "passed" if verdict.error_rate_ok else "failed",
            verdict.error_rate_detail,
            {
                "requests": report.count,
                "errors": report.errors,
                "error_rate": figures["error_rate"],
                "error_summary": report.error_summary(),
                "thresholds": limits,
            },
        )

    async def _logs(
        self, ctx: RunContext, env: EnvironmentConfig, tally: Tally, out: dict[str, dict[str, Any]]
    ) -> AsyncIterator[Event]:
        """``logs:<host>``: each host's lines since the deploy's marks; ``out`` receives each
        host's figures (or ``{"error": ...}``)."""
        cfg = env.logs
        saved = ctx.state.log_marks.get(self.env, {})
        hosts = make_hosts(self.env, env, root=ctx.config.root)
        labels = {h.name: f"Logs on {h.name} since the deploy" for h in hosts}
        for host in hosts:
            yield CheckUpdate(self.id, f"logs:{host.name}", labels[host.name], "running")
        windows = {h.name: _windows(saved.get(h.name)) for h in hosts}
        try:
            results = await _scan(hosts, saved, {n: w for n, (w, _) in windows.items()}, cfg, tally.redact)
        finally:
            for host in hosts:
                await host.close()
        for host in hosts:
            check_id, label = f"logs:{host.name}", labels[host.name]
            found = results[host.name]
            unmarked = _unmarked_note(saved.get(host.name))
            usable, unusable = windows[host.name]
            if isinstance(found, IactError):
                out[host.name] = {"error": found.what, "fix": found.fix}
                detail = f"{found.what}; {found.fix}" if found.fix else found.what
                tally.fail(check_id, found.what)
                yield OutputLine(self.id, f"log scan failed: {found.what}", "stderr", host.name)
                yield CheckUpdate(self.id, check_id, label, "failed", detail, out[host.name])
                continue
            figures = found.figures()
            window_text = _window_text(cfg, found, usable, unusable) if saved.get(host.name) is not None else ""
            figures["maintenance_note"] = unusable
            out[host.name] = figures
            for match in found.matches:
                # The line number counts from where the scan began (the mark): "+N".
                yield OutputLine(self.id, f"{match.path}:+{match.line_no}: {match.text}", "stderr", host.name)
            if found.total_matches > len(found.matches):
                more = found.total_matches - len(found.matches)
                yield OutputLine(self.id, f"… and {more} more matching line(s) not shown", "stderr", host.name)
            detail = found.detail + unmarked + window_text
            if found.matches:
                first = found.matches[0]
                detail += f"; first: {first.path}:+{first.line_no}: {_short(first.text)}"
            if not found.ok:
                if found.total_matches > found.max_matches:
                    why = f"{found.total_matches} matching line(s) (limit {found.max_matches})"
                else:
                    why = "; ".join(f"{f.status}: {f.path}" for f in found.files if f.status != "scanned")
                tally.fail(check_id, why)
            yield CheckUpdate(self.id, check_id, label, "passed" if found.ok else "failed", detail, figures)


async def _scan(
    hosts: list[Host],
    saved: dict[str, dict[str, Any]],
    windows: dict[str, list[log_scan.Window]],
    cfg: LogScanConfig,
    redact: Callable[[str], str],
) -> dict[str, log_scan.LogScanResult | IactError]:
    """Scan every host at once from its saved marks (see :meth:`VerifyStep._logs`)."""
    marks: dict[str, log_scan.LogMarks] = {}
    for name, raw in saved.items():
        try:
            marks[name] = log_scan.LogMarks.from_json(raw)
        except (KeyError, TypeError, ValueError):
            continue  # unreadable: scanned as a host without marks
    return await log_scan.scan_hosts(
        hosts,
        cfg.paths,
        marks,
        windows=windows,
        patterns=cfg.patterns,
        max_matches=cfg.max_matches,
        require_files=cfg.require_files,
        redact=redact,
        window_ignore=cfg.maintenance_ignore,
    )


def _windows(saved: dict[str, Any] | None) -> tuple[list[log_scan.Window], str]:
    """A host's maintenance windows the scan can use (both marks taken), and why the others
    cannot be (``""`` when every one can): see :mod:`~iact_tui.engine.steps.deploy`."""
    if saved is None:
        return [], ""
    raw = saved.get("maintenance") or []
    if not raw:
        return [], "no maintenance window was marked at the deploy"
    usable: list[log_scan.Window] = []
    why: list[str] = []
    for number, window in enumerate(raw, 1):
        name = "the maintenance window" if len(raw) == 1 else f"maintenance window {number}"
        start, end = window.get("start") or {}, window.get("end") or {}
        if window.get("state") != "closed":
            why.append(f"{name} has no end mark ({window.get('note') or 'its post commands did not all succeed'})")
        elif start.get("error"):
            why.append(f"the marks at the start of {name} failed ({start['error']})")
        else:
            try:
                usable.append(log_scan.Window(log_scan.LogMarks.from_json(start), log_scan.LogMarks.from_json(end)))
            except (KeyError, TypeError, ValueError):
                why.append(f"{name}'s marks are unreadable")
    return usable, "; ".join(why)


def _window_text(cfg: LogScanConfig, found: log_scan.LogScanResult, usable: list[log_scan.Window], why: str) -> str:
    """What the detail says of the maintenance window: lines not counted, or why none were."""
    if not cfg.maintenance_ignore:
        return ""
    if tuple(cfg.maintenance_ignore) == DEFAULT_MAINTENANCE_IGNORE:
        what, lines = "answered 503", "503 answers"
    else:
        what, lines = "matching maintenance_ignore", "lines matching maintenance_ignore"
    text = ""
    if found.ignored:
        during = "the maintenance window" if len(usable) == 1 else "the maintenance windows"
        text += f"; {found.ignored} line(s) {what} during {during}, not counted"
    if why:
        text += f"; nothing ignored: {why}, so its {lines} count" if not usable else f"; {why}: its {lines} count"
    for f in found.files:
        if f.window_note:
            text += f"; {f.path}: {f.window_note}"
    return text


def _unmarked_note(saved: dict[str, Any] | None) -> str:
    """Why a host's scan read whole files: no marks, or marks that failed at the deploy."""
    if saved is None:
        return " (no marks from a deploy in this run: the log files were read whole)"
    if saved.get("error"):
        when = time.strftime("%H:%M:%S", time.localtime(float(saved.get("taken_at", 0))))
        return f" (the marks failed at the deploy: files modified since {when} were read whole)"
    return ""
