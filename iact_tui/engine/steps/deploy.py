"""Deploy the release tag to an environment's hosts: lock, record, ``pre``, ``steps``, ``post``, unlock.

On each host, in order:

1. take the deploy lock (:mod:`~iact_tui.services.deploy_lock`); another deploy's lock
   stops this host with its owner and age;
2. record what the host runs before anything changes (commit, tag, each Django app's
   applied migrations, :mod:`~iact_tui.services.deploy_state`), written to the journal
   at once: the rollback reads it;
3. when the environment has ``[logs] paths``, mark each log file's size
   (:func:`~iact_tui.services.log_scan.record_offsets`), journaled at once and kept in
   ``RunState.log_marks``: the verification scans only what was written after. A host
   whose marks fail is deployed anyway (the scan then reads the files modified since the
   deploy began); a retried deploy keeps the first attempt's marks;
4. the ``pre`` commands (maintenance mode on), the ``steps`` (the deploy), the ``post``
   commands (maintenance mode off). The first failure stops the host; the ``post``
   commands still run so the site is not left in maintenance mode, unless the operator
   chose to keep it on (recorded). A cancel stops the running command and also runs the
   ``post`` commands; a second cancel stops at once with a loud warning;
5. once every ``post`` command succeeded, mark the log files again: the end of the
   **maintenance window**. The verification does not count the lines written inside it
   that match ``[logs] maintenance_ignore`` (the 503 answers of maintenance mode). Each
   window is kept in ``RunState.log_marks[env][host]["maintenance"]`` and journaled at
   once (``maintenance_window`` records): ``open`` from before the ``pre`` commands until
   the ``post`` commands succeed (a retry continues a window left open by maintenance
   kept on after a failure), ``closed`` with its end marks, or ``unmarked`` (a ``post``
   command failed, the deploy was cancelled, there are no ``post`` commands, the end
   marks failed; a retry starts a new window). Nothing of an unmarked or open window is
   ignored;
6. release the lock (also after a failure or a cancel).

Hosts run in batches of ``serial`` (Ansible's name), one after another by default; a
failure on a host stops the batches that follow. Per-host results, partial successes
included, are in the step's result data. Output streams line by line with the host's
name; each (host, command) pair reports its state as a
:class:`~iact_tui.engine.events.CommandUpdate`.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from iact_tui.engine.commands import RenderedCommand, placeholder_values, render
from iact_tui.engine.events import CommandStatus, CommandUpdate, Event, OutputLine, Progress, StepFinished, Stream
from iact_tui.engine.state import RunContext
from iact_tui.engine.step import Action
from iact_tui.errors import IactError, VersionError
from iact_tui.services import deploy_lock, deploy_state, log_scan
from iact_tui.services.remote import CommandResult, Host, make_hosts

_POST_NOTICE = "running the post commands so the site is not left in maintenance mode"
_ERROR_WORDS = re.compile(r"error|fatal|denied|refused|cannot|can't|failed|not found|no such|traceback", re.IGNORECASE)
_LOCK_NAME = "take the deploy lock"
_RECORD_NAME = "record what runs now"
_UNLOCK_NAME = "release the deploy lock"


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


@dataclass(frozen=True)
class _Row:
    """One line of a host's recipe: its index, phase, name and (for commands) the command."""

    index: int
    phase: str
    name: str
    command: RenderedCommand | None = None


@dataclass
class HostOutcome:
    """What a deploy did on one host.

    Attributes:
        host: The host's name.
        status: ``ok``, ``failed``, ``cancelled`` or ``skipped`` (never started).
        previous: What it ran before (``DeployedState.to_json()``), once recorded.
        failure: ``(what, fix)`` of its first failure.
        maintenance_kept: The post commands were not run after a failure, as chosen.
        lock_note: What went wrong releasing this run's lock, or ``""``.
        lock_held: Another deploy's lock that stopped this host: ``path``, ``owner``,
            ``since``, ``token`` (to break exactly that lock), or ``None``.
    """

    host: str
    status: str = "skipped"
    previous: dict[str, Any] | None = None
    failure: tuple[str, str] | None = None
    maintenance_kept: bool = False
    lock_note: str = ""
    lock_held: dict[str, str] | None = None

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict for the step's result data and the journal."""
        return {
            "status": self.status,
            "previous": self.previous,
            "failure": list(self.failure) if self.failure else None,
            "maintenance_kept": self.maintenance_kept,
            "lock_held": self.lock_held,
        }


