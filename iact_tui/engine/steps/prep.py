"""Production prep, before the production deploy: database backup, stakeholder notice, rollback plan.

Three items, each a :class:`~iact_tui.engine.events.CheckUpdate`:

* ``backup``: ``pg_dump`` in custom format on one of the environment's hosts
  (:mod:`~iact_tui.services.backup`), checked with ``pg_restore --list``; its path and
  size are shown and journaled. With no ``[environments.<env>.backup]`` the item needs a
  reason (typed by the operator, or the config's ``backup_skip_reason``), recorded.
* ``notice``: the maintenance window posted to the stakeholders' webhook (URL from the
  environment variable ``[notify] webhook_env``); or skipped with a reason, recorded.
* ``rollback-plan``: what production runs now, the migrations the release adds and how to
  undo them; the operator must acknowledge it (the plan is journaled with the
  acknowledgement).

The step passes when every item passed or was skipped with a reason.
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

from iact_tui.engine.events import CheckUpdate, Event, OutputLine, StepFinished
from iact_tui.engine.state import RunContext
from iact_tui.engine.step import Action
from iact_tui.errors import IactError, NotifyError, VersionError
from iact_tui.services import backup, deploy_state, migrations, notify
from iact_tui.services.backup import BackupResult, BackupSpec
from iact_tui.services.remote import Line, make_hosts
from iact_tui.services.secrets import Secret

ITEMS: tuple[tuple[str, str], ...] = (
    ("backup", "Database backup"),
    ("notice", "Stakeholders told of the maintenance window"),
    ("rollback-plan", "Rollback plan acknowledged"),
)
_LABELS = dict(ITEMS)


@dataclass(frozen=True)
class RollbackPlan:
    """How to undo this release on an environment, shown before its deploy.

    Attributes:
        env: The environment.
        running: What it runs now (tag, or commit), ``""`` when it could not be read.
        back_to: The tag to go back to (``running``'s tag, else the previous release tag).
        new_migrations: ``app.name`` of every migration file the release adds.
        targets: App label → the migration to migrate back to (``zero``: none).
        lines: The plan as numbered steps for the operator.
        note: Why something is unknown (e.g. the host could not be read), or ``""``.
    """

    env: str
    running: str
    back_to: str
    new_migrations: list[str] = field(default_factory=list)
    targets: dict[str, str] = field(default_factory=dict)
    lines: list[str] = field(default_factory=list)
    note: str = ""


async def rollback_plan(ctx: RunContext, env: str) -> RollbackPlan:
    """Work out the rollback plan for deploying this release to ``env``.

    Reads what the environment's first host runs (commit, tag; read-only) and, from the
    repository, the migration files added between the release being replaced and the new
    tag (app label = the folder holding ``migrations/``). Each app's target is its last
    migration file at the old tag, or ``zero``.

    Args:
        ctx: The run's context (version chosen; the new tag exists once ``tag`` ran).
        env: The environment.

    Returns:
        The :class:`RollbackPlan`; unknowns are said in ``note``, never raised.
    """
    cfg = ctx.config.environments[env]
    running, note = "", ""
    host = make_hosts(env, cfg, root=ctx.config.root)[0]
    try:
        state = await deploy_state.read_deployed_state(host, str(ctx.config.env_app_dir(env)), cfg.python)
        running = state.tag or state.commit[:12]
        back_to = state.tag or state.commit
    except IactError as exc:
        note = f"what {env} runs could not be read ({exc.what}); assuming the previous release"
        back_to = ctx.state.previous_tag
    finally:
        await host.close()
    new_tag = ctx.tag if await ctx.git.rev(f"refs/tags/{ctx.tag}") else "HEAD"
    names: list[str] = []
    targets: dict[str, str] = {}
    compare_error = ""
    if back_to:
        try:
            added = await migrations.added_migrations(ctx.git, back_to, new_tag)
            names, targets = added.names, added.targets
        except IactError as exc:
            compare_error = exc.what
    lines = [f"{env} runs {running or 'an unknown release'} now; this deploy replaces it with {ctx.tag}."]
    if compare_error:
        lines.append(
            f"The migrations {ctx.tag} adds could not be read ({compare_error}); look before deploying: "
            f"git diff --name-only {back_to} {new_tag} -- '*/migrations/*'."
        )
    elif targets:
        migrate = "; ".join(f"manage.py migrate {app} {target}" for app, target in targets.items())
        lines.append(f"Reverse the new migrations ({', '.join(names)}) with {ctx.tag}'s code: {migrate}.")
    else:
        lines.append(f"{ctx.tag} adds no migrations: nothing to reverse in the database.")
    lines.append(
        f"Check out {back_to or 'the previous release'}, collect static files, restart the app and web server."
    )
    if cfg.backup is not None:
        lines.append(f"If data must be restored: pg_restore --clean --dbname={cfg.backup.database} <the backup below>.")
    lines.append("What each host runs before the deploy is recorded in this run's journal.")
    return RollbackPlan(
        env, running, back_to, names, targets, [f"{i}. {line}" for i, line in enumerate(lines, 1)], note
    )


class PrepStep:
    """Production prep: backup, notice, rollback plan (see the module docstring).

    Args:
        env: The environment about to be deployed (``production``).
    """

    def __init__(self, env: str = "production") -> None:
        self.env = env
        self.id = f"prep-{env}"
        self.title = f"Prepare the {env} deploy"

    def plan(self, ctx: RunContext) -> list[Action]:
        """The three items, or a notice that the environment is absent."""
        if self.env not in ctx.config.environments:
            return [Action("notice", f"no [environments.{self.env}] in the config: skipped", self.env)]
        cfg = ctx.config.environments[self.env]
        if cfg.backup is not None:
            b = cfg.backup
            where = b.run_on or (cfg.hosts[0] if cfg.hosts else "this machine")
            dump = Action(
                "command", f"pg_dump --format=custom {b.database} into {b.directory} on {where}; pg_restore --list"
            )
        else:
            dump = Action("notice", f"no database backup configured: {cfg.backup_skip_reason or 'a reason is asked'}")
        hook = ctx.config.notify.webhook_env
        notice = (
            Action("http", f"POST the maintenance window to the webhook in ${hook}")
            if hook
            else Action("notice", f"no notice webhook: {ctx.config.notify.skip_reason or 'a reason is asked'}")
        )
        return [dump, notice, Action("check", "the operator acknowledges the rollback plan")]

    async def run(self, ctx: RunContext) -> AsyncIterator[Event]:
        """Run the items; fail when one failed or still needs the operator."""
        if self.env not in ctx.config.environments:
            yield OutputLine(self.id, f"no [environments.{self.env}] in {ctx.config.path.name}: prep skipped")
            yield StepFinished(self.id, "skipped", f"no {self.env} environment configured")
            return
        if not ctx.state.version:
            raise VersionError("no version chosen yet", "choose MAJOR, MINOR or PATCH first")
        for item, label in ITEMS:
            yield CheckUpdate(self.id, item, label, "pending")
        results: dict[str, str] = {}
        data: dict[str, object] = {}
        failures: list[str] = []
        async for event in self._backup(ctx, results, data):
            yield event
        async for event in self._notice(ctx, results, data):
            yield event
        plan = await rollback_plan(ctx, self.env)
        acknowledged = ctx.state.prep.get(f"{self.env}:rollback-ack") == "yes"
        label = _LABELS["rollback-plan"]
        for line in plan.lines:
            yield OutputLine(self.id, line)
        data["rollback_plan"] = {"lines": plan.lines, "back_to": plan.back_to, "targets": plan.targets}
        if acknowledged:
            results["rollback-plan"] = "passed"
            yield CheckUpdate(
                self.id,
                "rollback-plan",
                label,
                "passed",
                "; ".join(p for p in (f"back to {plan.back_to or '?'}", plan.note) if p),
            )
        else:
            results["rollback-plan"] = "failed"
            yield CheckUpdate(
                self.id, "rollback-plan", label, "failed", "not acknowledged yet: read the plan, then acknowledge it"
            )
        failures = [item for item, status in results.items() if status == "failed"]
        if failures:
            yield StepFinished(
                self.id,
                "failed",
                f"{self.env} prep is not complete: {', '.join(failures)}",
                "fix or skip each failed item with a reason, acknowledge the rollback plan, then run the prep again",
                {**data, "items": results},
            )
            return
        yield StepFinished(self.id, "ok", f"{self.env} is ready to deploy", data={**data, "items": results})

    async def _backup(self, ctx: RunContext, results: dict[str, str], data: dict[str, object]) -> AsyncIterator[Event]:
        cfg = ctx.config.environments[self.env]
        label = _LABELS["backup"]
        reason = ctx.state.prep.get(f"{self.env}:backup-skip") or cfg.backup_skip_reason
        if cfg.backup is None:
            if reason:
                results["backup"] = "skipped"
                ctx.note("prep_skipped", step=self.id, item="backup", reason=reason)
                yield CheckUpdate(self.id, "backup", label, "skipped", f"no backup configured: {reason}")
            else:
                results["backup"] = "failed"
                yield CheckUpdate(
                    self.id,
                    "backup",
                    label,
                    "failed",
                    f"no [environments.{self.env}.backup] configured: configure pg_dump, or skip it with a reason",
                )
            return
        b = cfg.backup
        earlier = ctx.state.prep.get(f"{self.env}:backup")
        if earlier:
            # A retry of the prep (another item failed) does not dump the database again.
            results["backup"] = "passed"
            data["backup"] = {"path": earlier}
            yield CheckUpdate(self.id, "backup", label, "passed", f"{earlier} (taken earlier in this run)")
            return
        hosts = make_hosts(self.env, cfg, root=ctx.config.root)
        host = next((h for h in hosts if h.name == b.run_on), hosts[0]) if b.run_on else hosts[0]
        spec = BackupSpec(
            database=b.database,
            directory=b.directory,
            host=b.db_host,
            port=b.db_port,
            user=b.db_user,
            pg_dump=b.pg_dump,
            pg_restore=b.pg_restore,
            password_env=b.password_env,
        )
        yield CheckUpdate(self.id, "backup", label, "running", f"pg_dump {b.database} on {host.name}")
        result: BackupResult | None = None
        try:
            async for item in backup.take_backup(
                host, spec, label=ctx.state.version, now=dt.datetime.now(dt.UTC), timeout=b.timeout
            ):
                if isinstance(item, Line):
                    yield OutputLine(self.id, item.text, item.stream, host.name)
                else:
                    result = item
        except IactError as exc:
            results["backup"] = "failed"
            yield CheckUpdate(self.id, "backup", label, "failed", f"{exc.what}; {exc.fix}")
            return
        finally:
            for h in hosts:
                await h.close()
        assert result is not None
        results["backup"] = "passed"
        ctx.state.prep[f"{self.env}:backup"] = f"{result.path} on {host.name}"
        data["backup"] = {"host": host.name, "path": result.path, "size_bytes": result.size_bytes}
        ctx.note("backup_taken", step=self.id, host=host.name, path=result.path, size_bytes=result.size_bytes)
        yield CheckUpdate(
            self.id,
            "backup",
            label,
            "passed",
            f"{result.path} on {host.name}: {backup.format_size(result.size_bytes)}, {result.entries} entries",
        )

    async def _notice(self, ctx: RunContext, results: dict[str, str], data: dict[str, object]) -> AsyncIterator[Event]:
        label = _LABELS["notice"]
        n = ctx.config.notify
        reason = ctx.state.prep.get(f"{self.env}:notice-skip") or n.skip_reason
        if not n.webhook_env or (reason and ctx.state.prep.get(f"{self.env}:notice-skip")):
            if reason:
                results["notice"] = "skipped"
                ctx.note("prep_skipped", step=self.id, item="notice", reason=reason)
                yield CheckUpdate(self.id, "notice", label, "skipped", reason)
            else:
                results["notice"] = "failed"
                yield CheckUpdate(
                    self.id,
                    "notice",
                    label,
                    "failed",
                    "no [notify] webhook_env configured: tell them another way, then skip this with a reason",
                )
            return
        url = os.environ.get(n.webhook_env, "")
        if not url:
            results["notice"] = "failed"
            yield CheckUpdate(
                self.id,
                "notice",
                label,
                "failed",
                f"${n.webhook_env} is not set: export it with the webhook URL, or skip the notice with a reason",
            )
            return
        start = dt.datetime.now(dt.UTC)
        end = start + dt.timedelta(minutes=n.window_minutes)
        text = (
            f"{ctx.tag} is being deployed to {self.env}. Maintenance window: {start:%H:%M}–{end:%H:%M} UTC "
            f"({n.window_minutes} min); the site may answer 503 meanwhile."
        )
        yield CheckUpdate(self.id, "notice", label, "running", "posting to the webhook")
        secret = Secret(url, f"${n.webhook_env}")
        try:
            status = await notify.post_notice(secret, text, timeout=ctx.config.timeouts.http)
        except NotifyError as exc:
            results["notice"] = "failed"
            yield CheckUpdate(self.id, "notice", label, "failed", f"{exc.what}; {exc.fix}")
            return
        results["notice"] = "passed"
        origin = notify.webhook_origin(url)
        data["notice"] = {"text": text, "webhook": origin, "status": status}
        ctx.note("notice_sent", step=self.id, webhook=origin, text=text, status=status)
        yield OutputLine(self.id, f"posted to {origin}: {text}")
        yield CheckUpdate(self.id, "notice", label, "passed", f"posted to {origin} (HTTP {status})")
