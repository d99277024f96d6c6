"""Resuming a release run that stopped before its end (a quit, a crash, a ``kill -9``).

This module owns three things, none of them UI:

* :func:`find_unfinished`: the newest unfinished release run of a repository in the state
  dir, read from the run journals;
* :func:`replay`: a journal's records turned back into the operator's inputs
  (:class:`~iact_tui.engine.state.RunState`) and the steps' records;
* :func:`resume_release`: a :class:`~iact_tui.engine.run.ReleaseRun` rebuilt from that
  journal, appending to the same journal (a ``run_resumed`` record first), and
  :func:`abandon`, which records that the operator chose to start a new release instead
  (``run_abandoned``), so that run is not offered again.

A run is **unfinished** when its journal has ``run_started`` with flow ``release`` and this
repository's real path, a ``version_chosen`` record, no ``run_abandoned`` record, and

* its last session (the records after the last ``run_resumed``) has no ``run_finished``
  record: the process died (a crash, ``kill -9``, a lost terminal); or
* that session's ``run_finished`` lists a step after ``preflight`` that is not ``ok`` or
  ``skipped`` while another step after ``preflight`` did run, and ``announce`` is not
  ``ok``/``skipped``: the operator quit half way (the quit dialog asked first).

A run the operator quit before any release step ran (only the version, the checklist or
the changelog were touched, so nothing changed in the repository) is not offered: the
quit dialog did not ask, and offering every such run would nag.

A step that was ``running`` when the process died (``step_started`` with no
``step_finished`` after it) comes back with the status ``interrupted`` and the output it
journaled; it is run again like a failed one. Every release step checks before acting
(a branch, commit or tag already made is reused, one elsewhere is an error naming both),
and a deploy lock this run took and never released is released by its token before the
deploy runs again (``deploy_lock_taken`` records).
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from iact_tui.config import Config
from iact_tui.engine.events import CheckUpdate, CommandUpdate
from iact_tui.engine.journal import Journal, read_journal, state_root
from iact_tui.engine.report import RUN_LOCK_KINDS
from iact_tui.engine.run import FlowRun, ReleaseRun
from iact_tui.engine.state import VERIFY_MANUAL, RunState
from iact_tui.engine.step import StepRecord
from iact_tui.errors import IactError

if TYPE_CHECKING:
    from iact_tui.engine.steps.deploy import DeployStep

#: The status a step gets when the process died while it ran.
INTERRUPTED = "interrupted"

#: A step that passed but whose gate for the next step is not met (verification passed
#: with an item done by hand not ticked): the resumed run opens on its stage.
INCOMPLETE = "incomplete"

#: The ``stopped_status`` of a run whose every step passed but whose end was never
#: journaled (:func:`find_unended`).
ENDED = "ended"

#: Statuses after which the release may go on past a step.
_PASSED = frozenset({"ok", "skipped"})

#: Journaled output lines kept per interrupted step (the newest ones).
MAX_OUTPUT_LINES = 2000


@dataclass
class Replayed:
    """What a journal says about a release run, rebuilt record by record.

    Attributes:
        state: The operator's inputs and the results of the steps that passed.
        records: Step id → its last status, message, fix, data and attempts; a step
            that was running when the journal ends is ``interrupted``.
        output: Step id → the output lines journaled by its last attempt (``stream``,
            ``text``, ``host``), the newest :data:`MAX_OUTPUT_LINES`.
        locks: ``env/host`` → the deploy lock (``path``, ``owner``, ``since``,
            ``version``, ``reason``, ``token``) taken by a deploy attempt that never
            finished, so never released.
        finished: The last session's ``run_finished`` step statuses; ``None`` when the
            last session has none (the process died).
        abandoned: A ``run_abandoned`` record is in the journal.
        started: The ``run_started`` record (empty when missing).
        last_ts: The time of the last record, in Unix seconds.
        attempt_ts: Step id → when its last attempt started (its last ``step_started``),
            in Unix seconds.
        still_running: ``env/host`` → one line per command of an interrupted deploy
            still running on that SSH host (filled by :func:`resume_release`).
        checks: Step id → check id → the last ``check`` record of its last attempt
            (``check_id``, ``label``, ``status``, ``detail``, ``data``), in first-seen
            order: a resumed screen shows the checks of a step that passed.
        commands: Step id → ``host#index`` → the last ``command`` record of its last
            attempt (``host``, ``index``, ``name``, ``phase``, ``status``, ``seconds``,
            ``detail``): a resumed screen shows its commands table.
        loaded: A hotfix's or rollback's first ``hotfix_loaded``/``rollback_loaded``
            record: what production ran and which hotfix version and branch were chosen;
            what the environment ran before the rollback. A resumed run keeps these (read
            again, production would run the hotfix or the rollback's target by then).
        origin_branch: A hotfix's ``hotfix_origin``: the branch checked out before the
            hotfix branch (checked out again on leaving); ``None``: not journaled.
        acknowledged_plans: Environment → the rollback plan lines the operator
            acknowledged (``rollback_plan_acknowledged``).
    """

    state: RunState = field(default_factory=RunState)
    records: dict[str, StepRecord] = field(default_factory=dict)
    output: dict[str, list[dict[str, str]]] = field(default_factory=dict)
    checks: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)
    locks: dict[str, dict[str, str]] = field(default_factory=dict)
    finished: dict[str, str] | None = None
    abandoned: bool = False
    started: dict[str, Any] = field(default_factory=dict)
    last_ts: float = 0.0
    attempt_ts: dict[str, float] = field(default_factory=dict)
    still_running: dict[str, list[str]] = field(default_factory=dict)
    commands: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)
    loaded: dict[str, Any] = field(default_factory=dict)
    origin_branch: str | None = None
    acknowledged_plans: dict[str, list[str]] = field(default_factory=dict)


def replay(records: list[dict[str, Any]], tag_prefix: str = "v") -> Replayed:
    """Rebuild a release run's inputs and step records from its journal records.

    Args:
        records: The journal's records in order (:func:`~iact_tui.engine.journal.read_journal`).
        tag_prefix: The project's tag prefix, for ``state.previous_tag``.

    Returns:
        The :class:`Replayed` run. Inputs journaled without their text by older versions
        (``changelog_edited`` and ``pr_body_edited`` with only ``chars``) stay unset.
    """
    out = Replayed()
    state = out.state
    for rec in records:
        kind = rec.get("kind")
        out.last_ts = float(rec.get("ts", out.last_ts) or out.last_ts)
        if kind == "run_started":
            out.started = rec
            for sid in rec.get("steps", []):
                out.records.setdefault(str(sid), StepRecord())
        elif kind == "run_resumed":
            out.finished = None
        elif kind == "run_finished":
            out.finished = {str(k): str(v) for k, v in dict(rec.get("steps", {})).items()}
        elif kind == "run_abandoned":
            out.abandoned = True
        elif kind in {"hotfix_loaded", "rollback_loaded"}:
            _loaded(out, rec)
        elif kind == "hotfix_origin" and out.origin_branch is None:
            out.origin_branch = str(rec.get("branch", "") or "")
        elif kind == "rollback_plan_acknowledged":
            out.acknowledged_plans[str(rec.get("env", ""))] = [str(line) for line in rec.get("plan") or []]
            _rollback_ack(state, rec)
        elif kind in _STEP_KINDS:
            _STEP_KINDS[kind](out, rec)
        elif kind in _INPUT_KINDS:
            _INPUT_KINDS[kind](state, rec)
    if state.previous_version:
        state.previous_tag = f"{tag_prefix}{state.previous_version}"
    flow = str(out.started.get("flow", "release") or "release")
    for sid, record in out.records.items():
        if record.status == "running":
            record.status = INTERRUPTED
            record.message = f"{record.message or sid}: interrupted (iact-tui stopped while it ran)"
            record.fix = f"run it again (r in the wizard; run {flow} --resume headless): it checks what is done first"
            if _deploy_env(sid) is not None:
                record.message += "; the hosts may still be in maintenance mode with the deploy lock held"
                record.fix = (
                    f"r runs the deploy again (run {flow} --resume headless), which takes the lock back and "
                    "ends maintenance mode"
                )
    return out


def _deploy_env(step_id: str) -> str | None:
    """The environment a step deploys to: ``deploy-staging`` → ``staging``; a rollback's
    ``rollback-production`` → ``production``; ``None`` for any other step."""
    if step_id.startswith("deploy-"):
        return step_id.removeprefix("deploy-")
    if step_id.startswith("rollback-") and step_id not in {"rollback-plan", "rollback-record"}:
        return step_id.removeprefix("rollback-")
    return None


def _loaded(out: Replayed, rec: dict[str, Any]) -> None:
    """A hotfix's or rollback's ``*_loaded`` record: the first one is what ran before the
    run changed anything (a hotfix's version and branch are chosen by it)."""
    if out.loaded:
        return
    out.loaded = {k: v for k, v in rec.items() if k != "ts"}
    if rec.get("kind") == "hotfix_loaded":
        state = out.state
        state.version, state.bump = str(rec.get("version", "")), "patch"


# -- step records -----------------------------------------------------------------------


def _step_started(out: Replayed, rec: dict[str, Any]) -> None:
    sid = str(rec.get("step_id", ""))
    record = out.records.setdefault(sid, StepRecord())
    record.status, record.message, record.fix = "running", str(rec.get("title", sid)), ""
    record.attempts += 1
    out.output[sid] = []
    out.checks[sid] = {}
    out.commands[sid] = {}
    out.attempt_ts[sid] = float(rec.get("ts", out.last_ts) or out.last_ts)


def _check(out: Replayed, rec: dict[str, Any]) -> None:
    fields = {k: rec.get(k) for k in ("check_id", "label", "status", "detail", "data")}
    out.checks.setdefault(str(rec.get("step_id", "")), {})[str(rec.get("check_id", ""))] = fields


def _command(out: Replayed, rec: dict[str, Any]) -> None:
    fields = {k: rec.get(k) for k in ("host", "index", "name", "phase", "status", "seconds", "detail")}
    out.commands.setdefault(str(rec.get("step_id", "")), {})[f"{rec.get('host')}#{rec.get('index')}"] = fields


def _output(out: Replayed, rec: dict[str, Any]) -> None:
    lines = out.output.setdefault(str(rec.get("step_id", "")), [])
    lines.append(
        {
            "stream": str(rec.get("stream", "stdout")),
            "text": str(rec.get("text", "")),
            "host": str(rec.get("host", "") or ""),
        }
    )
    if len(lines) > MAX_OUTPUT_LINES:
        del lines[: len(lines) - MAX_OUTPUT_LINES]


def _step_finished(out: Replayed, rec: dict[str, Any]) -> None:
    sid = str(rec.get("step_id", ""))
    record = out.records.setdefault(sid, StepRecord())
    record.status = str(rec.get("status", "failed"))
    record.message, record.fix = str(rec.get("message", "")), str(rec.get("fix", ""))
    record.data = dict(rec.get("data") or {})
    attempt = record.data.get("attempt")
    if isinstance(attempt, int):
        record.attempts = max(record.attempts, attempt)
    if record.status == "ok":
        out.state.results[sid] = dict(record.data)
    else:
        out.state.results.pop(sid, None)
    env = _deploy_env(sid)
    if env is not None:
        for key in [k for k in out.locks if k.startswith(f"{env}/")]:
            del out.locks[key]  # the step released them (or said why not)


def _lock_taken(out: Replayed, rec: dict[str, Any]) -> None:
    fields = ("path", "owner", "since", "version", "reason", "token")
    out.locks[f"{rec.get('env')}/{rec.get('host')}"] = {k: str(rec.get(k, "")) for k in fields}


def _announcement_edited(out: Replayed, rec: dict[str, Any]) -> None:
    data = out.state.results.get("announce")
    if data is not None and "text" in rec:
        data.update(markdown=str(rec["text"]), edited=bool(rec.get("edited")))
        out.records["announce"].data.update(markdown=str(rec["text"]), edited=bool(rec.get("edited")))


def _announcement_sent(out: Replayed, rec: dict[str, Any]) -> None:
    data = out.state.results.get("announce")
    if data is not None:
        send = {k: v for k, v in rec.items() if k not in {"ts", "kind", "text"}}
        data["send"] = send
        out.records["announce"].data["send"] = send


_STEP_KINDS = {
    "step_started": _step_started,
    "output": _output,
    "check": _check,
    "command": _command,
    "step_finished": _step_finished,
    "deploy_lock_taken": _lock_taken,
    "announcement_edited": _announcement_edited,
    "announcement_sent": _announcement_sent,
    "announcement_send_failed": _announcement_sent,
}


# -- operator inputs --------------------------------------------------------------------


def _version_chosen(state: RunState, rec: dict[str, Any]) -> None:
    version = str(rec.get("version", ""))
    if state.version and version != state.version:
        state.changelog_body = None  # as ReleaseRun._set_version: a new version, a new draft
    state.version, state.bump = version, str(rec.get("bump", ""))
    state.previous_version = str(rec.get("previous", "") or "")


def _tick(state: RunState, rec: dict[str, Any]) -> None:
    check = str(rec.get("check", ""))
    if rec.get("ticked"):
        state.ticks.add(check)
    else:
        state.ticks.discard(check)


def _verify_tick(state: RunState, rec: dict[str, Any]) -> None:
    check = str(rec.get("check", ""))
    if rec.get("ticked"):
        state.verify_ticks[check] = str(rec.get("note", ""))
    else:
        state.verify_ticks.pop(check, None)


def _changelog(state: RunState, rec: dict[str, Any]) -> None:
    if "body" in rec:
        state.changelog_body = None if rec["body"] is None else str(rec["body"])


def _pr_body(state: RunState, rec: dict[str, Any]) -> None:
    if "body" in rec:
        state.pr_body = None if rec["body"] is None else str(rec["body"])


def _target_chosen(state: RunState, rec: dict[str, Any]) -> None:
    version = str(rec.get("version", ""))
    if version != state.version:
        state.confirmations.clear()  # as RollbackRun.choose_target: a new target, a new confirmation
    state.version = version


def _target_cleared(state: RunState, rec: dict[str, Any]) -> None:
    state.version = ""
    state.confirmations.clear()


def _hotfix_changelog(state: RunState, rec: dict[str, Any]) -> None:
    if isinstance(rec.get("body"), str) and rec.get("version") == state.version:
        state.changelog_body = str(rec["body"])


def _confirmation(state: RunState, rec: dict[str, Any]) -> None:
    if rec.get("accepted"):
        state.confirmations[str(rec.get("step", ""))] = state.version


def _mismatch(state: RunState, rec: dict[str, Any]) -> None:
    state.accept_version_mismatch = bool(rec.get("accepted"))


def _maintenance(state: RunState, rec: dict[str, Any]) -> None:
    state.keep_maintenance[str(rec.get("env", ""))] = bool(rec.get("keep_on_failure"))


def _rollback_ack(state: RunState, rec: dict[str, Any]) -> None:
    state.prep[f"{rec.get('env')}:rollback-ack"] = "yes"


def _prep_skip(state: RunState, rec: dict[str, Any]) -> None:
    state.prep[f"{rec.get('env')}:{rec.get('item')}-skip"] = str(rec.get("reason", ""))


def _log_marks(state: RunState, rec: dict[str, Any]) -> None:
    env, host = str(rec.get("env", "")), str(rec.get("host", ""))
    state.log_marks.setdefault(env, {})[host] = dict(rec.get("marks") or {})


def _log_marks_failed(state: RunState, rec: dict[str, Any]) -> None:
    env, host = str(rec.get("env", "")), str(rec.get("host", ""))
    state.log_marks.setdefault(env, {})[host] = {
        "host": host,
        "taken_at": rec.get("since"),
        "files": {},
        "missing": [],
        "error": str(rec.get("error", "")),
    }


def _maintenance_window(state: RunState, rec: dict[str, Any]) -> None:
    env, host = str(rec.get("env", "")), str(rec.get("host", ""))
    marks = state.log_marks.setdefault(env, {}).setdefault(host, {})
    windows: list[dict[str, Any]] = marks.setdefault("maintenance", [])
    window = {k: v for k, v in rec.items() if k not in {"ts", "kind", "step", "env", "host", "window"}}
    index = int(rec.get("window", len(windows) + 1)) - 1
    if 0 <= index < len(windows):
        windows[index] = window
    else:
        windows.append(window)


def _deployed_state(state: RunState, rec: dict[str, Any]) -> None:
    found = rec.get("state")
    if isinstance(found, dict):  # the first record of a step's host is what it ran before the run
        state.deployed_before.setdefault(f"{rec.get('step')}/{rec.get('host')}", dict(found))


_INPUT_KINDS = {
    "version_chosen": _version_chosen,
    "tick": _tick,
    "verify_tick": _verify_tick,
    "changelog_edited": _changelog,
    "pr_body_edited": _pr_body,
    "confirmation": _confirmation,
    "version_mismatch_accepted": _mismatch,
    "maintenance_choice": _maintenance,
    "rollback_plan_acknowledged": _rollback_ack,
    "rollback_target_chosen": _target_chosen,
    "rollback_target_cleared": _target_cleared,
    "hotfix_changelog_saved": _hotfix_changelog,
    "prep_skip_requested": _prep_skip,
    "log_marks": _log_marks,
    "log_marks_failed": _log_marks_failed,
    "maintenance_window": _maintenance_window,
    "deployed_state": _deployed_state,
}


def read_records(path: Path) -> list[dict[str, Any]]:
    """Every complete record of a journal (a torn last line is left out). Blocking.

    Raises:
        OSError: The file cannot be read.
    """
    read: Any = read_journal(path)
    # read_journal returns the records, or an object carrying them with notices.
    return list(getattr(read, "records", read))


def check_updates(checks: dict[str, dict[str, dict[str, Any]]], step_id: str) -> list[CheckUpdate]:
    """The journaled checks of ``step_id``'s last attempt (:attr:`Replayed.checks`) as the
    events a screen shows them by.

    Args:
        checks: Step id → check id → the check's fields.
        step_id: The step.
    """
    found: list[CheckUpdate] = []
    for fields in checks.get(step_id, {}).values():
        data = fields.get("data")
        found.append(
            CheckUpdate(
                step_id,
                str(fields.get("check_id") or ""),
                str(fields.get("label") or ""),
                fields.get("status") or "passed",
                str(fields.get("detail") or ""),
                data if isinstance(data, dict) else {},
            )
        )
    return found


def command_updates(commands: dict[str, dict[str, dict[str, Any]]], step_id: str) -> list[CommandUpdate]:
    """The journaled deploy commands of ``step_id``'s last attempt (:attr:`Replayed.commands`)
    as the events a screen's commands table shows them by; a damaged record is left out
    (the journal keeps it).

    Args:
        commands: Step id → ``host#index`` → the command's fields.
        step_id: The step.
    """
    found: list[CommandUpdate] = []
    for fields in commands.get(step_id, {}).values():
        try:
            found.append(
                CommandUpdate(
                    step_id,
                    str(fields.get("host") or ""),
                    int(fields.get("index") or 0),
                    str(fields.get("name") or ""),
                    str(fields.get("phase") or ""),
                    fields.get("status") or "pending",
                    float(fields.get("seconds") or 0.0),
                    str(fields.get("detail") or ""),
                )
            )
        except (TypeError, ValueError):
            continue
    return found


# -- finding one ------------------------------------------------------------------------


@dataclass(frozen=True)
class UnfinishedRun:
    """A release run that can be resumed.

    Attributes:
        journal: Its journal file (``<state>/runs/<id>/journal.jsonl``).
        version: The version being released, e.g. ``"1.4.0"``.
        tag: Its tag, e.g. ``"v1.4.0"``.
        stopped_at: The first step not ``ok``/``skipped`` (its id), e.g. ``"deploy-staging"``.
        stopped_title: That step's title, e.g. ``"Deploy to staging"``.
        stopped_status: Its status: ``interrupted``, ``failed``, ``cancelled``, ``pending`` or ``incomplete`` (verification passed, a tick missing).
        last_ts: When the journal was last written, in Unix seconds.
        crashed: True when the process died (no ``run_finished``); False when the operator quit.
        flow: ``release``, ``hotfix`` or ``rollback``.
        env: A rollback's environment (``""`` for the other flows).
    """

    journal: Path
    version: str
    tag: str
    stopped_at: str
    stopped_title: str
    stopped_status: str
    last_ts: float
    crashed: bool
    flow: str = "release"
    env: str = ""

    @property
    def run_dir(self) -> Path:
        """The run's folder."""
        return self.journal.parent

    @property
    def subject(self) -> str:
        """What the run does, for the operator: ``release v1.4.0``, ``hotfix v1.4.1``,
        ``rollback of production to v1.3.0``."""
        if self.flow == "rollback":
            return f"rollback of {self.env} to {self.tag}"
        return f"{self.flow} {self.tag}"

    def offer(self, now: float | None = None) -> str:
        """The Welcome screen's line: ``Resume release v1.4.0 (stopped at Deploy to
        staging, 12 min ago)``; ``(next step: Create release branch, ...)`` when that step
        had not started (the operator was between steps, e.g. editing the changelog).

        Args:
            now: The current Unix time in seconds; ``None``: the clock.
        """
        where = "next step:" if self.stopped_status == "pending" else "stopped at"
        return f"Resume {self.subject} ({where} {self.stopped_title}, {ago((now or time.time()) - self.last_ts)})"


def ago(seconds: float) -> str:
    """``just now``, ``12 min ago``, ``3 h ago``, ``2 days ago`` for an age in seconds."""
    if seconds < 60:
        return "just now"
    if seconds < 3600:
        return f"{int(seconds // 60)} min ago"
    if seconds < 2 * 86400:
        return f"{int(seconds // 3600)} h ago"
    return f"{int(seconds // 86400)} days ago"


def _titles(config: Config, flow: str = "release", env: str = "") -> dict[str, str]:
    """Step id → title of ``flow`` (a rollback's on ``env``)."""
    if flow == "hotfix":
        from iact_tui.engine.hotfix import hotfix_steps

        return {s.id: s.title for s in hotfix_steps()}
    if flow == "rollback":
        from iact_tui.engine.rollback import rollback_steps

        return {s.id: s.title for s in rollback_steps(env)}
    from iact_tui.engine import flows

    return {s.id: s.title for s in flows.release_flow(config)}


#: The flows whose runs can be resumed.
FLOWS: tuple[str, ...] = ("release", "hotfix", "rollback")

#: A hotfix's steps that change nothing anyone else sees (a local branch, the checks): a
#: hotfix that stopped before any other step ran is not offered (made again, it reuses
#: its branch).
_HOTFIX_LOCAL = frozenset({"hotfix-branch", "hotfix-checks"})


def _judge_flow(
    flow: str, found: Replayed, config: Config, journal: Path, statuses: dict[str, str]
) -> UnfinishedRun | None:
    """:func:`judge` for a hotfix or a rollback (see :func:`judge`)."""
    env = str(found.started.get("env", "") or "") if flow == "rollback" else ""
    if flow == "rollback":
        deploy, last = f"rollback-{env}", "rollback-record"
        if statuses.get(deploy, "pending") in {"pending", "skipped"}:
            return None  # only the plan ran: nothing changed on the hosts
    else:
        last = "backport"
        if not any(s != "pending" for sid, s in statuses.items() if sid not in _HOTFIX_LOCAL):
            return None  # nothing pushed, tagged or deployed yet
    if statuses.get(last) in _PASSED:
        return None
    return _stopped(found, config, journal, statuses, flow, env)


def _stopped(
    found: Replayed, config: Config, journal: Path, statuses: dict[str, str], flow: str = "release", env: str = ""
) -> UnfinishedRun:
    """The :class:`UnfinishedRun` of a run :func:`judge` found unfinished: the first step
    not ``ok``/``skipped`` is where it stopped (a passed verification whose items done
    by hand are not both ticked counts as :data:`INCOMPLETE`: the next step waits)."""
    if statuses.get("verify") == "ok" and not all(c in found.state.verify_ticks for c, _ in VERIFY_MANUAL):
        statuses["verify"] = INCOMPLETE
    titles = _titles(config, flow, env)
    stopped = next((sid for sid, s in statuses.items() if s not in _PASSED), "")
    return UnfinishedRun(
        journal=journal,
        version=found.state.version,
        tag=f"{config.project.tag_prefix}{found.state.version}",
        stopped_at=stopped,
        stopped_title=titles.get(stopped, stopped),
        stopped_status=statuses.get(stopped, "pending"),
        last_ts=found.last_ts,
        crashed=found.finished is None,
        flow=flow,
        env=env,
    )


def judge(
    records: list[dict[str, Any]], config: Config, journal: Path, flows: tuple[str, ...] = ("release",)
) -> UnfinishedRun | None:
    """Whether one journal's run is an unfinished run of ``config``'s repository.

    A release: see the module docstring. A rollback is unfinished once its rollback step
    ran (the hosts may have changed) while its ``rollback-record`` step has not passed
    (the release it left is not marked bad). A hotfix is unfinished once a step after
    its branch and checks ran (something was committed, pushed, tagged or deployed)
    while its ``backport`` has not passed. Either counts whether the process died or the
    operator quit (the quit dialog asked).

    Args:
        records: The journal's records.
        config: The validated config (its ``root`` is compared by real path).
        journal: The journal file (kept in the answer).
        flows: The flows to consider (of :data:`FLOWS`).

    Returns:
        The :class:`UnfinishedRun`, or ``None`` when it is another repository's or flow's,
        finished, abandoned, never chose a version, or was quit before it started (see
        the module docstring).
    """
    started = next((r for r in records if r.get("kind") == "run_started"), None)
    if started is None or started.get("flow") not in flows:
        return None
    try:
        same = Path(str(started.get("repo", ""))).resolve() == config.root.resolve()
    except OSError:
        return None
    if not same:
        return None
    found = replay(records, config.project.tag_prefix)
    if found.abandoned or not found.state.version:
        return None
    statuses = {sid: r.status for sid, r in found.records.items()}
    flow = str(started.get("flow"))
    if flow != "release":
        return _judge_flow(flow, found, config, journal, statuses)
    if found.finished is not None and found.finished.get("announce") in _PASSED:
        return None  # the run said so itself when it ended
    if statuses.get("announce") in _PASSED or (statuses and all(s in _PASSED for s in statuses.values())):
        return None
    ran = any(s != "pending" for sid, s in statuses.items() if sid != "preflight")
    if found.finished is not None and not ran:
        return None  # quit before the release started: nothing changed, nothing to resume
    return _stopped(found, config, journal, statuses)


def find_unfinished(
    config: Config,
    state_dir: Path | None = None,
    *,
    skip: Path | None = None,
    flows: tuple[str, ...] = ("release",),
    env: str | None = None,
) -> UnfinishedRun | None:
    """The newest unfinished run of ``config``'s repository (blocking file reads: call it
    in a thread from the UI).

    Args:
        config: The validated config.
        state_dir: Where runs are kept; ``None``: platformdirs' user state dir.
        skip: A journal not to consider (the run the app just started).
        flows: The flows to look for (of :data:`FLOWS`); a release by default.
        env: Only a rollback of this environment (``None``: any).

    Returns:
        The newest run (by the time of its ``run_started``, then its folder name) that
        :func:`judge` calls unfinished and no newer run makes stale (``_Newer``);
        ``None`` when there is none.
    """
    runs = state_root(state_dir) / "runs"
    if not runs.is_dir():
        return None
    read: list[tuple[float, str, Path, list[dict[str, Any]]]] = []
    for folder in runs.iterdir():
        journal = folder / "journal.jsonl"
        if journal == skip or not journal.is_file():
            continue
        try:
            records = read_records(journal)
        except OSError:
            continue
        started = next((float(r.get("ts") or 0.0) for r in records if r.get("kind") == "run_started"), 0.0)
        read.append((started, folder.name, journal, records))
    # Newest first by when each run started: folder names have a one-second resolution,
    # and two runs of the same second sort by their random suffix.
    read.sort(key=lambda item: (item[0], item[1]), reverse=True)
    newer = _Newer()
    for _started, _name, journal, records in read:
        found = judge(records, config, journal, flows)
        if (
            found is not None
            and (env is None or found.flow != "rollback" or found.env == env)
            and not newer.supersede(found)
        ):
            return found
        newer.note(records, config)
    return None


@dataclass
class _Newer:
    """What the runs newer than a candidate did, for :meth:`supersede` (this repository's
    runs only).

    Attributes:
        bad: Versions a newer run marked bad (``release_marked_bad``).
        versions: ``(flow, version)`` of newer hotfix runs that ran a step past the
            branch and the checks (choosing
            Hotfix again makes the same version on the same branch: that run goes on with
            it). A release is resumed in its own run, or left for good first.
        rollbacks: Environments a newer rollback ran its rollback step on.
    """

    bad: set[str] = field(default_factory=set)
    versions: set[tuple[str, str]] = field(default_factory=set)
    rollbacks: set[str] = field(default_factory=set)

    def note(self, records: list[dict[str, Any]], config: Config) -> None:
        """Take in one run (older than those noted before)."""
        started = next((r for r in records if r.get("kind") == "run_started"), None)
        if started is None:
            return
        try:
            if Path(str(started.get("repo", ""))).resolve() != config.root.resolve():
                return
        except OSError:
            return
        self.bad.update(str(r.get("version", "")) for r in records if r.get("kind") == "release_marked_bad")
        flow = str(started.get("flow", ""))
        if flow not in FLOWS:
            return
        found = replay(records, config.project.tag_prefix)
        ran = {sid for sid, r in found.records.items() if r.status != "pending"}
        if flow == "rollback":
            env = str(started.get("env", "") or "")
            if f"rollback-{env}" in ran:
                self.rollbacks.add(env)
        elif flow == "hotfix" and ran - _HOTFIX_LOCAL and found.state.version:
            self.versions.add((flow, found.state.version))

    def supersede(self, found: UnfinishedRun) -> bool:
        """Whether a newer run makes ``found`` stale: its version was marked bad since (a
        resume would deploy it again), the same hotfix was run again, or a
        newer rollback of the same environment ran."""
        if found.flow == "rollback":
            return found.env in self.rollbacks
        return found.version in self.bad or (found.flow, found.version) in self.versions


def find_unended(config: Config, state_dir: Path | None = None) -> UnfinishedRun | None:
    """The newest release run of ``config``'s repository when every step of it passed but
    the process died before its end was written (a ``kill -9`` right after the
    announcement): no ``run_finished`` record after its last ``run_resumed``, or no
    ``report.md`` (killed while writing it). :func:`find_unfinished` does not offer it (nothing is left to run);
    resuming it only journals the end and writes the report. Blocking file reads.

    Args:
        config: The validated config.
        state_dir: Where runs are kept; ``None``: platformdirs' user state dir.

    Returns:
        The run with ``stopped_at`` ``"announce"`` and ``stopped_status`` :data:`ENDED`;
        ``None`` when the newest release run of this repository is not such a run.
    """
    runs = state_root(state_dir) / "runs"
    if not runs.is_dir():
        return None
    for folder in sorted(runs.iterdir(), reverse=True):
        journal = folder / "journal.jsonl"
        try:
            records = read_records(journal) if journal.is_file() else []
        except OSError:
            continue
        started = next((r for r in records if r.get("kind") == "run_started"), None)
        if started is None or started.get("flow") != "release":
            continue
        try:
            if Path(str(started.get("repo", ""))).resolve() != config.root.resolve():
                continue
        except OSError:
            continue
        found = replay(records, config.project.tag_prefix)
        if not found.state.version:
            continue  # a wizard opened and quit: look further back
        statuses = [r.status for r in found.records.values()]
        if found.abandoned or not statuses or any(s not in _PASSED for s in statuses):
            return None
        if found.finished is not None and (folder / "report.md").is_file():
            return None  # it ended as it should
        return UnfinishedRun(
            journal=journal,
            version=found.state.version,
            tag=f"{config.project.tag_prefix}{found.state.version}",
            stopped_at="announce",
            stopped_title=_titles(config).get("announce", "announce"),
            stopped_status=ENDED,
            last_ts=found.last_ts,
            crashed=found.finished is None,
        )
    return None


# -- resuming and abandoning ------------------------------------------------------------


def _apply(run: FlowRun, found: Replayed) -> None:
    """Put a replayed state and records into ``run`` (the context keeps its state object)."""
    state = run.state
    for name in state.__dataclass_fields__:
        if name not in {"unreleased_locks", "flow"}:
            setattr(state, name, getattr(found.state, name))
    for sid in run.records:
        if sid in found.records:
            run.records[sid] = found.records[sid]


def _leftover_locks(run: FlowRun, locks: dict[str, dict[str, str]]) -> None:
    """Hand the deploy locks a killed attempt left on its hosts to the deploy step, which
    releases each by its token (only if it is still this run's) before taking a new one."""
    from datetime import UTC, datetime

    from iact_tui.services import deploy_lock
    from iact_tui.services.remote import make_hosts

    for key, lock in locks.items():
        env, _, host_name = key.partition("/")
        cfg = run.config.environments.get(env)
        if cfg is None or not lock.get("token"):
            continue
        try:
            host = next(h for h in make_hosts(env, cfg, root=run.config.root) if h.name == host_name)
            since = datetime.strptime(lock["since"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
        except (StopIteration, ValueError, KeyError, IactError):
            continue  # a lock that cannot be rebuilt stays held: the deploy says whose it is
        info = deploy_lock.LockInfo(
            owner=lock["owner"], since=since, version=lock["version"], reason=lock["reason"], token=lock["token"]
        )
        run.state.unreleased_locks[key] = deploy_lock.DeployLock(host, lock["path"], info)


async def resume_release(config: Config, unfinished: UnfinishedRun) -> tuple[ReleaseRun, Replayed]:
    """Rebuild the release run of ``unfinished`` and go on writing its journal.

    The tags are read again (:meth:`ReleaseRun.load_versions`) but the previous release
    is the one the journal chose against (after the ``tag`` step the newest tag is this
    release's own). The repository's run lock is taken first (a stale one, left by the
    process that died, is taken over and journaled). ``run_resumed`` is journaled with
    this process's pid.

    Args:
        config: The validated config.
        unfinished: From :func:`find_unfinished`.

    Returns:
        The run (its records hold ``interrupted`` for a step that was running) and the
        replay (the interrupted steps' output in ``output``).

    Raises:
        RunLockHeld: Another live iact-tui (or one on another host) works on the repository.
        GitError: The repository's tags cannot be read.
        OSError: The journal cannot be read or appended to.
    """
    import asyncio

    records = await asyncio.to_thread(read_records, unfinished.journal)
    found = replay(records, config.project.tag_prefix)
    run = ReleaseRun(config, record=False)
    run.run_dir = run.ctx.run_dir = unfinished.run_dir
    await run.load_versions()
    await _go_on(run, unfinished, found)
    return run, found


async def _go_on(run: FlowRun, unfinished: UnfinishedRun, found: Replayed) -> None:
    """Make ``run`` (built with ``record=False``) the run of ``unfinished`` again: its
    journal, the repository's run lock (a stale one taken over and journaled), the
    replayed inputs and records, the deploy locks a killed attempt left, ``run_resumed``,
    then the locks and remote commands the journal does not know of.

    Raises:
        RunLockHeld: Another live iact-tui (or one on another host) works on the repository.
        OSError: The journal cannot be appended to.
    """
    import asyncio

    run.run_dir = run.ctx.run_dir = unfinished.run_dir
    run.journal = Journal(unfinished.journal)
    run.ctx.note = run.journal.write
    try:
        run.lock_repository(unfinished.run_dir.parent.parent)  # <state>/runs/<run>
    except IactError:
        run.journal.close()
        raise
    _apply(run, found)
    if run.run_lock is not None and run.state.version:
        # The lock was taken before the version was known (or by the fresh run this
        # process made first): another iact-tui refused says which run is going on.
        await asyncio.to_thread(run.run_lock.set_version, run.state.version)
    _leftover_locks(run, found.locks)
    interrupted = [sid for sid, r in run.records.items() if r.status == INTERRUPTED]
    run.journal.write(
        "run_resumed",
        pid=os.getpid(),
        version=run.state.version,
        stopped_at=unfinished.stopped_at,
        interrupted=interrupted,
        locks=sorted(found.locks),
    )
    await _unrecorded_locks(run, found)
    await _orphaned_commands(run, found)


async def resume_flow(config: Config, unfinished: UnfinishedRun) -> tuple[FlowRun, Replayed]:
    """Rebuild the run of ``unfinished`` (a release, a hotfix or a rollback) and go on
    writing its journal.

    A release: :func:`resume_release`. A hotfix or a rollback is rebuilt the same way:
    the run lock is taken (a stale one taken over and journaled), every input replayed
    (a rollback's target and typed confirmation, a hotfix's changelog section, the
    acknowledged rollback plan, the production prep's answers, the verification ticks
    and notes), a step that was running comes back ``interrupted``, the deploy locks a
    killed attempt left are handed to the deploy step, the commands it left running on
    SSH hosts are looked for, and ``run_resumed`` is journaled. The run keeps what its
    first load journaled (:attr:`~iact_tui.engine.hotfix.HotfixRun.resumed_loaded`,
    :attr:`~iact_tui.engine.rollback.RollbackRun.resumed_loaded`): by now production may
    run the hotfix, or the rollback's target. Call the run's ``load`` next, as for a new one.

    Args:
        config: The validated config.
        unfinished: From :func:`find_unfinished`.

    Returns:
        The run (a :class:`ReleaseRun`, :class:`~iact_tui.engine.hotfix.HotfixRun` or
        :class:`~iact_tui.engine.rollback.RollbackRun`) and the replay.

    Raises:
        RunLockHeld: Another live iact-tui (or one on another host) works on the repository.
        ConfigError: The rollback's environment is no longer configured.
        GitError: The repository's tags cannot be read.
        OSError: The journal cannot be read or appended to.
    """
    import asyncio

    if unfinished.flow == "release":
        return await resume_release(config, unfinished)
    from iact_tui.engine.hotfix import HotfixRun
    from iact_tui.engine.rollback import RollbackRun

    records = await asyncio.to_thread(read_records, unfinished.journal)
    found = replay(records, config.project.tag_prefix)
    state_dir = unfinished.run_dir.parent.parent  # <state>/runs/<run>
    run: HotfixRun | RollbackRun
    if unfinished.flow == "hotfix":
        run = HotfixRun(config, state_dir=state_dir, record=False)
    else:
        run = RollbackRun(config, state_dir=state_dir, env=unfinished.env, record=False)
    run.resumed_loaded = dict(found.loaded)
    if isinstance(run, HotfixRun) and found.origin_branch is not None:
        run.origin_branch = found.origin_branch
    await _go_on(run, unfinished, found)
    return run, found


def _deploy_steps(run: FlowRun) -> dict[str, DeployStep]:
    """Step id → the deploy step of each of ``run``'s steps that deploys (a release's and
    a hotfix's ``deploy-*``, a rollback's ``rollback-<env>``; a hotfix's staging steps
    are wrapped)."""
    from iact_tui.engine.steps.deploy import DeployStep

    found: dict[str, DeployStep] = {}
    for step in run.steps:
        inner = getattr(step, "inner", step)
        if isinstance(inner, DeployStep):
            found[step.id] = inner
    return found


async def _orphaned_commands(run: FlowRun, found: Replayed) -> None:
    """Look for the commands an interrupted deploy left running on its SSH hosts.

    A lost connection (iact-tui killed, the laptop closed) does not stop a remote command
    (no pty: no SIGHUP), and the resumed deploy releases this run's own deploy lock
    before taking it again, so the lock does not keep a second attempt off the host
    while the first one's command (a long migration) still runs. For each SSH host of
    an interrupted ``deploy-*`` step, the user's processes are listed (``ps -ww -u``)
    and each whose command line is ``/bin/sh -c <one of the environment's commands>``
    (what the SSH transport runs) is reported: in ``found.still_running``, journaled
    (``remote_command_still_running``), and in the step's message and fix (wait for it,
    or stop its process group). Local commands die with iact-tui
    (:data:`~iact_tui.services.remote.GUARD`); a host that cannot be reached is skipped
    (the deploy reports it).

    Args:
        run: The resumed run.
        found: The replay; its ``still_running`` is filled.
    """
    from iact_tui.services.remote import make_hosts, run_collect

    steps = _deploy_steps(run)
    for sid, record in run.records.items():
        step = steps.get(sid)
        cfg = run.config.environments.get(step.env) if step is not None else None
        if record.status != INTERRUPTED or step is None or cfg is None:
            continue
        if cfg.transport != "ssh":
            continue
        commands = {f"/bin/sh -c {cmd.run}": f"{phase} command {cmd.name!r}" for phase, cmd in step._commands(run.ctx)}
        try:
            hosts = make_hosts(step.env, cfg, root=run.config.root)
        except IactError:
            continue
        for host in hosts:
            try:
                result, lines = await run_collect(host, 'ps -ww -u "$(id -u)" -o pid=,pgid=,args=', timeout=30.0)
            except IactError:
                continue
            finally:
                await host.close()
            if not result.ok:
                continue
            left: list[str] = []
            for line in lines:
                pid, pgid, args = [*line.strip().split(None, 2), "", "", ""][:3]
                if args in commands:
                    left.append(f"{commands[args]} (pid {pid}, process group {pgid})")
                    run.journal.write(
                        "remote_command_still_running", step=sid, env=step.env, host=host.name, pid=pid, pgid=pgid
                    )
            if left:
                found.still_running[f"{step.env}/{host.name}"] = left
                pgids = sorted({entry.rsplit("process group ", 1)[1].rstrip(")") for entry in left})
                record.message += f"; still running on {host.name}: {', '.join(left)}"
                record.fix = (
                    f"wait until it ends on {host.name}, or stop it there (`kill -TERM -- -{pgids[0]}`), "
                    "then run the deploy again: it would otherwise run beside it"
                )


#: Seconds a lock may seem older than the interrupted attempt that took it (the host's
#: ``date`` has a one-second resolution, and reading the lock takes a moment).
_LOCK_AGE_SLACK = 5.0


async def _unrecorded_locks(run: FlowRun, found: Replayed) -> None:
    """Find the deploy lock an interrupted deploy attempt took but never journaled.

    The deploy step journals ``deploy_lock_taken`` (with the lock's token) right after the
    lock file is written on the host; a ``kill -9`` between the two leaves a lock this run
    holds but its journal does not know, and every resumed deploy then stops at "deploy
    lock held by" this very run. For each host of an interrupted ``deploy-*`` step whose
    last attempt journaled no lock, the lock is read; one with this machine's owner, this
    release's version and the step's own purpose, taken after that attempt started (its
    age by the host's clock at most the time since then, plus :data:`_LOCK_AGE_SLACK`),
    is this run's: it is journaled as ``deploy_lock_taken`` with ``adopted=True`` and
    handed to the deploy step, which releases it by its token before taking a new one.
    Any other lock is left alone (the deploy step names its holder). A host that cannot
    be read is skipped (the deploy step reports it).

    Args:
        run: The resumed run (its records hold ``interrupted``).
        found: The replay (its ``locks`` and ``attempt_ts``).
    """
    from iact_tui.services import deploy_lock
    from iact_tui.services.remote import make_hosts

    steps = _deploy_steps(run)
    for sid, record in run.records.items():
        step = steps.get(sid)
        env = step.env if step is not None else ""
        cfg = run.config.environments.get(env)
        if record.status != INTERRUPTED or cfg is None or step is None:
            continue
        if sid not in found.attempt_ts:
            continue
        purpose = getattr(step, "lock_purpose", None)
        path = cfg.lock_path or deploy_lock.lock_path(str(run.config.env_app_dir(env)))
        try:
            hosts = make_hosts(env, cfg, root=run.config.root)
        except IactError:
            continue
        for host in hosts:
            key = f"{env}/{host.name}"
            if key in found.locks or purpose is None:
                continue
            try:
                status = await deploy_lock.read_lock(host, path, stale_after=cfg.lock_stale_after)
            except IactError:
                continue
            finally:
                await host.close()
            holder = status.holder if status is not None else None
            if status is None or not isinstance(holder, deploy_lock.LockInfo) or status.age is None:
                continue
            if (holder.owner, holder.version, holder.reason) != (
                deploy_lock.local_owner(),
                run.state.version,
                purpose(run.ctx),
            ):
                continue
            if status.age > time.time() - found.attempt_ts[sid] + _LOCK_AGE_SLACK:
                continue  # older than the attempt: another deploy's
            run.state.unreleased_locks[key] = deploy_lock.DeployLock(host, path, holder)
            found.locks[key] = {"path": path, "token": holder.token}
            run.journal.write(
                "deploy_lock_taken",
                step=sid,
                env=env,
                host=host.name,
                path=path,
                owner=holder.owner,
                since=holder.since_text,
                version=holder.version,
                reason=holder.reason,
                token=holder.token,
                adopted=True,
            )


def gate_statuses(run: ReleaseRun) -> dict[str, str]:
    """The step statuses a resumed run chooses its stage by: each step's status, except
    that a step whose gate for the next step is not met counts as :data:`INCOMPLETE`
    (``preflight`` ok but the checklist not complete; ``verify`` ok but an item done by
    hand not ticked: the announcement would refuse).

    Args:
        run: The resumed run.

    Returns:
        Step id → status, in flow order.
    """
    statuses = {sid: record.status for sid, record in run.records.items()}
    if statuses.get("preflight") == "ok" and not run.checklist_complete():
        statuses["preflight"] = INCOMPLETE
    if statuses.get("verify") == "ok" and not run.verification_complete():
        statuses["verify"] = INCOMPLETE
    return statuses


def abandon(unfinished: UnfinishedRun, reason: str = "the operator started a new release") -> None:
    """Record in ``unfinished``'s journal that it will not be resumed (``run_abandoned``),
    so it is not offered again. Blocking file I/O.

    Args:
        unfinished: From :func:`find_unfinished`.
        reason: Why, for the journal.
    """
    journal = Journal(unfinished.journal)
    try:
        journal.write("run_abandoned", reason=reason, pid=os.getpid())
    finally:
        journal.close()


def discard_if_empty(run_dir: Path, carry_to: Journal | None = None) -> bool:
    """Remove a run folder where nothing happened: its journal holds ``run_started`` and
    at most a ``run_finished`` whose steps are all ``pending`` (no version chosen, no
    tick, no step started: any other record keeps it), next to at most the ``report.md``
    written at the end. The fresh run the wizard made before the operator chose to resume
    another, or a wizard opened and quit. Blocking.

    The run lock's records (``run_lock_taken_over``, ``run_lock_broken``) keep the folder
    unless ``carry_to`` is given: then they are written to that journal (the resumed run's,
    with ``carried_from`` and the original ``at`` time) and the folder goes.

    Args:
        run_dir: The run's folder (``<state>/runs/<id>``).
        carry_to: The journal that takes over the run lock's records, or ``None``.

    Returns:
        True when removed; False when it holds anything else, or is gone (it is kept).
    """
    journal = run_dir / "journal.jsonl"
    try:
        names = {p.name for p in run_dir.iterdir()}
    except OSError:
        return False
    if names not in ({"journal.jsonl"}, {"journal.jsonl", "report.md"}):
        return False
    try:
        records = read_records(journal)
    except OSError:
        return False
    locks = [r for r in records if r.get("kind") in RUN_LOCK_KINDS]
    if locks and carry_to is None:
        return False
    kinds = [r.get("kind") for r in records if r.get("kind") not in RUN_LOCK_KINDS]
    if kinds not in ([], ["run_started"], ["run_started", "run_finished"]):
        return False
    finished = [r for r in records if r.get("kind") == "run_finished"]
    if any(str(v) != "pending" for r in finished for v in dict(r.get("steps") or {}).values()):
        return False
    if carry_to is not None:
        for rec in locks:
            fields = {k: v for k, v in rec.items() if k not in {"ts", "kind"}}
            carry_to.write(str(rec["kind"]), **fields, at=rec.get("ts"), carried_from=run_dir.name)
    (run_dir / "report.md").unlink(missing_ok=True)
    journal.unlink()
    run_dir.rmdir()
    return True
