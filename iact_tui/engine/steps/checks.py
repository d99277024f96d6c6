"""HTTP smoke tests after a deploy, and post-deploy verification of production.

Smoke (ids): ``health`` (GET, 200, version), ``login`` (POST, credentials from the
environment or a secret command), ``cmd:<name>`` (commands on the host).
Verification: ``health``, ``response-time`` (slowest of N requests against
``[verify] max_response_ms``), ``error-rate`` (against ``max_error_rate``).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from iact_tui.config import EnvironmentConfig, HttpCheckSpec
from iact_tui.engine.commands import placeholder_values, render
from iact_tui.engine.events import CheckUpdate, Event, OutputLine, StepFinished
from iact_tui.engine.state import RunContext
from iact_tui.engine.step import Action
from iact_tui.engine.steps.deploy import error_summary
from iact_tui.errors import IactError
from iact_tui.services import http_checks, smoke
from iact_tui.services.remote import CommandResult, make_hosts
from iact_tui.services.secrets import read_secret


def _expect(ctx: RunContext, env: EnvironmentConfig) -> str | None:
    return ctx.state.version if env.check_version else None


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
        actions = [Action("http", f"GET {env.health_url} → 200, version {ctx.state.version}", self.env)]
        if env.smoke.login:
            actions.append(
                Action(
                    "http",
                    f"POST {env.smoke.login.url} as {env.smoke.login.username} → {env.smoke.login.expect_status}",
                    self.env,
                )
            )
        settle = f", settling up to {env.smoke.settle_seconds:g} s" if env.smoke.settle_seconds else ""
        actions += [
            Action("http", f"{check.name}: {check.method} {check.url} → {check.expect_status}{settle}", self.env)
            for check in env.smoke.checks
        ]
        if env.smoke.commands:
            values = placeholder_values(ctx.config, self.env, ctx.state.version or "0.0.0", ctx.tag)
            for spec in env.smoke.commands:
                cmd = render(ctx.config, self.env, spec.run, spec.name, spec.cwd, spec.timeout, values)
                actions.append(Action("command", f"{cmd.name}: {cmd.run}  (in {cmd.cwd})", self.env))
        return actions

    async def run(self, ctx: RunContext) -> AsyncIterator[Event]:
        """Run each smoke test; the step fails if any does, after all have run."""
        if self.env not in ctx.config.environments:
            yield StepFinished(self.id, "skipped", f"no {self.env} environment configured")
            return
        env = ctx.config.environments[self.env]
        timeout = ctx.config.timeouts.http
        failed: list[str] = []
        figures: dict[str, dict[str, object]] = {}

        yield CheckUpdate(self.id, "health", f"GET {env.health_url}", "running")
        health = await http_checks.check_health(env.health_url, expect_version=_expect(ctx, env), timeout=timeout)
        figures["health"] = {"status": health.status_code, "elapsed_ms": round(health.elapsed_ms, 1)}
        if not health.ok:
            failed.append("health")
        yield CheckUpdate(
            self.id,
            "health",
            f"GET {env.health_url}",
            "passed" if health.ok else "failed",
            health.detail,
            figures["health"],
        )

        if env.smoke.login:
            login = env.smoke.login
            label = f"POST {login.url} as {login.username}"
            yield CheckUpdate(self.id, "login", label, "running")
            try:
                secret = await read_secret(
                    env=login.password_env,
                    command=login.password_command,
                    cwd=ctx.config.root,
                    what="smoke-test password",
                )
                result = await http_checks.check_login(
                    login.url, login.username, secret.reveal(), expect_status=login.expect_status, timeout=timeout
                )
                detail = secret.redact(result.detail)
                ok = result.ok
                figures["login"] = {"status": result.status_code, "elapsed_ms": round(result.elapsed_ms, 1)}
            except IactError as exc:
                ok, detail = False, str(exc)
            if not ok:
                failed.append("login")
            yield CheckUpdate(self.id, "login", label, "passed" if ok else "failed", detail)

        for http_spec in env.smoke.checks:
            check_id = f"http:{http_spec.name}"
            label = f"{http_spec.method} {http_spec.url}"
            yield CheckUpdate(self.id, check_id, label, "running")
            ok, detail, data = await _run_http_check(ctx, http_spec, env.smoke.settle_seconds)
            figures[check_id] = data
            if not ok:
                failed.append(check_id)
            yield CheckUpdate(self.id, check_id, label, "passed" if ok else "failed", detail, data)

        if env.smoke.commands:
            # Smoke commands run once, on the environment's first host.
            host = make_hosts(self.env, env, root=ctx.config.root)[0]
            values = placeholder_values(ctx.config, self.env, ctx.state.version or "0.0.0", ctx.tag)
            try:
                for spec in env.smoke.commands:
                    cmd = render(ctx.config, self.env, spec.run, spec.name, spec.cwd, spec.timeout, values)
                    check_id = f"cmd:{spec.name}"
                    yield CheckUpdate(self.id, check_id, spec.name, "running")
                    res: CommandResult | None = None
                    try:
                        async for item in host.stream(cmd.run, cwd=cmd.cwd, timeout=cmd.timeout):
                            if isinstance(item, CommandResult):
                                res = item
                            else:
                                yield OutputLine(self.id, item.text, item.stream, host.name)
                    except IactError as exc:
                        failed.append(check_id)
                        yield CheckUpdate(self.id, check_id, spec.name, "failed", f"{exc.what}; {exc.fix}")
                        continue
                    assert res is not None
                    if res.ok:
                        yield CheckUpdate(self.id, check_id, spec.name, "passed", f"exited 0 in {res.duration:.1f} s")
                    else:
                        failed.append(check_id)
                        why = "timed out" if res.timed_out else f"exited {res.exit_status}"
                        tail = error_summary(res, 2)
                        yield CheckUpdate(self.id, check_id, spec.name, "failed", f"{why}: {tail}")
            finally:
                await host.close()

        if failed:
            yield StepFinished(
                self.id,
                "failed",
                f"smoke tests failed on {self.env}: {', '.join(failed)}",
                f"look at {self.env} (is it serving {ctx.tag}?), fix, and retry the smoke tests",
                {"figures": figures},
            )
        else:
            yield StepFinished(self.id, "ok", f"every smoke test passed on {self.env}", data={"figures": figures})


async def _run_http_check(
    ctx: RunContext, spec: HttpCheckSpec, settle_seconds: float
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
        result = await smoke.run_check(check, settle_seconds=settle_seconds)
    except IactError as exc:
        return False, f"{exc.what}; {exc.fix}" if exc.fix else exc.what, {}
    return result.ok, result.detail, result.figures()


class VerifyStep:
    """Post-deploy verification of production: health, response time, error rate.

    Args:
        env: The environment verified (``production``).
    """

    def __init__(self, env: str = "production") -> None:
        self.env = env
        self.id = "verify"
        self.title = f"Verify {env}"

    def plan(self, ctx: RunContext) -> list[Action]:
        """The requests."""
        if self.env not in ctx.config.environments:
            return [Action("notice", f"no [environments.{self.env}]: skipped", self.env)]
        env, v = ctx.config.environments[self.env], ctx.config.verify
        return [
            Action("http", f"GET {env.health_url} → 200, version {ctx.state.version}", self.env),
            Action(
                "http",
                f"GET {env.health_url} x{v.requests}: slowest <= {v.max_response_ms:g} ms, errors <= {v.max_error_rate:.0%}",
                self.env,
            ),
        ]

    async def run(self, ctx: RunContext) -> AsyncIterator[Event]:
        """Check health, then time ``[verify] requests`` requests."""
        if self.env not in ctx.config.environments:
            yield StepFinished(self.id, "skipped", f"no {self.env} environment configured")
            return
        env, v = ctx.config.environments[self.env], ctx.config.verify
        timeout = ctx.config.timeouts.http
        failed: list[str] = []
        yield CheckUpdate(self.id, "health", "Health and version", "running")
        health = await http_checks.check_health(env.health_url, expect_version=_expect(ctx, env), timeout=timeout)
        if not health.ok:
            failed.append("health")
        yield CheckUpdate(
            self.id,
            "health",
            "Health and version",
            "passed" if health.ok else "failed",
            health.detail,
            {"status": health.status_code},
        )

        yield CheckUpdate(self.id, "response-time", "Response time", "running")
        yield CheckUpdate(self.id, "error-rate", "Error rate", "running")
        timing = await http_checks.time_requests(env.health_url, v.requests, timeout=timeout)
        data = {
            "requests": timing.count,
            "samples_ms": timing.samples_ms,
            "median_ms": round(timing.median_ms, 1),
            "max_ms": round(timing.max_ms, 1),
            "errors": timing.errors,
            "error_rate": round(timing.error_rate, 4),
        }
        rt_ok = bool(timing.samples_ms) and timing.max_ms <= v.max_response_ms
        if not rt_ok:
            failed.append("response-time")
        if timing.samples_ms:
            rt_detail = (
                f"median {timing.median_ms:.0f} ms, slowest {timing.max_ms:.0f} ms over {len(timing.samples_ms)} "
                f"request(s) (limit {v.max_response_ms:g} ms)"
            )
        else:
            rt_detail = f"no successful response in {timing.count} request(s)"
        yield CheckUpdate(self.id, "response-time", "Response time", "passed" if rt_ok else "failed", rt_detail, data)
        er_ok = timing.error_rate <= v.max_error_rate
        if not er_ok:
            failed.append("error-rate")
        yield CheckUpdate(
            self.id,
            "error-rate",
            "Error rate",
            "passed" if er_ok else "failed",
            f"{timing.errors} of {timing.count} failed ({timing.error_rate:.0%}; limit {v.max_error_rate:.0%})",
            data,
        )
        if failed:
            yield StepFinished(
                self.id,
                "failed",
                f"verification failed on {self.env}: {', '.join(failed)}",
                f"investigate now; if production is unhealthy, roll back by hand to {ctx.state.previous_tag or 'the previous release'} (a guided rollback comes in a later version); or retry the verification",
                {"timing": data},
            )
        else:
            yield StepFinished(
                self.id, "ok", f"{self.env} healthy on {ctx.tag}", data={"timing": data, "health": health.detail}
            )
