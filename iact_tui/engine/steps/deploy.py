"""Deploy the release tag to an environment: ``pre``, ``steps``, ``post`` commands.

Output streams line by line (stdout and stderr apart, with the host's name); the first
failure stops the deploy, and the ``post`` commands (maintenance mode off) still run so
the site is not left in maintenance. Before anything changes, the commit the host runs
is recorded (rollback needs it).
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator

from iact_tui.engine.commands import RenderedCommand, placeholder_values, render
from iact_tui.engine.events import Event, OutputLine, Progress, StepFinished
from iact_tui.engine.state import RunContext
from iact_tui.engine.step import Action
from iact_tui.errors import CommandError, VersionError
from iact_tui.services.remote import CommandResult, make_host, run_capture

_POST_NOTICE = "running the post commands so the site is not left in maintenance mode"
_ERROR_WORDS = re.compile(r"error|fatal|denied|refused|cannot|can't|failed|not found|no such|traceback", re.IGNORECASE)


def _why(cmd: RenderedCommand, result: CommandResult) -> str:
    return f"timed out after {cmd.timeout:g} s" if result.timed_out else f"exited {result.exit_status}"


def error_summary(result: CommandResult, lines: int = 3) -> str:
    """The most telling output lines of a failed command, joined with `` | ``.

    Lines that name an error (``error``, ``fatal``, ``denied``...) win over the last lines,
    so ``cannot lock ref`` is not hidden behind progress output.
    """
    tail = [*result.stderr_tail, *result.stdout_tail]
    telling = [line.strip() for line in tail if _ERROR_WORDS.search(line)]
    chosen = (
        telling[-lines:] if telling else [line.strip() for line in (result.stderr_tail or result.stdout_tail)[-lines:]]
    )
    return " | ".join(line for line in chosen if line)


class DeployStep:
    """Deploy to one environment.

    Args:
        env: The environment's name (``staging``, ``production``).
    """

    def __init__(self, env: str) -> None:
        self.env = env
        self.id = f"deploy-{env}"
        self.title = f"Deploy to {env}"

    def _commands(self, ctx: RunContext) -> list[tuple[str, RenderedCommand]]:
        cfg = ctx.config
        env = cfg.environments[self.env]
        version = ctx.state.version or "0.0.0"
        values = placeholder_values(cfg, self.env, version, f"{cfg.project.tag_prefix}{version}")
        out: list[tuple[str, RenderedCommand]] = []
        for phase, specs in (("pre", env.pre), ("steps", env.steps), ("post", env.post)):
            for spec in specs:
                out.append((phase, render(cfg, self.env, spec.run, spec.name, spec.cwd, spec.timeout, values)))
        return out

    def plan(self, ctx: RunContext) -> list[Action]:
        """Each command with its working directory, or a notice that the env is absent."""
        if self.env not in ctx.config.environments:
            return [Action("notice", f"no [environments.{self.env}] in the config: skipped", self.env)]
        return [
            Action("command", f"{c.name}: {c.run}  (in {c.cwd}, timeout {c.timeout:g} s)", self.env)
            for _, c in self._commands(ctx)
        ]

    async def run(self, ctx: RunContext) -> AsyncIterator[Event]:
        """Run the commands; fail at the first non-zero exit or timeout."""
        if self.env not in ctx.config.environments:
            yield OutputLine(self.id, f"no [environments.{self.env}] in {ctx.config.path.name}: deploy skipped")
            yield StepFinished(self.id, "skipped", f"no {self.env} environment configured")
            return
        if not ctx.state.version:
            raise VersionError("no version chosen yet", "choose MAJOR, MINOR or PATCH first")
        env = ctx.config.environments[self.env]
        commands = self._commands(ctx)
        host = make_host(self.env, env.transport)
        app_dir = str(ctx.config.env_app_dir(self.env))
        try:
            before = await run_capture(
                host,
                "git rev-parse HEAD && (git describe --tags --exact-match 2>/dev/null || true)",
                cwd=app_dir,
                timeout=30,
            )
            previous = list(before.stdout_tail)
            yield OutputLine(
                self.id, f"{self.env} runs {' '.join(previous) or 'an unknown commit'} before the deploy", host=self.env
            )
            total = len(commands)
            failure: tuple[RenderedCommand, CommandResult] | None = None
            cancelled_in: RenderedCommand | None = None
            has_post = any(p == "post" for p, _ in commands)
            done = 0
            for phase, cmd in commands:
                if (failure is not None or cancelled_in is not None) and phase != "post":
                    continue
                yield Progress(self.id, done, total, cmd.name)
                yield OutputLine(self.id, f"$ {cmd.run}", "info", self.env)
                result: CommandResult | None = None
                try:
                    async for item in host.stream(cmd.run, cwd=cmd.cwd, timeout=cmd.timeout):
                        if isinstance(item, CommandResult):
                            result = item
                        else:
                            yield OutputLine(self.id, item.text, item.stream, self.env)
                except asyncio.CancelledError:
                    # The operator cancelled (q, Ctrl+C): the command was stopped. Run the
                    # post commands first so the site is not left in maintenance mode; a
                    # second cancel while they run stops at once.
                    if phase == "post" or cancelled_in is not None:
                        # A second cancel: stop at once, and say loudly what is left undone.
                        yield OutputLine(
                            self.id,
                            f"⚠ '{cmd.name}' was stopped too: {self.env} may still be in maintenance mode; "
                            f"run it by hand in {cmd.cwd}: {cmd.run}",
                            "stderr",
                            self.env,
                        )
                        raise
                    cancelled_in = cmd
                    yield OutputLine(self.id, f"■ {cmd.name} stopped: cancelled by the operator", "info", self.env)
                    if has_post:
                        yield OutputLine(
                            self.id,
                            _POST_NOTICE + " (cancel again to stop at once; that skips them)",
                            "info",
                            self.env,
                        )
                    continue
                assert result is not None
                done += 1
                if result.ok:
                    yield OutputLine(self.id, f"✔ {cmd.name} ({result.duration:.1f} s)", "info", self.env)
                elif failure is None and cancelled_in is None:
                    failure = (cmd, result)
                    yield OutputLine(self.id, f"✘ {cmd.name} {_why(cmd, result)}", "info", self.env)
                    if has_post:
                        yield OutputLine(self.id, _POST_NOTICE, "info", self.env)
                else:
                    yield OutputLine(
                        self.id, f"✘ {cmd.name} {_why(cmd, result)} (after an earlier stop)", "info", self.env
                    )
            if cancelled_in is not None:
                raise asyncio.CancelledError
            if failure is None:
                yield Progress(self.id, total, total, "done")
        finally:
            await host.close()
        if failure is not None:
            cmd, result = failure
            tail = error_summary(result)
            raise CommandError(
                f"{self.env}: '{cmd.name}' {_why(cmd, result)}" + (f": {tail}" if tail else ""),
                f"fix the cause on {self.env} (full output above and in the journal), then retry the deploy",
            )
        yield StepFinished(
            self.id,
            "ok",
            f"{ctx.tag} deployed to {self.env}",
            data={"env": self.env, "tag": ctx.tag, "previous": previous},
        )