Emit = Callable[[Event], Awaitable[None]]


@dataclass
class _HostRun:
    """One host's deploy, run as a task that emits its events into the step's queue."""

    step: DeployStep
    ctx: RunContext
    host: Host
    rows: list[_Row]
    emit: Emit
    outcome: HostOutcome = field(init=False)
    cancelled_in: str = ""
    transport_error: IactError | None = None
    post_results: list[bool] = field(default_factory=list)
    fresh_marks: bool = False

    def __post_init__(self) -> None:
        self.outcome = HostOutcome(self.host.name)

    @property
    def lock_key(self) -> str:
        """``env/host``: where this run remembers a lock it could not release."""
        return f"{self.step.env}/{self.host.name}"

    async def update(self, row: _Row, status: CommandStatus, seconds: float = 0.0, detail: str = "") -> None:
        await self.emit(
            CommandUpdate(
                self.step.id, self.host.name, row.index, row.name, row.phase, status, round(seconds, 3), detail
            )
        )

    async def say(self, text: str, stream: Stream = "info") -> None:
        await self.emit(OutputLine(self.step.id, text, stream, self.host.name))

    async def skip_from(self, start: int, *, keep: set[str] | None = None) -> None:
        """Mark rows from ``start`` on as skipped (except phases in ``keep``)."""
        for row in self.rows[start:]:
            if keep is None or row.phase not in keep:
                await self.update(row, "skipped")

    async def run(self) -> HostOutcome:
        """Lock, record, run the recipe, unlock; never raises an :class:`IactError` (it is the outcome)."""
        try:
            return await self._run()
        except asyncio.CancelledError:
            self.outcome.status = "cancelled"
            raise

    async def _run(self) -> HostOutcome:
        ctx, env = self.ctx, self.step.env
        cfg = ctx.config.environments[env]
        app_dir = str(ctx.config.env_app_dir(env))
        lock_row, record_row, *commands, unlock_row = self.rows
        self.outcome.status = "running"
        started = time.monotonic()
        await self.update(lock_row, "running")
        leftover = ctx.state.unreleased_locks.pop(self.lock_key, None)
        if isinstance(leftover, deploy_lock.DeployLock):
            # This run's own lock, left behind when the connection was lost: release it first.
            with contextlib.suppress(IactError):
                released = await deploy_lock.release(deploy_lock.DeployLock(self.host, leftover.path, leftover.info))
                await self.say(f"this run's earlier deploy lock: {released.message}")
        try:
            lock = await deploy_lock.acquire(
                self.host,
                cfg.lock_path or deploy_lock.lock_path(app_dir),
                deploy_lock.local_owner(),
                ctx.state.version,
                self.step.lock_purpose(ctx),
                stale_after=cfg.lock_stale_after,
            )
        except IactError as exc:
            if isinstance(exc, deploy_lock.LockHeld):
                holder = exc.status.holder
                self.outcome.lock_held = {"path": exc.path, "token": getattr(holder, "token", "")} | (
                    {"owner": holder.owner, "since": holder.since_text}
                    if isinstance(holder, deploy_lock.LockInfo)
                    else {"owner": "unknown (garbled lock file)", "since": ""}
                )
            await self.update(lock_row, "failed", time.monotonic() - started, exc.what)
            await self.skip_from(1)
            self.outcome.status, self.outcome.failure = "failed", (exc.what, exc.fix)
            return self.outcome
        await self.update(lock_row, "ok", time.monotonic() - started)
        # Written at once: a run resumed after this process died releases it by its token.
        info = lock.info
        self.ctx.note(
            "deploy_lock_taken",
            step=self.step.id,
            env=env,
            host=self.host.name,
            path=lock.path,
            owner=info.owner,
            since=info.since_text,
            version=info.version,
            reason=info.reason,
            token=info.token,
        )
        try:
            await self._record(record_row, app_dir, cfg.python)
            if self.outcome.failure is None:
                await self._mark_logs(cfg.logs.paths)
                window = await self._open_window(cfg.logs.paths)
                try:
                    await self._recipe(commands)
                    if window is not None:
                        await self._close_window(window, cfg.logs.paths, commands)
                except asyncio.CancelledError:
                    if window is not None and window["state"] == "open":
                        # Stopped at once: whether maintenance ended is unknown, so nothing of it is ignored.
                        self._end_window(window, "unmarked", "the deploy was cancelled")
                    raise
        finally:
            await self._unlock(unlock_row, lock)
        return self.outcome

    async def _record(self, row: _Row, app_dir: str, python: str) -> None:
        started = time.monotonic()
        await self.update(row, "running")
        try:
            state = await deploy_state.read_deployed_state(self.host, app_dir, python)
        except IactError as exc:
            await self.update(row, "failed", time.monotonic() - started, exc.what)
            await self.skip_from(2, keep={"unlock"})
            self.outcome.status = "failed"
            self.outcome.failure = (
                f"{self.host.name}: cannot record what runs before the deploy: {exc.what}",
                exc.fix + "; nothing was changed on the host" if exc.fix else "nothing was changed on the host",
            )
            return
        applied = sum(len(names) for names in state.migrations.values())
        await self.say(
            f"runs {state.tag or state.commit[:12]} ({state.branch_or_detached}, {state.commit[:12]}); "
            f"{applied} migration(s) applied in {len(state.migrations)} app(s)"
        )
        key = f"{self.step.id}/{self.host.name}"
        first = self.ctx.state.deployed_before.get(key)
        if first is not None:
            # A retry, or a run resumed after a crash: an earlier attempt may already have
            # changed the host, so what it ran before the release is the first record.
            self.outcome.previous = first
            before = first.get("tag") or str(first.get("commit") or "?")[:12]
            await self.say(f"before this release's first attempt it ran {before}: kept as what it ran before")
        else:
            self.outcome.previous = state.to_json()
            self.ctx.state.deployed_before[key] = state.to_json()
            # Written at once: if this process dies mid-deploy, the rollback still knows.
            self.ctx.note(
                "deployed_state", step=self.step.id, env=self.step.env, host=self.host.name, state=state.to_json()
            )
        await self.update(row, "ok", time.monotonic() - started)

    async def _mark_logs(self, paths: list[str]) -> None:
        """Record each log file's size before the first command (for the verification's scan).

        A failure does not stop the deploy: it is said, and the host's entry in
        ``RunState.log_marks`` then holds no files and this machine's clock as
        ``taken_at``, so the scan reads the files modified since (whole).
        """
        if not paths:
            return
        env, name = self.step.env, self.host.name
        kept = self.ctx.state.log_marks.setdefault(env, {})
        if name in kept:
            # A retry: the first attempt's marks cover everything written since the deploy began.
            failed = " (they could not be recorded then: the scan reads the files modified since)"
            await self.say(
                "log marks: kept from this run's first deploy attempt" + (failed if "error" in kept[name] else "")
            )
            return
        since = time.time()
        try:
            marks = await log_scan.record_offsets(self.host, paths)
        except IactError as exc:
            kept[name] = {"host": name, "taken_at": since, "files": {}, "missing": [], "error": exc.what}
            self.fresh_marks = True  # the maintenance window starts from them: unusable, as they failed
            self.ctx.note("log_marks_failed", step=self.step.id, env=env, host=name, error=exc.what, since=since)
            reason = exc.what.removeprefix(f"{name}: ")
            await self.say(
                f"⚠ {name}: the log marks could not be recorded ({reason}); the deploy goes on, and the "
                "verification will scan every log file modified since the deploy began from its start, "
                f"so older lines may be reported too. To fix it for the next release: {exc.fix or 'check the log paths'}",
                "stderr",
            )
            return
        kept[name] = marks.to_json()
        self.fresh_marks = True
        # Written at once, like the deployed state: a retried verification needs them.
        self.ctx.note("log_marks", step=self.step.id, env=env, host=name, marks=marks.to_json())
        await self.say(f"log marks: {_marks_text(marks.to_json())}")

    def _windows(self) -> list[dict[str, Any]]:
        windows: list[dict[str, Any]] = self.ctx.state.log_marks[self.step.env][self.host.name].setdefault(
            "maintenance", []
        )
        return windows

    def _journal_window(self, window: dict[str, Any]) -> None:
        self.ctx.note(
            "maintenance_window",
            step=self.step.id,
            env=self.step.env,
            host=self.host.name,
            window=self._windows().index(window) + 1,
            **window,
        )

    async def _open_window(self, paths: list[str]) -> dict[str, Any] | None:
        """Start the maintenance window before the ``pre`` commands (see the module
        docstring, point 5): the marks just taken, or new ones on a retry; a window left
        open by the previous attempt goes on. ``None`` without log paths."""
        if not paths:
            return None
        windows = self._windows()
        if windows and windows[-1]["state"] == "open":
            note = str(windows[-1].get("note") or "")
            await self.say(
                f"maintenance window {len(windows)} is still open from the previous attempt"
                + (f" ({note})" if note else "")
                + ": it ends when this attempt's post commands succeed"
            )
            return windows[-1]
        if not windows and self.fresh_marks:
            start = {
                k: v for k, v in self.ctx.state.log_marks[self.step.env][self.host.name].items() if k != "maintenance"
            }
        else:
            start = await self._marks_now(paths, "the start of the maintenance window")
        window: dict[str, Any] = {"start": start, "end": None, "state": "open", "note": ""}
        windows.append(window)
        self._journal_window(window)
        if windows[0] is not window:
            await self.say(f"log marks: maintenance window {len(windows)} starts ({_marks_text(start)})")
        return window

    async def _marks_now(self, paths: list[str], what: str) -> dict[str, Any]:
        """The log marks as JSON now; on a failure ``{"error": ...}`` (said, never raised)."""
        since = time.time()
        try:
            return (await log_scan.record_offsets(self.host, paths)).to_json()
        except IactError as exc:
            await self.say(
                f"⚠ {self.host.name}: the log marks for {what} could not be recorded "
                f"({exc.what.removeprefix(self.host.name + ': ')}): the verification will count every line "
                f"written during the maintenance window, 503 answers too. {exc.fix or ''}".rstrip(),
                "stderr",
            )
            return {"host": self.host.name, "taken_at": since, "files": {}, "missing": [], "error": exc.what}

    def _end_window(self, window: dict[str, Any], state: str, note: str) -> None:
        window["state"], window["note"] = state, note
        self._journal_window(window)

    async def _close_window(self, window: dict[str, Any], paths: list[str], commands: list[_Row]) -> None:
        """Mark the logs again right after the ``post`` commands all succeeded (the window's
        end), or record why the window has no end."""
        posts = [row for row in commands if row.phase == "post"]
        if self.cancelled_in:
            self._end_window(window, "unmarked", "the deploy was cancelled")
        elif not posts:
            self._end_window(window, "unmarked", "the environment has no post commands to end maintenance")
        elif self.outcome.maintenance_kept:
            window["note"] = "maintenance was kept on after a failure, as chosen"
            self._journal_window(window)
        elif len(self.post_results) < len(posts) or not all(self.post_results):
            # Maintenance may have ended at any point (or not at all): a retry starts a new window.
            self._end_window(window, "unmarked", "its post commands did not all succeed")
        else:
            end = await self._marks_now(paths, "the end of the maintenance window")
            window["end"] = end
            if "error" in end:
                self._end_window(window, "unmarked", f"the marks at its end failed: {end['error']}")
            else:
                self._end_window(window, "closed", "")
                await self.say(f"log marks after the maintenance window: {_marks_text(end)}")

    async def _recipe(self, commands: list[_Row]) -> None:
        env = self.step.env
        # Read when a command fails, not now: the operator may change the choice while the
        # deploy runs (``m`` on the deploy screen).
        keep_on = False
        failed = False
        unfinished_post: list[RenderedCommand] = []
        for row in commands:
            cmd = row.command
            assert cmd is not None
            if (failed or self.cancelled_in) and row.phase != "post":
                await self.update(row, "skipped")
                continue
            if failed and keep_on and not self.cancelled_in:
                await self.update(row, "skipped")
                continue
            self.transport_error = None
            result = await self._command(row, cmd)
            if result is None:
                continue
            if row.phase == "post":
                self.post_results.append(result.ok)
            if not result.ok and row.phase == "post":
                unfinished_post.append(cmd)
            if not result.ok and not failed and not self.cancelled_in:
                failed = True
                keep_on = self.ctx.state.keep_maintenance.get(
                    env, self.ctx.config.environments[env].keep_maintenance_on_failure
                )
                if self.transport_error is not None:
                    reason = self.transport_error.what.removeprefix(f"{self.host.name}: ")
                    what = f"{env}: '{cmd.name}' could not finish on {self.host.name}: {reason}"
                else:
                    tail = error_summary(result)
                    what = f"{env}: '{cmd.name}' {_why(cmd, result)} on {self.host.name}" + (
                        f": {tail}" if tail else ""
                    )
                self.outcome.failure = (
                    what,
                    f"fix the cause on {self.host.name} (full output above and in the journal), then retry "
                    f"{self.step.retry_name}",
                )
                if keep_on and row.phase != "post":
                    self.outcome.maintenance_kept = True
                    self.ctx.note("maintenance_kept", step=self.step.id, host=self.host.name, after=cmd.name)
                    await self.say(f"⚠ maintenance mode is left ON on {self.host.name}, as chosen", "stderr")
                elif any(r.phase == "post" for r in commands) and row.phase != "post":
                    await self.say(_POST_NOTICE)
        if unfinished_post:
            names = ", ".join(f"'{c.name}'" for c in unfinished_post)
            by_hand = "; ".join(f"in {c.cwd}: {c.run}" for c in unfinished_post)
            note = (
                f"⚠ {env} may still be in maintenance mode on {self.host.name}: {names} did not run to the end; "
                f"retrying {self.step.retry_name} runs it again, or run it by hand {by_hand}"
            )
            await self.say(note, "stderr")
            if self.outcome.failure is not None:
                what, fix = self.outcome.failure
                self.outcome.failure = (what, f"{fix}; {note.removeprefix('⚠ ')}")
        if self.cancelled_in:
            self.outcome.status = "cancelled"
        elif self.outcome.failure is not None:
            self.outcome.status = "failed"
        else:
            self.outcome.status = "ok"

    async def _command(self, row: _Row, cmd: RenderedCommand) -> CommandResult | None:
        """Run one command; ``None`` when it was cancelled (the cancel is remembered)."""
        started = time.monotonic()
        result: CommandResult | None = None
        try:
            # Inside the try: a cancel landing while the command is announced or starting
            # must still run the post commands (found by the hang-up test: it escaped and
            # left the site in maintenance mode).
            await self.update(row, "running")
            await self.say(f"$ {cmd.run}")
            async for item in self.host.stream(cmd.run, cwd=cmd.cwd, timeout=cmd.timeout):
                if isinstance(item, CommandResult):
                    result = item
                else:
                    await self.emit(OutputLine(self.step.id, item.text, item.stream, self.host.name))
        except asyncio.CancelledError:
            await self.update(row, "cancelled", time.monotonic() - started)
            if row.phase == "post" or self.cancelled_in:
                # A second cancel: stop at once, and say loudly what is left undone.
                await self.say(
                    f"⚠ '{cmd.name}' was stopped too: {self.step.env} may still be in maintenance mode on "
                    f"{self.host.name}; run it by hand in {cmd.cwd}: {cmd.run}",
                    "stderr",
                )
                raise
            self.cancelled_in = cmd.name
            task = asyncio.current_task()
            if task is not None:
                task.uncancel()  # this cancel is handled: the post commands must run normally
            await self.say(f"■ {cmd.name} stopped: cancelled by the operator")
            await self.say(_POST_NOTICE + " (cancel again to stop at once; that skips them)")
            return None
        except IactError as exc:
            # The transport failed (connection lost, sudo wants a password...): a failed command.
            self.transport_error = exc
            elapsed = time.monotonic() - started
            await self.update(row, "failed", elapsed, exc.what)
            await self.say(f"✘ {cmd.name}: {exc.what}", "stderr")
            return CommandResult(cmd.run, self.host.name, None, elapsed, (), (exc.what,))
        assert result is not None
        status: CommandStatus = "ok" if result.ok else ("timed-out" if result.timed_out else "failed")
        detail = "" if result.ok else f"{_why(cmd, result)}: {error_summary(result)}".rstrip(": ")
        await self.update(row, status, result.duration, detail)
        mark = "✔" if result.ok else "✘"
        await self.say(f"{mark} {cmd.name} ({result.duration:.1f} s)" if result.ok else f"{mark} {cmd.name} {detail}")
        return result

    async def _unlock(self, row: _Row, lock: deploy_lock.DeployLock) -> None:
        started = time.monotonic()
        await self.update(row, "running")
        task = asyncio.ensure_future(deploy_lock.release(lock))
        try:
            # A cancel arriving now must not abandon the release of the lock.
            while True:
                try:
                    released = await asyncio.shield(task)
                    break
                except asyncio.CancelledError:
                    if task.done():
                        raise
                    continue
        except IactError as exc:
            await self.update(row, "failed", time.monotonic() - started, exc.what)
            self.ctx.state.unreleased_locks[self.lock_key] = lock
            self.outcome.lock_note = (
                f"{self.host.name}: the deploy lock could not be released ({exc.what}); a retry releases it first"
            )
            await self.say(f"⚠ {self.outcome.lock_note}", "stderr")
            return
        await self.update(row, "ok" if released.ok else "failed", time.monotonic() - started, released.message)
        if not released.ok:
            self.outcome.lock_note = released.message
            await self.say(f"⚠ {released.message}", "stderr")


