"""The rollback flow: return an environment's code and database to an earlier release.

:class:`RollbackRun` is to a rollback what :class:`~iact_tui.engine.run.ReleaseRun` is to
a release: both front ends drive it, every event goes through :meth:`RollbackRun.run_step`
into its own journal (a new run folder, flow ``rollback``). Its steps:

``rollback-plan`` (read-only)
    On each host: what it runs (commit, tag, applied migrations); the apps to migrate
    back and each app's target (the last migration of the app in the target tag's tree,
    from git; ``zero`` when it has none there); what ``manage.py migrate APP TARGET
    --plan`` says Django would run backwards with the code the host runs now. An
    irreversible operation refuses the plan, naming it and what it means, before
    anything changes.
``rollback-<env>``
    The deploy recipe (:class:`~iact_tui.engine.steps.deploy.DeployStep`) with the
    target's tag as ``{tag}``: lock, record, ``pre`` (maintenance on), ``migrate APP
    TARGET --noinput`` per app (the current code still has the migrations to reverse),
    ``steps`` (fetch, check out the target, migrate, collectstatic, restart), ``post``
    (maintenance off), unlock. Needs the target version typed by the operator.
``verify``
    :class:`~iact_tui.engine.steps.checks.VerifyStep` expecting the target's version.
``rollback-record``
    Journals a ``rollback`` record (from, to, per-host results, the verification) and
    marks the rolled-back release bad (``release_marked_bad``): it is never offered as
    a target again (:mod:`~iact_tui.engine.history`).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import semver

from iact_tui.config import Config
from iact_tui.engine import history as history_mod
from iact_tui.engine import report
from iact_tui.engine.commands import RenderedCommand, placeholder_values, render
from iact_tui.engine.events import CheckUpdate, Event, OutputLine, StepFinished
from iact_tui.engine.run import FlowRun
from iact_tui.engine.state import VERIFY_MANUAL, RunContext
from iact_tui.engine.step import Action, Step, StepRecord
from iact_tui.engine.steps.checks import VerifyStep
from iact_tui.engine.steps.deploy import DeployStep
from iact_tui.errors import ChecklistError, ConfigError, ConfirmationError, GitError, VersionError
from iact_tui.services import deploy_state, versioning
from iact_tui.services import rollback as rb
from iact_tui.services.remote import make_hosts

PLAN, RECORD = "rollback-plan", "rollback-record"


@dataclass(frozen=True)
class Target:
    """A release the environment can go back to.

    Attributes:
        version: Without prefix (``1.4.0``); tag: with it (``v1.4.0``).
        source: ``journal`` (deployed by iact-tui, when and by which run in ``detail``)
            or ``git`` (a release tag; no journal knows it).
        detail: One line for the operator.
    """

    version: str
    tag: str
    source: str
    detail: str


@dataclass
class HostPlan:
    """One host's part of the plan.

    Attributes:
        host: Its name; commit/tag: what it runs now.
        reversals: The apps to migrate back there.
        backwards: What Django said it would run backwards, per app.
    """

    host: str
    commit: str
    tag: str | None
    reversals: list[rb.AppReversal] = field(default_factory=list)
    backwards: list[rb.BackwardsPlan] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "commit": self.commit,
            "tag": self.tag,
            "reversals": [r.to_json() for r in self.reversals],
            "backwards": {
                b.app: {"target": b.target, "operations": [op.to_json() for op in b.operations]} for b in self.backwards
            },
        }


@dataclass
class RollbackPlan:
    """What the rollback will do, host by host (the ``rollback-plan`` step's result).

    Attributes:
        env: The environment; current/target: versions and tags.
        hosts: Per host.
        reverse: App label → migration to migrate back to (every host's apps).
        commands: ``(phase, command)`` each host runs, in order, after the lock and record.
        irreversible: ``(host, operation)`` Django cannot reverse: the plan is refused.
        data_loss: ``(host, loss)`` for each reversible operation whose reversal loses
            data (a dropped table or column...); each is also one of ``warnings``. The
            typed confirmation remains the gate.
        warnings: Things the operator should know (hosts that disagree, data lost...).
        backup: The newest backup the journals know, or ``None``.
    """

    env: str
    current_version: str
    current_tag: str
    target_version: str
    target_tag: str
    hosts: list[HostPlan] = field(default_factory=list)
    reverse: dict[str, str] = field(default_factory=dict)
    commands: list[tuple[str, RenderedCommand]] = field(default_factory=list)
    irreversible: list[tuple[str, rb.PlannedOperation]] = field(default_factory=list)
    data_loss: list[tuple[str, rb.DataLoss]] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    backup: history_mod.Backup | None = None

    @property
    def refused(self) -> bool:
        return bool(self.irreversible)

    def lines(self) -> list[str]:
        """The plan as text, for the headless output and the journal."""
        out = [f"{self.env}: {self.current_tag or 'unknown'} → {self.target_tag}"]
        for host in self.hosts:
            out.append(f"{host.host}: runs {host.tag or host.commit[:12]}")
            if not host.reversals:
                out.append("  no migration to reverse")
            for rev in host.reversals:
                out.append(f"  reverse {rev.app} to {rev.target}: unapply {', '.join(rev.unapply)}")
            for plan in host.backwards:
                for op in plan.operations:
                    loss = rb.data_loss(op.migration, op.description)
                    mark = "✘ " if op.irreversible else "! " if loss else ""
                    lost = f" — {loss}" if loss and not op.irreversible else ""
                    out.append(f"    {mark}{op.migration}: {op.description}{lost}")
        out.append("each host runs, under the deploy lock, after recording its state:")
        out += [f"  [{phase}] {cmd.name}: {cmd.run}" for phase, cmd in self.commands]
        out += [f"! {w}" for w in self.warnings]
        return out

    def to_json(self) -> dict[str, Any]:
        return {
            "env": self.env,
            "current_version": self.current_version,
            "current_tag": self.current_tag,
            "target": self.target_version,
            "target_tag": self.target_tag,
            "hosts": {h.host: h.to_json() for h in self.hosts},
            "reverse": dict(self.reverse),
            "commands": [{"phase": p, "name": c.name, "run": c.run, "cwd": c.cwd} for p, c in self.commands],
            "irreversible": [{"host": h, **op.to_json()} for h, op in self.irreversible],
            "data_loss": [{"host": h, **loss.to_json()} for h, loss in self.data_loss],
            "warnings": list(self.warnings),
            "backup": self.backup.path if self.backup else None,
        }


def rollback_commands(ctx: RunContext, env_name: str, reverse: dict[str, str]) -> list[tuple[str, RenderedCommand]]:
    """The commands of the rollback recipe: ``pre``, one ``migrate APP TARGET`` per app,
    ``steps`` with ``{tag}`` the target's, ``post``.

    Raises:
        CommandError: A value (version, app label, migration name...) is not allowed.
    """
    cfg = ctx.config
    env = cfg.environments[env_name]
    version = ctx.state.version or "0.0.0"
    values = placeholder_values(cfg, env_name, version, f"{cfg.project.tag_prefix}{version}")
    out: list[tuple[str, RenderedCommand]] = []
    for spec in env.pre:
        out.append(("pre", render(cfg, env_name, spec.run, spec.name, spec.cwd, spec.timeout, values)))
    migrate_timeout = max((s.timeout for s in env.steps if "migrate" in s.run), default=600.0)
    for app, target in reverse.items():
        run = rb.migrate_command("{python}", app, target)
        name = f"reverse {app} migrations to {target}"
        out.append(("steps", render(cfg, env_name, run, name, "", migrate_timeout, values)))
    for spec in env.steps:
        out.append(("steps", render(cfg, env_name, spec.run, spec.name, spec.cwd, spec.timeout, values)))
    for spec in env.post:
        out.append(("post", render(cfg, env_name, spec.run, spec.name, spec.cwd, spec.timeout, values)))
    return out


class RollbackDeployStep(DeployStep):
    """The deploy recipe run for a rollback (see the module docstring)."""

    retry_name = "the rollback (r)"

    def __init__(self, env: str) -> None:
        super().__init__(env)
        self.id = f"rollback-{env}"
        self.title = f"Roll back {env}"

    def lock_purpose(self, ctx: RunContext) -> str:
        return f"roll {self.env} back to {ctx.tag} with iact-tui"

    def _commands(self, ctx: RunContext) -> list[tuple[str, RenderedCommand]]:
        reverse = ctx.state.results.get(PLAN, {}).get("reverse", {})
        return rollback_commands(ctx, self.env, dict(reverse))

    async def run(self, ctx: RunContext) -> AsyncIterator[Event]:
        async for event in super().run(ctx):
            if isinstance(event, StepFinished) and event.status == "ok":
                event = StepFinished(
                    self.id, "ok", event.message.replace(" deployed to ", " restored on ", 1), data=event.data
                )
            yield event


class RollbackPlanStep:
    """Read what runs, work out what to reverse, refuse irreversible migrations (read-only)."""

    def __init__(self, env: str, backup: Callable[[], history_mod.Backup | None]) -> None:
        self.env = env
        self.id = PLAN
        self.title = f"Plan the rollback of {env}"
        self._backup = backup

    def plan(self, ctx: RunContext) -> list[Action]:
        return [
            Action("record", "read each host's commit, tag and applied migrations", self.env),
            Action("git", f"list the migrations in {ctx.tag}'s tree", "local"),
            Action("check", "ask Django on each host what migrating back would run (migrate --plan)", self.env),
        ]

    async def run(self, ctx: RunContext) -> AsyncIterator[Event]:
        plan: RollbackPlan | None = None
        async for item in build_plan(ctx, self.env, self._backup()):
            if isinstance(item, RollbackPlan):
                plan = item
            else:
                yield item
        assert plan is not None
        for line in plan.lines():
            yield OutputLine(self.id, line)
        data = plan.to_json()
        if plan.data_loss:
            ctx.note("rollback_data_loss", env=self.env, target=plan.target_tag, losses=data["data_loss"])
        if plan.refused:
            first_host, first = plan.irreversible[0]
            names = sorted({op.migration for _, op in plan.irreversible})
            backup = (
                f"restore the newest backup instead: {plan.backup.path} (pg_restore --clean), then deploy "
                f"{plan.target_tag} by hand"
                if plan.backup
                else "no database backup is recorded in the journal: restore one taken before "
                f"{plan.current_tag} was deployed, then deploy {plan.target_tag} by hand"
            )
            yield StepFinished(
                self.id,
                "failed",
                f"rollback to {plan.target_tag} refused before anything changed: {', '.join(names)} cannot be "
                f"reversed ({first.migration}: {first.description} on {first_host})",
                f"{rb.IRREVERSIBLE_MEANING} To go back: {backup}; or give the migration a reverse "
                "(reverse_code / reverse_sql) in a new release",
                data,
            )
            return
        apps = ", ".join(f"{app} → {target}" for app, target in plan.reverse.items()) or "no migration to reverse"
        lost = f"; ! {len(plan.data_loss)} reversal(s) lose data (see the warnings)" if plan.data_loss else ""
        yield StepFinished(self.id, "ok", f"{plan.current_tag or '?'} → {plan.target_tag}: {apps}{lost}", data=data)


async def build_plan(
    ctx: RunContext, env_name: str, backup: history_mod.Backup | None
) -> AsyncIterator[Event | RollbackPlan]:
    """The rollback plan to ``ctx.tag``, with progress as events; the plan comes last.

    Raises:
        IactError: A host cannot be read, git cannot list the target, Django's plan fails.
    """
    cfg = ctx.config.environments[env_name]
    app_dir = str(ctx.config.env_app_dir(env_name))
    target_tree = await rb.tree_migrations(ctx.git, ctx.tag)
    hosts = make_hosts(env_name, cfg, root=ctx.config.root)
    plan = RollbackPlan(env_name, "", "", ctx.state.version, ctx.tag, backup=backup)
    try:
        states: list[deploy_state.DeployedState] = []
        for host in hosts:
            check = f"state:{host.name}"
            yield CheckUpdate(PLAN, check, f"what {host.name} runs", "running")
            state = await deploy_state.read_deployed_state(host, app_dir, cfg.python)
            states.append(state)
            applied = sum(len(v) for v in state.migrations.values())
            yield CheckUpdate(
                PLAN, check, f"what {host.name} runs", "passed", f"{state.tag or state.commit[:12]}, {applied} applied"
            )
        first = states[0]
        plan.current_tag = first.tag or ""
        plan.current_version = versioning_version(first.tag or "", ctx.config.project.tag_prefix)
        if len({(s.commit, s.tag) for s in states}) > 1:
            plan.warnings.append(
                "the hosts run different commits: " + ", ".join(f"{s.host} {s.tag or s.commit[:12]}" for s in states)
            )
        for state in states:
            repo_apps = set(target_tree)
            try:
                repo_apps |= set(await rb.tree_migrations(ctx.git, state.commit))
            except GitError:
                plan.warnings.append(
                    f"{state.host}'s commit {state.commit[:12]} is not in this clone: only apps with migrations in "
                    f"{ctx.tag} are checked (fetch, then plan again)"
                )
            host_plan = HostPlan(
                state.host, state.commit, state.tag, rb.reversals(state.migrations, target_tree, repo_apps)
            )
            plan.hosts.append(host_plan)
            for rev in host_plan.reversals:
                plan.reverse.setdefault(rev.app, rev.target)
        for host, host_plan in zip(hosts, plan.hosts, strict=True):
            for app, target in plan.reverse.items():
                check = f"migrate:{host.name}:{app}"
                label = f"{app} back to {target} on {host.name}"
                yield CheckUpdate(PLAN, check, label, "running")
                backwards = await rb.backwards_plan(host, app_dir, cfg.python, app, target)
                host_plan.backwards.append(backwards)
                bad = backwards.irreversible
                plan.irreversible += [(host.name, op) for op in bad]
                losses = backwards.data_loss
                plan.data_loss += [(host.name, loss) for loss in losses]
                plan.warnings += [
                    f"{host.name}: data loss: reversing {loss.migration} ({loss.operation}) {loss.loss}"
                    for loss in losses
                ]
                if bad:
                    detail = "; ".join(f"{op.migration}: {op.description}" for op in bad)
                    yield CheckUpdate(PLAN, check, label, "failed", f"irreversible: {detail}")
                else:
                    count = len(backwards.migrations)
                    if losses:
                        # Reversible, but not without loss: the operator weighs it (a warning, not a pass).
                        detail = f"{len(losses)} operation(s) lose data; {count} migration(s) can be unapplied"
                        yield CheckUpdate(PLAN, check, label, "warning", detail)
                    else:
                        yield CheckUpdate(PLAN, check, label, "passed", f"{count} migration(s) can be unapplied")
    finally:
        for host in hosts:
            with contextlib.suppress(Exception):
                await host.close()
    plan.commands = rollback_commands(ctx, env_name, plan.reverse)
    current = plan.hosts[0].commit if plan.hosts else ""
    if current:
        try:
            missing = await rb.commands_missing_in_target(
                ctx.git, current, ctx.tag, [(spec.name, spec.run) for spec in cfg.post]
            )
        except GitError:
            missing = []  # the commit is not in this clone: said above
        plan.warnings += [
            f"post command '{name}' runs `manage.py {command}`, which {ctx.tag} does not have ({path} came "
            f"later): post commands run with the target's code, so it will fail after the checkout; make it "
            f"work with any release (e.g. `rm -f MAINTENANCE` instead of a management command) before rolling back"
            for name, command, path in missing
        ]
    yield plan


def _runs(running: dict[str, str]) -> str:
    """What hosts run, in a few words: ``v1.3.2 (1 host: production)`` when they agree,
    else ``different releases: web1 v1.3.2, web2 v1.3.1``."""
    tags = set(running.values())
    if len(tags) > 1:
        return "different releases: " + ", ".join(f"{host} {tag}" for host, tag in running.items())
    count = len(running)
    names = ", ".join(running)
    return f"{next(iter(tags), 'an unknown release')} ({count} host{'s' if count != 1 else ''}: {names})"


def versioning_version(tag: str, prefix: str) -> str:
    """The SemVer version of ``tag`` (prefix removed), or ``""`` when it is not one."""
    if not tag.startswith(prefix):
        return ""
    text = tag[len(prefix) :]
    try:
        semver.Version.parse(text)
    except (ValueError, TypeError):
        return ""
    return text


class RollbackRecordStep:
    """Journal the rollback and mark the rolled-back release bad."""

    def __init__(self, env: str) -> None:
        self.env = env
        self.id = RECORD
        self.title = "Record the rollback"

    def plan(self, ctx: RunContext) -> list[Action]:
        return [Action("file", "journal the rollback; mark the rolled-back release bad (never offered again)")]

    async def run(self, ctx: RunContext) -> AsyncIterator[Event]:
        plan = ctx.state.results.get(PLAN, {})
        deployed = ctx.state.results.get(f"rollback-{self.env}", {})
        verify = ctx.state.results.get("verify", {})
        from_version, from_tag = str(plan.get("current_version", "")), str(plan.get("current_tag", ""))
        ctx.note(
            "rollback",
            env=self.env,
            from_version=from_version,
            from_tag=from_tag,
            to_version=ctx.state.version,
            to_tag=ctx.tag,
            reverse=plan.get("reverse", {}),
            hosts=deployed.get("hosts", {}),
            verify={"health": verify.get("health"), "failed": verify.get("failed", [])},
        )
        yield OutputLine(self.id, f"rollback from {from_tag or '?'} to {ctx.tag} journaled")
        if from_version:
            reason = f"rolled back to {ctx.tag}"
            ctx.note("release_marked_bad", env=self.env, version=from_version, tag=from_tag, reason=reason)
            yield OutputLine(self.id, f"{from_tag} is marked bad: it is not offered as a rollback target again")
            message = f"rolled back from {from_tag} to {ctx.tag}; {from_tag} marked bad"
        else:
            message = f"rolled back to {ctx.tag} (what ran before was not a release tag: nothing marked bad)"
        yield StepFinished(self.id, "ok", message, data={"from": from_tag, "to": ctx.tag})


def rollback_steps(env: str, backup: Callable[[], history_mod.Backup | None] = lambda: None) -> list[Step]:
    """A rollback's steps on ``env``, in order: ``rollback-plan``, ``rollback-<env>``,
    ``verify``, ``rollback-record``.

    Args:
        env: The environment rolled back.
        backup: The newest database backup the journals know (the plan names it).
    """
    return [RollbackPlanStep(env, backup), RollbackDeployStep(env), VerifyStep(env), RollbackRecordStep(env)]


class RollbackRun(FlowRun):
    """One rollback of an environment (``production`` by default).

    Args:
        config: The validated config.
        state_dir: Where runs are kept (and the history is read); ``None``: platformdirs.
        env: The environment to roll back.
        record: False: no run folder and no journal (a plan only).

    Attributes:
        steps: ``rollback-plan``, ``rollback-<env>``, ``verify``, ``rollback-record``.
        records: Step id → :class:`StepRecord`.
        history: The journals' history of ``env`` (after :meth:`load`).
        hosts: Host → what it runs (after :meth:`load`).
    """

    flow = "rollback"

    def __init__(
        self, config: Config, *, state_dir: Path | None = None, env: str = "production", record: bool = True
    ) -> None:
        if env not in config.environments:
            raise ConfigError(
                f"there is no [environments.{env}] in {config.path.name} to roll back",
                f"configure [environments.{env}], or choose another environment",
            )
        super().__init__(config, flow=self.flow, state_dir=state_dir, record=record, scratch=Path("/nonexistent"))
        self.env, self.state_dir = env, state_dir
        self.history = history_mod.History(env)
        self.hosts: dict[str, deploy_state.DeployedState] = {}
        self.current_version, self.current_tag = "", ""
        self.tags: versioning.VersionInfo | None = None
        self.notes: list[str] = []
        #: A resumed run's first ``rollback_loaded`` record (:mod:`~iact_tui.engine.resume`):
        #: what the environment ran before this rollback changed it.
        self.resumed_loaded: dict[str, Any] | None = None
        self._start(rollback_steps(env, lambda: self.history.newest_backup), env=env)

    # -- what runs now, and where it can go back to ---------------------------------

    @property
    def deploy_step_id(self) -> str:
        """The id of the step that changes the hosts (``rollback-production``)."""
        return f"rollback-{self.env}"

    async def load(self) -> None:
        """Read the history (every journal), the release tags, and what each host runs.

        Changes nothing. The current release is what the first host has checked out (its
        tag); without a tag there, the journal's last deployment.

        Raises:
            IactError: A host cannot be read, or the repository's tags cannot.
        """
        prefix = self.config.project.tag_prefix
        self.history = await asyncio.to_thread(
            history_mod.read_history, self.env, prefix, self.state_dir, repo=self.config.root
        )
        self.tags = versioning.parse_tags(await self.ctx.git.tags(), prefix)
        cfg = self.config.environments[self.env]
        app_dir = str(self.config.env_app_dir(self.env))
        self.hosts, self.notes = {}, []
        for host in make_hosts(self.env, cfg, root=self.config.root):
            try:
                self.hosts[host.name] = await deploy_state.read_deployed_state(host, app_dir, cfg.python)
            finally:
                with contextlib.suppress(Exception):
                    await host.close()
        first = next(iter(self.hosts.values()))
        self.current_tag = first.tag or ""
        self.current_version = versioning_version(self.current_tag, prefix)
        before = self.resumed_loaded
        if before is not None and self.records[self.deploy_step_id].status not in {"pending", "skipped"}:
            # Resumed after the rollback step ran: the hosts may run the target by now;
            # what they ran before is the journal's (the release to mark bad).
            self.current_tag = str(before.get("current", "") or "")
            self.current_version = versioning_version(self.current_tag, prefix)
            now = ", ".join(f"{name} runs {s.tag or s.commit[:12]}" for name, s in self.hosts.items())
            self.notes.append(
                f"resumed: before this rollback {self.env} ran {self.current_tag or 'unknown'}; now {now}"
            )
        if not self.current_version and self.history.latest is not None:
            latest = self.history.latest
            self.notes.append(
                f"{first.host} runs {first.commit[:12]}, not a release tag; the journal's last deploy was {latest.tag}"
            )
            self.current_version, self.current_tag = latest.version, latest.tag
        if not self.history.deployments:
            self.notes.append("no journal records a deploy here yet: the targets are the older release tags in git")
        self.notes += self.history.notices  # torn or damaged journal lines, left out of the history
        self.state.previous_version = ""
        self.journal.write(
            "rollback_loaded",
            env=self.env,
            current=self.current_tag,
            hosts={name: s.to_json() for name, s in self.hosts.items()},
            targets=[t.tag for t in self.targets()],
            bad=sorted(self.history.bad),
        )

    def _older(self, version: str) -> bool:
        if not self.current_version:
            return True
        return semver.Version.parse(version) < semver.Version.parse(self.current_version)

    def targets(self) -> list[Target]:
        """The releases offered to go back to, best first.

        Every release tag in git older than what runs now (SemVer 2.0.0 precedence) and
        never marked bad. Those the journals record as deployed here come first (newest
        version first, with when and by which run); the other tags follow, newest first.
        A rollback marks the release it leaves bad, so after one the journals may know
        only the release running now: the older tags in git remain valid targets.

        Returns:
            The :class:`Target` list; empty when nothing older and good is tagged.
        """
        known = set(self.tags.all_tags) if self.tags else set()
        found: list[Target] = []
        for d in self.history.good_releases():
            if d.version != self.current_version and self._older(d.version) and d.tag in known:
                when = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(d.ts))
                found.append(Target(d.version, d.tag, "journal", f"deployed {when} ({d.flow}, run {d.run})"))
        journaled = {t.version for t in found}
        from_git: list[Target] = []
        for tv in self.tags.releases if self.tags else []:
            version = str(tv.version)
            if version in self.history.bad or version in journaled or version == self.current_version:
                continue
            if self._older(version):
                from_git.append(Target(version, tv.tag, "git", "release tag in git (no journal records its deploy)"))
        from_git.sort(key=lambda t: semver.Version.parse(t.version), reverse=True)
        return found + from_git

    def default_target(self) -> Target | None:
        """The newest good release before the current one, or ``None``."""
        offered = self.targets()
        return offered[0] if offered else None

    def choose_target(self, text: str) -> Target:
        """Choose the release to go back to (version or tag; journaled).

        Raises:
            VersionError: It is not a release tag in git, it is marked bad, or it is not
                older than what runs now.
        """
        prefix = self.config.project.tag_prefix
        text = text.strip()
        version = text[len(prefix) :] if prefix and text.startswith(prefix) else text
        tag = f"{prefix}{version}"
        if not versioning_version(tag, prefix):
            raise VersionError(f"{text!r} is not a SemVer release", self._offer("give one of"))
        if self.tags is None or tag not in self.tags.all_tags:
            raise VersionError(f"there is no tag {tag} in this repository", self._offer("give one of"))
        if version in self.history.bad:
            bad = self.history.bad[version]
            raise VersionError(
                f"{tag} was marked bad ({bad.get('reason') or 'rolled back'}, run {bad.get('run')})",
                f"it is not offered again; {self._offer('give one of')}",
            )
        if version == self.current_version:
            raise VersionError(f"{self.env} already runs {tag}", self._offer("give an older release"))
        if not self._older(version):
            raise VersionError(
                f"{tag} is newer than {self.current_tag}, which {self.env} runs: a rollback goes back",
                f"release it instead, or {self._offer('give an older one')}",
            )
        offered = {t.version: t for t in self.targets()}
        target = offered.get(version) or Target(version, tag, "git", "release tag in git")
        if version != self.state.version:
            if any(r.status != "pending" for sid, r in self.records.items() if sid != PLAN):
                raise VersionError("the rollback has already started: its target cannot change", "start a new run")
            self.records[PLAN] = StepRecord()
            self.state.confirmations.clear()
        self.state.version = version
        self.journal.write("rollback_target_chosen", version=version, tag=tag, source=target.source)
        if self.run_lock is not None:  # another process refused says which target
            self.run_lock.set_version(version)
        return target

    def clear_target(self) -> None:
        """Forget the chosen target (the operator went back to "no target yet"): its
        plan and typed confirmation go too, so nothing can run until one is chosen
        (journaled).

        Raises:
            VersionError: The rollback has already started: its target cannot change.
        """
        if any(r.status != "pending" for sid, r in self.records.items() if sid != PLAN):
            raise VersionError("the rollback has already started: its target cannot change", "start a new run")
        if not self.state.version:
            return
        self.state.version = ""
        self.records[PLAN] = StepRecord()
        self.state.confirmations.clear()
        self.journal.write("rollback_target_cleared")

    def _offer(self, ask: str) -> str:
        """An error's fix offering the targets: ``ask``, then each tag with its detail
        (``give one of: v1.3.1 (…); v1.3.0 (…)``); when there is none, only the sentence
        saying so and what to do instead (:meth:`no_target_text`), without ``ask``.

        Args:
            ask: What the operator should do with the list, e.g. ``give one of``.
        """
        offered = self.targets()
        if offered:
            return f"{ask}: " + "; ".join(f"{t.tag} ({t.detail})" for t in offered)
        return self.no_target_text()

    def no_target_text(self) -> str:
        """Why nothing can be offered and what to do (for an empty :meth:`targets`)."""
        running = self.current_tag or "what runs now"
        bad = ", ".join(sorted(f"{self.config.project.tag_prefix}{v}" for v in self.history.bad))
        marked = f" (marked bad: {bad})" if bad else ""
        return (
            f"there is no release older than {running} that is not marked bad{marked}; "
            "fix forward with a hotfix (`iact-tui hotfix`), or restore a database backup and deploy an "
            "older commit by hand"
        )

    def now_running(self) -> list[str]:
        """What the environment runs now, as plain lines (the screen's header, the headless
        runner's last lines).

        Before the rollback step (or when it stopped before any host): what was loaded,
        then :attr:`notes`. After it passed: the target on every host and what ran before.
        After it failed or was cancelled: that hosts may have changed, then what the step
        reported per host (rolled back, its failure, stopped, not started), then what ran
        before; nothing here claims the loaded state is still current.

        Returns:
            The first line says what runs (``production runs v1.3.2 (1 host: production)``);
            the others add to it.
        """
        tag, before = self.ctx.tag, self.current_tag or "an unknown release"
        running = {name: s.tag or s.commit[:12] for name, s in self.hosts.items()}
        rolled = self.records[self.deploy_step_id]
        outcomes = rolled.data.get("hosts") if rolled.status in {"ok", "failed", "cancelled"} else None
        if not isinstance(outcomes, dict) or not outcomes:
            return [f"{self.env} runs {_runs(running)}", *self.notes]
        if rolled.status == "ok":
            return [f"{self.env} runs {_runs(dict.fromkeys(outcomes, tag))}, rolled back from {before}"]
        lines = [f"{self.env}: the rollback to {tag} {rolled.status}; hosts may have changed. The step reported:"]
        for name, outcome in outcomes.items():
            status = outcome.get("status") if isinstance(outcome, dict) else None
            failure = outcome.get("failure") if isinstance(outcome, dict) else None
            if status == "ok":
                lines.append(f"{name}: rolled back, runs {tag}")
            elif status == "skipped":
                lines.append(f"{name}: not started, still runs {running.get(str(name), before)}")
            elif status == "cancelled":
                lines.append(f"{name}: stopped part-way by the operator; what it runs is unknown")
            elif isinstance(failure, list) and failure:
                lines.append(f"{name}: failed: {str(failure[0]).removeprefix(f'{self.env}: ')}")
            else:
                lines.append(f"{name}: {status or 'unknown'}; what it runs is unknown")
        lines.append(f"before the rollback: {before}")
        return lines

    @property
    def plan_result(self) -> dict[str, Any]:
        """The ``rollback-plan`` step's data (ok or refused), ``{}`` before it ran."""
        return dict(self.records[PLAN].data)

    # -- confirmation ------------------------------------------------------------------

    def needs_confirmation(self, step_id: str) -> bool:
        return step_id == self.deploy_step_id

    def confirm(self, step_id: str, typed: str) -> bool:
        """Record the typed target version; True when it matches (with or without prefix)."""
        ok = bool(self.state.version) and typed.strip() in {self.state.version, self.ctx.tag}
        if ok:
            self.state.confirmations[step_id] = typed.strip()
        self.journal.write("confirmation", step=step_id, accepted=ok)
        return ok

    def verify_manual_checks(self) -> tuple[tuple[str, str], ...]:
        return VERIFY_MANUAL

    def tick_verify(self, check_id: str, ticked: bool, note: str = "") -> None:
        """Tick a verification item done by hand (journaled).

        Raises:
            KeyError: ``check_id`` is not one of :meth:`verify_manual_checks`.
            RunLockLost: The run lock is lost: nothing is recorded.
        """
        self._check_input_lock()
        if check_id not in {c for c, _ in VERIFY_MANUAL}:
            raise KeyError(check_id)
        if ticked:
            self.state.verify_ticks[check_id] = note.strip()
        else:
            self.state.verify_ticks.pop(check_id, None)
        self.journal.write("verify_tick", check=check_id, ticked=ticked, note=note.strip())

    # -- steps -------------------------------------------------------------------------

    def _gate(self, step_id: str) -> None:
        """The rollback's rules: a chosen target; the plan passed for it; the typed target
        version before the rollback; the rollback done before the verification, which
        must pass before the record.

        Raises:
            VersionError, ChecklistError, ConfirmationError: What is missing and what to do.
        """
        if not self.state.version:
            raise VersionError("no rollback target chosen yet", self._offer("choose one of"))
        if step_id == PLAN:
            return
        plan = self.records[PLAN]
        if plan.status != "ok" or plan.data.get("target") != self.state.version:
            raise ChecklistError(
                f"the rollback plan to {self.ctx.tag} has not passed", "plan the rollback to this target first"
            )
        if step_id == self.deploy_step_id:
            if step_id not in self.state.confirmations:
                raise ConfirmationError(
                    f"rolling back {self.env} needs the operator to type the target version {self.state.version} first",
                    "confirm on the rollback screen, or pass --yes to the headless runner",
                )
            return
        if self.records[self.deploy_step_id].status != "ok":
            raise ChecklistError(f"{self.env} has not been rolled back yet", "run the rollback first")
        if step_id == RECORD and self.records["verify"].status != "ok":
            raise ChecklistError(
                f"the verification of {self.env} on {self.ctx.tag} has not passed",
                "look at the verification's failures, fix them, and verify again",
            )

    async def run_until(self, until: str | None = None) -> AsyncIterator[Event]:
        """Run the steps in order (those not yet ``ok``), stopping after a failure or ``until``."""
        for s in self.steps:
            if self.records[s.id].status == "ok":
                continue
            failed = False
            async for event in self.run_step(s.id):
                yield event
                failed = failed or (isinstance(event, StepFinished) and event.status == "failed")
            if failed or s.id == until:
                return

    def finish(self) -> None:
        """Journal the end of the run with each step's status, then write its
        ``report.md`` next to the journal (:mod:`iact_tui.engine.report`)."""
        self.journal.write("run_finished", steps={k: v.status for k, v in self.records.items()})
        self.release_run_lock()
        report.save_run_report(self.journal_path)

    def summary_lines(self) -> list[str]:
        """Where the rollback ended, for the wizard's exit: first ``Rollback of ENV to
        TAG: <what it did>`` (``recorded``; ``rolled back, not recorded``…; ``nothing
        changed``), then each step that ran with its status and message."""
        if not self.state.version:
            return [f"Rollback of {self.env}: no target chosen; nothing changed"]
        records, deploy = self.records, self.records[self.deploy_step_id]
        if records[RECORD].status == "ok":
            said = "recorded"
        elif deploy.status == "ok":
            verified = " and verified" if records["verify"].status == "ok" else ""
            said = f"rolled back{verified}; not recorded (the rolled-back release is not marked bad)"
        elif deploy.status in ("failed", "cancelled", "running"):
            said = f"the rollback ended {deploy.status}: hosts may have changed"
        else:
            said = "nothing changed"
        lines = [f"Rollback of {self.env} to {self.ctx.tag}: {said}"]
        lines += [
            f"{sid}: {record.status}" + (f" — {record.message}" if record.message else "")
            for sid, record in records.items()
            if record.status != "pending"
        ]
        return lines