def _marks_text(marks: dict[str, Any]) -> str:
    """``1 file(s): /srv/app.log at 1200 bytes; nothing there yet for /srv/x.log``."""
    files = ", ".join(f"{path} at {mark['size']} bytes" for path, mark in marks.get("files", {}).items())
    text = f"{len(marks.get('files', {}))} file(s)" + (f": {files}" if files else "")
    if marks.get("missing"):
        text += f"; nothing there yet for {', '.join(marks['missing'])}"
    return text


class DeployStep:
    """Deploy to one environment.

    Args:
        env: The environment's name (``staging``, ``production``).
    """

    def __init__(self, env: str) -> None:
        self.env = env
        self.id = f"deploy-{env}"
        self.title = f"Deploy to {env}"

    #: What a failure's advice calls running this step again ("retry the deploy").
    retry_name: str = "the deploy"

    def lock_purpose(self, ctx: RunContext) -> str:
        """What the deploy lock says this deploy is doing (shown to whoever finds it held)."""
        return f"release {ctx.tag} to {self.env} with iact-tui"

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

    def rows(self, ctx: RunContext) -> list[_Row]:
        """The recipe every host runs: lock, record, the commands, unlock (indices 0..n-1)."""
        rows = [_Row(0, "lock", _LOCK_NAME), _Row(1, "record", _RECORD_NAME)]
        for phase, cmd in self._commands(ctx):
            rows.append(_Row(len(rows), phase, cmd.name, cmd))
        rows.append(_Row(len(rows), "unlock", _UNLOCK_NAME))
        return rows

    def plan(self, ctx: RunContext) -> list[Action]:
        """Each command with its working directory, or a notice that the env is absent."""
        if self.env not in ctx.config.environments:
            return [Action("notice", f"no [environments.{self.env}] in the config: skipped", self.env)]
        env = ctx.config.environments[self.env]
        where = ", ".join(env.hosts) if env.transport == "ssh" else "this machine"
        batches = f" in batches of {env.serial}" if env.transport == "ssh" and env.serial > 1 else ", one after another"
        actions = [
            Action("notice", f"on {where}{batches if env.transport == 'ssh' else ''}", self.env),
            Action("lock", f"take the deploy lock ({env.lock_path or '{app_dir}/' + deploy_lock.LOCK_NAME})", self.env),
            Action("record", "record the commit, tag and applied migrations the host runs now", self.env),
        ]
        if env.logs.paths:
            actions.append(
                Action(
                    "record", f"mark the log files' sizes for the verification: {', '.join(env.logs.paths)}", self.env
                )
            )
        actions += [
            Action("command", f"{c.name}: {c.run}  (in {c.cwd}, timeout {c.timeout:g} s)", self.env)
            for _, c in self._commands(ctx)
        ]
        if env.logs.paths and env.post:
            actions.append(
                Action(
                    "record",
                    "once the post commands succeeded, mark the log files' sizes again: the end of the maintenance "
                    "window, whose lines matching maintenance_ignore the verification does not count",
                    self.env,
                )
            )
        actions.append(Action("lock", "release the deploy lock", self.env))
        return actions

    async def run(self, ctx: RunContext) -> AsyncIterator[Event]:
        """Deploy to every host in batches; fail at the first host that fails."""
        if self.env not in ctx.config.environments:
            yield OutputLine(self.id, f"no [environments.{self.env}] in {ctx.config.path.name}: deploy skipped")
            yield StepFinished(self.id, "skipped", f"no {self.env} environment configured")
            return
        if not ctx.state.version:
            raise VersionError("no version chosen yet", "choose MAJOR, MINOR or PATCH first")
        env = ctx.config.environments[self.env]
        hosts = make_hosts(self.env, env, root=ctx.config.root)
        rows = self.rows(ctx)
        queue: asyncio.Queue[Event | None] = asyncio.Queue()

        async def emit(event: Event) -> None:
            await queue.put(event)

        runs = [_HostRun(self, ctx, host, rows, emit) for host in hosts]
        for host_run in runs:
            for row in rows:
                yield CommandUpdate(self.id, host_run.host.name, row.index, row.name, row.phase, "pending")
        total, done = len(rows) * len(runs), 0
        batch_size = env.serial if env.transport == "ssh" else 1
        stopped = False
        cancelled = False
        try:
            for start in range(0, len(runs), batch_size):
                batch = runs[start : start + batch_size]
                if stopped:
                    for host_run in batch:
                        await host_run.skip_from(0)
                    while not queue.empty():
                        event = queue.get_nowait()
                        if event is not None:
                            yield event
                    continue
                tasks = [asyncio.create_task(host_run.run()) for host_run in batch]
                closer = asyncio.create_task(_close_when_done(tasks, queue))
                try:
                    while (event := await queue.get()) is not None:
                        yield event
                        if isinstance(event, CommandUpdate) and event.status != "pending":
                            done += event.status != "running"
                            label = f"{event.name} on {event.host}" if event.status == "running" else ""
                            if label:
                                yield Progress(self.id, done, total, label)
                except asyncio.CancelledError:
                    cancelled = True
                    async for event in _drain_after_cancel(tasks, closer, queue):
                        yield event
                    raise
                if any(r.outcome.status != "ok" for r in batch):
                    stopped = True
        finally:
            for host in hosts:
                with contextlib.suppress(Exception):
                    await host.close()
        if cancelled:  # pragma: no cover - the CancelledError above propagates
            raise asyncio.CancelledError
        outcomes = {r.host.name: r.outcome.to_json() for r in runs}
        data = {"env": self.env, "tag": ctx.tag, "hosts": outcomes}
        first_previous = next((r.outcome.previous for r in runs if r.outcome.previous), None)
        if first_previous is not None:
            data["previous"] = [first_previous["commit"], first_previous["tag"] or ""]
        notes = [r.outcome.lock_note for r in runs if r.outcome.lock_note]
        failed = [r for r in runs if r.outcome.status not in {"ok", "skipped"}]
        if failed:
            what, fix = failed[0].outcome.failure or (f"{self.env}: the deploy failed on {failed[0].host.name}", "")
            deployed = [r.host.name for r in runs if r.outcome.status == "ok"]
            untouched = [r.host.name for r in runs if r.outcome.status == "skipped"]
            if len(runs) > 1:
                what += f" (deployed: {', '.join(deployed) or 'none'}; not started: {', '.join(untouched) or 'none'})"
            yield StepFinished(self.id, "failed", what, fix + (f"; {' '.join(notes)}" if notes else ""), data)
            return
        names = ", ".join(r.host.name for r in runs)
        message = f"{ctx.tag} deployed to {self.env}" + (f" ({names})" if env.transport == "ssh" else "")
        if notes:
            message += f"; {' '.join(notes)}"
        yield Progress(self.id, total, total, "done")
        yield StepFinished(self.id, "ok", message, data=data)


async def _close_when_done(tasks: list[asyncio.Task[HostOutcome]], queue: asyncio.Queue[Event | None]) -> None:
    """Put the end marker once every host task has finished (whatever the way)."""
    await asyncio.gather(*tasks, return_exceptions=True)
    await queue.put(None)


async def _drain_after_cancel(
    tasks: list[asyncio.Task[HostOutcome]], closer: asyncio.Task[None], queue: asyncio.Queue[Event | None]
) -> AsyncIterator[Event]:
    """After a cancel: stop each host's command (they run their post commands), keep the
    events coming until they end; a second cancel stops them at once."""
    for task in tasks:
        task.cancel()
    while True:
        try:
            event = await queue.get()
        except asyncio.CancelledError:
            for task in tasks:
                task.cancel()
            continue
        if event is None:
            break
        yield event
    await asyncio.gather(closer, return_exceptions=True)
