"""The run report: a Markdown account of one run, built only from its journal.

Every run's journal (``<state>/runs/<run id>/journal.jsonl``) holds what the run did;
:func:`build_report` turns those records into ``report.md`` (title, operator, times,
each step's attempts with seconds and result, each deploy command, each check's
figures, links, the backup, the rollback plan, the announcement, monitor summaries),
so the report of any past run can be rebuilt. :func:`summarize` reads the same records
into a :class:`RunSummary` for ``iact-tui history``; :func:`list_runs` and
:func:`find_run` find runs under the state dir. Secrets never reach the journal, so
they cannot reach the report either.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from iact_tui.engine.journal import state_root
from iact_tui.errors import IactError
from iact_tui.services import files

REPORT_NAME = "report.md"
JOURNAL_NAME = "journal.jsonl"

_FLOW_TITLES = {"release": "Release", "hotfix": "Hotfix", "rollback": "Rollback", "monitor": "Monitoring"}
# Figures not worth a table cell: long series, nested detail shown elsewhere.
_SKIPPED_FIGURES = {"samples_ms", "sparkline", "matches", "files", "thresholds", "url", "summary", "where"}
_EXITED = re.compile(r"^exited (-?\d+)")
# Records a report never shows, recognised by their first bytes (see journal_records).
_UNREPORTED = (b'"kind": "output"', b'"kind": "progress"')
_HEAD_BYTES = 64


class ReportError(IactError):
    """A run asked for by name cannot be found, or the name fits several runs."""


@dataclass
class Attempt:
    """One attempt at one step, from its ``step_started`` to its ``step_finished``.

    Attributes:
        step_id: The step; title: its operator-facing name.
        number: The attempt (1-based, per step).
        status: ``ok``, ``failed``, ``skipped``, ``cancelled``, or ``interrupted`` (started
            but never finished: the run stopped or crashed mid-step).
        started: Unix seconds of the start; seconds: the step's duration as journaled
            (``None`` for an interrupted attempt).
        message, fix: The result's line and, for a failure, what to do.
        data: The result's data (``{}`` when interrupted).
    """

    step_id: str
    title: str
    number: int
    started: float
    status: str = "interrupted"
    seconds: float | None = None
    message: str = ""
    fix: str = ""
    data: dict[str, Any] = field(default_factory=dict)


@dataclass
class RunSummary:
    """One run as ``iact-tui history`` lists it (see :func:`summarize`).

    Attributes:
        run_id: The run folder's name (``20261129T152506Z-31099c``); path: the folder.
        flow: ``release``, ``hotfix``, ``rollback`` or ``monitor``.
        version: The version the run released or rolled back to (without prefix); ``""``
            when none was chosen.
        repo: The repository's path; operator: ``user@host``.
        started: Unix seconds of ``run_started`` (``None`` without one); ended: of
            ``run_finished``, else of the last record; finished: whether ``run_finished``
            was journaled (after the last ``run_resumed``: a run quit, then resumed and
            killed, has not ended).
        steps: The flow's step ids in order; attempts: every attempt in journal order.
    """

    run_id: str
    path: Path
    flow: str = "?"
    version: str = ""
    tag: str = ""
    repo: str = ""
    operator: str = ""
    env: str = ""
    started: float | None = None
    ended: float | None = None
    finished: bool = False
    steps: list[str] = field(default_factory=list)
    titles: dict[str, str] = field(default_factory=dict)
    attempts: list[Attempt] = field(default_factory=list)
    #: Records other than ``run_started``/``run_finished`` and the run lock's
    #: (inputs, steps, notices).
    other_records: int = 0

    @property
    def empty(self) -> bool:
        """Nothing happened in the run (the wizard opened and quit, perhaps after taking
        over or breaking the run lock): no version, no step, no other record.
        ``history`` and ``report last`` skip it; ``report RUN`` still shows it."""
        return self.flow != "monitor" and not self.version and not self.attempts and not self.other_records

    @property
    def duration(self) -> float | None:
        """Seconds from start to end; ``None`` without both."""
        if self.started is None or self.ended is None:
            return None
        return max(self.ended - self.started, 0.0)

    def last_attempts(self) -> dict[str, Attempt]:
        """Step id → its last attempt, for the steps that ran."""
        return {a.step_id: a for a in self.attempts}

    @property
    def result(self) -> str:
        """``finished ok`` (every step passed or was skipped), ``failed at STEP`` or
        ``interrupted at STEP`` (started and never finished, or cancelled) for the last
        step that ran, ``stopped after STEP`` (the run ended with steps not run),
        ``unfinished`` (no ``run_finished``: still running, or crashed between steps) or,
        for a monitoring session, ``monitored``. A rollback that only planned says
        ``(nothing changed)``."""
        if self.flow == "monitor":
            return "monitored"
        if self.attempts:
            last = max(self.attempts, key=lambda a: a.started)
            if last.status in {"interrupted", "cancelled"}:
                return f"interrupted at {last.step_id}"
            if last.status == "failed":
                return f"failed at {last.step_id}"
        done = self.last_attempts()
        # Every step done is a finished run even when the end was not journaled (the
        # report viewed before leaving, or a crash on the way out).
        if self.steps and all(s in done and done[s].status in {"ok", "skipped"} for s in self.steps):
            return "finished ok"
        if not self.finished:
            return "unfinished"
        if not self.attempts:
            return "stopped before any step"
        stopped = f"stopped after {max(self.attempts, key=lambda a: a.started).step_id}"
        if self.flow == "rollback" and all(a.step_id == "rollback-plan" for a in self.attempts):
            return f"{stopped} (nothing changed)"  # only the read-only plan ran
        return stopped


#: Journal kinds of the repository's run lock changing hands (see :mod:`iact_tui.engine.run`).
RUN_LOCK_KINDS = frozenset({"run_lock_taken_over", "run_lock_broken"})


def summarize(records: Iterable[dict[str, Any]], run_id: str, path: Path) -> RunSummary:
    """Read one run's journal records into a :class:`RunSummary`.

    Args:
        records: The journal's records (:func:`~iact_tui.engine.journal.read_journal`).
        run_id: The run folder's name; path: the folder.

    Returns:
        The summary; a journal without ``run_started`` gives one with ``flow`` ``?``.
    """
    summary = RunSummary(run_id, path)
    open_attempts: dict[str, Attempt] = {}
    counts: dict[str, int] = {}
    last_ts: float | None = None
    for record in records:
        kind, ts = record.get("kind"), _float(record.get("ts"))
        if ts is not None:
            last_ts = ts
        if kind not in {"run_started", "run_finished", *RUN_LOCK_KINDS}:
            summary.other_records += 1
        if kind == "run_started" and summary.started is None:
            summary.started = ts
            summary.flow = str(record.get("flow", "?"))
            summary.repo = str(record.get("repo", ""))
            summary.operator = str(record.get("operator", ""))
            summary.env = str(record.get("env", ""))
            summary.steps = [str(s) for s in record.get("steps") or []]
        elif kind in {"version_chosen", "hotfix_loaded", "rollback_target_chosen"}:
            summary.version = str(record.get("version", ""))
            summary.tag = str(record.get("tag", "")) or summary.tag
        elif kind == "rollback_target_cleared":
            summary.version, summary.tag = "", ""
        elif kind == "monitor_summary":
            summary.env = summary.env or str(record.get("env", ""))
        elif kind == "step_started":
            step_id = str(record.get("step_id", ""))
            counts[step_id] = counts.get(step_id, 0) + 1
            attempt = Attempt(step_id, str(record.get("title", step_id)), counts[step_id], ts or 0.0)
            summary.titles[step_id] = attempt.title
            open_attempts[step_id] = attempt
            summary.attempts.append(attempt)
        elif kind == "step_finished":
            _finish_attempt(summary, open_attempts, counts, record, ts)
        elif kind == "run_finished":
            summary.finished = True
            summary.ended = ts
        elif kind == "run_resumed":  # an end journaled before a resume was not the run's end
            summary.finished = False
            summary.ended = None
    if summary.ended is None:
        summary.ended = last_ts
    return summary


def _finish_attempt(
    summary: RunSummary,
    open_attempts: dict[str, Attempt],
    counts: dict[str, int],
    record: dict[str, Any],
    ts: float | None,
) -> None:
    step_id = str(record.get("step_id", ""))
    attempt = open_attempts.get(step_id)
    data = record.get("data") if isinstance(record.get("data"), dict) else {}
    assert isinstance(data, dict)
    if attempt is None:
        # A result without a start (a journal cut at its head) is an attempt of its own.
        counts[step_id] = counts.get(step_id, 0) + 1
        attempt = Attempt(step_id, step_id, counts[step_id], ts or 0.0)
        open_attempts[step_id] = attempt
        summary.attempts.append(attempt)
    # A second result for one attempt (an unattended send failing ``announce``) replaces
    # the first one's status, keeping its figures.
    attempt.status = str(record.get("status", "?"))
    attempt.message = str(record.get("message", ""))
    attempt.fix = str(record.get("fix", ""))
    attempt.data = {**attempt.data, **data}
    seconds = _float(data.get("seconds"))
    if seconds is None and attempt.seconds is None and ts is not None:
        seconds = round(ts - attempt.started, 3)
    if seconds is not None:
        attempt.seconds = seconds
    if tag := data.get("tag"):
        summary.tag = summary.tag or str(tag)
    if step_id == "tag" and data.get("tag"):
        summary.tag = str(data["tag"])


def journal_records(path: Path) -> tuple[list[dict[str, Any]], list[str]]:
    """A journal's records that a report uses, and notices about lines left out.

    Output lines and progress (nearly all of a long deploy's journal) are passed over
    unparsed: the ``kind`` comes second in every record (:class:`~iact_tui.engine.journal.Journal`
    writes ``{"ts": ..., "kind": ...}``), so a look at a line's first bytes is enough; a
    400,000-line (78 MB) journal is read in about 0.4 s instead of 2.7 s. A line that is not a
    complete record (a torn last line after a crash, a damaged one) is left out with a
    notice naming its line number.

    Raises:
        OSError: The file cannot be read.
    """
    records: list[dict[str, Any]] = []
    notices: list[str] = []
    lines = path.read_bytes().split(b"\n")
    output, progress = _UNREPORTED
    for number, line in enumerate(lines, 1):
        head = line[:_HEAD_BYTES]
        if output in head or progress in head or not line.strip():
            continue
        try:
            record = json.loads(line)
        except ValueError:
            record = None
        if isinstance(record, dict):
            records.append(record)
        elif number == len(lines):
            notices.append(f"the journal's last line was cut mid-write (line {number}); it is left out")
        else:
            notices.append(f"line {number} of the journal is not a complete record; it is left out")
    return records, notices


def _float(value: Any) -> float | None:
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


# -- finding runs ------------------------------------------------------------------------


def runs_dir(state_dir: Path | None = None) -> Path:
    """``<state>/runs``: where every run folder is kept."""
    return state_root(state_dir) / "runs"


def list_runs(state_dir: Path | None = None, *, repo: Path | None = None, with_empty: bool = False) -> list[RunSummary]:
    """Every run under the state dir with a journal, newest first.

    Args:
        state_dir: The state dir; ``None``: platformdirs' user state dir.
        repo: Only runs made in this repository (the ``repo`` of ``run_started``, both
            paths resolved); ``None``: every repository's.
        with_empty: Also the runs where nothing happened (:attr:`RunSummary.empty`).

    Returns:
        The summaries, newest start first (the folder name breaks ties); empty when
        there is no run yet.
    """
    root = runs_dir(state_dir)
    if not root.is_dir():
        return []
    wanted = os.path.realpath(repo) if repo is not None else None
    found = []
    for journal in root.glob(f"*/{JOURNAL_NAME}"):
        try:
            records, _ = journal_records(journal)
        except OSError:
            continue
        summary = summarize(records, journal.parent.name, journal.parent)
        if wanted is not None and (not summary.repo or os.path.realpath(summary.repo) != wanted):
            continue
        if summary.empty and not with_empty:
            continue
        found.append(summary)
    found.sort(key=lambda s: (s.started or 0.0, s.run_id), reverse=True)
    return found


def find_run(spec: str | None, state_dir: Path | None = None, *, repo: Path | None = None) -> Path:
    """The run folder ``spec`` names.

    Args:
        spec: A run folder's name, a unique prefix of one, a path to a run folder (or to
            its journal), or ``last``/``None`` for the newest run with something in it
            (runs where nothing happened are skipped; a name finds one still).
        state_dir: The state dir; ``None``: platformdirs' user state dir.
        repo: For ``last`` and for names: only this repository's runs (``None``: all).

    Returns:
        The run folder (it holds ``journal.jsonl``).

    Raises:
        ReportError: No run fits ``spec``, or a prefix fits several (they are named).
    """
    if spec and (os.sep in spec or spec.startswith(".")):
        path = Path(spec).expanduser()
        folder = path.parent if path.name == JOURNAL_NAME else path
        if (folder / JOURNAL_NAME).is_file():
            return folder
        raise ReportError(
            f"{spec} is not a run folder (it has no {JOURNAL_NAME})", "give a run id from iact-tui history"
        )
    runs = list_runs(state_dir, repo=repo, with_empty=True)
    where = "of this repository " if repo is not None else ""
    if not spec or spec == "last":
        runs = [s for s in runs if not s.empty]
        if not runs:
            raise ReportError(
                f"no run {where}is recorded in {runs_dir(state_dir)}",
                "run a release first, or pass --all to iact-tui history to see other repositories' runs",
            )
        return runs[0].path
    exact = [s for s in runs if s.run_id == spec]
    if exact:
        return exact[0].path
    matches = [s for s in runs if s.run_id.startswith(spec)]
    if not matches and repo is not None:
        # A run of another repository, named exactly, is still that run.
        matches = [s for s in list_runs(state_dir, with_empty=True) if s.run_id.startswith(spec)]
    if not matches:
        raise ReportError(
            f"no run {where}matches {spec!r}", "list the runs with iact-tui history (--all for every repository)"
        )
    if len(matches) > 1:
        names = ", ".join(s.run_id for s in matches[:5]) + (", …" if len(matches) > 5 else "")
        raise ReportError(f"{spec!r} matches {len(matches)} runs: {names}", "give more of the run id")
    return matches[0].path


def history_table(runs: list[RunSummary], *, with_repo: bool = False) -> list[str]:
    """``iact-tui history``'s lines: a header and one aligned row per run.

    Args:
        runs: The runs, in the order shown (:func:`list_runs`: newest first).
        with_repo: Add the repository's folder name (for every repository's runs).

    Returns:
        The lines: run id, flow, version, start (local time), duration, result,
        operator (and repository).
    """
    head = ["RUN", "FLOW", "VERSION", "STARTED", "DURATION", "RESULT", "OPERATOR"]
    rows = []
    for run in runs:
        started = time.strftime("%Y-%m-%d %H:%M", time.localtime(run.started)) if run.started is not None else "?"
        row = [run.run_id, run.flow, run.version or "—", started, format_seconds(run.duration), run.result]
        rows.append([*row, run.operator or "?", *([run.repo or "?"] if with_repo else [])])
    if with_repo:
        head.append("REPOSITORY")
    widths = [max(len(str(r[i])) for r in [head, *rows]) for i in range(len(head))]
    return ["  ".join(str(v).ljust(w) for v, w in zip(r, widths, strict=True)).rstrip() for r in [head, *rows]]


# -- writing ---------------------------------------------------------------------------


def write_report(run_dir: Path) -> Path:
    """Build the report of the run in ``run_dir`` from its journal and save it as
    ``report.md`` there (:func:`~iact_tui.services.files.write_atomic`: never half written).

    Returns:
        The report's path.

    Raises:
        ReportError: The journal cannot be read or the report cannot be written.
    """
    try:
        records, notices = journal_records(run_dir / JOURNAL_NAME)
        files.write_atomic(run_dir / REPORT_NAME, build_report(records, run_dir.name, notices))
    except OSError as exc:
        raise ReportError(
            f"the report of {run_dir.name} could not be written: {exc.strerror or exc}",
            f"check that {run_dir} is writable; iact-tui report {run_dir.name} rebuilds it from the journal",
        ) from exc
    return run_dir / REPORT_NAME


def save_run_report(journal_path: Path) -> Path | None:
    """Write ``report.md`` next to a run's journal at the end of a run; never raises.

    Args:
        journal_path: The run's ``journal.jsonl`` (``/dev/null`` for a run that records
            nothing: then nothing is written).

    Returns:
        The report's path, or ``None`` when the run records nothing or the report could
        not be written (it can be rebuilt with ``iact-tui report``).
    """
    if journal_path.name != JOURNAL_NAME or not journal_path.is_file():
        return None
    try:
        return write_report(journal_path.parent)
    except ReportError:
        return None


def read_report(run_dir: Path, *, rebuild: bool = False) -> str:
    """The report of the run in ``run_dir``: its ``report.md``, or, when that is missing
    (a run that ended without ``finish``: a crash, a kill), older than the journal (the
    run was resumed after it was written) or ``rebuild`` is asked, built from the journal
    and saved (only shown when the folder is not writable).

    Raises:
        ReportError: Neither the report nor the journal can be read.
    """
    report = run_dir / REPORT_NAME
    with contextlib.suppress(OSError):
        rebuild = rebuild or report.stat().st_mtime_ns < (run_dir / JOURNAL_NAME).stat().st_mtime_ns
    if not rebuild:
        try:
            return report.read_text(encoding="utf-8")
        except FileNotFoundError:
            pass
        except OSError as exc:
            raise ReportError(f"{report} cannot be read: {exc.strerror or exc}", "check its permissions") from exc
    try:
        return write_report(run_dir).read_text(encoding="utf-8")
    except (ReportError, OSError):
        return current_report(run_dir)


def current_report(run_dir: Path) -> str:
    """The report of the run in ``run_dir`` as its journal stands now (built, not saved:
    the run may still be going; ``finish()`` saves the final one).

    Raises:
        ReportError: The journal cannot be read.
    """
    try:
        records, notices = journal_records(run_dir / JOURNAL_NAME)
    except OSError as exc:
        raise ReportError(
            f"the journal of {run_dir.name} cannot be read: {exc.strerror or exc}", "check its permissions"
        ) from exc
    return build_report(records, run_dir.name, notices)


# -- building --------------------------------------------------------------------------


def local_time(ts: float) -> str:
    """``2026-11-29 16:25:06 CET``: Unix seconds in this machine's time zone."""
    return time.strftime("%Y-%m-%d %H:%M:%S %Z", time.localtime(ts))


def utc_time(ts: float) -> str:
    """``2026-11-29 15:25:06 UTC``."""
    return time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(ts))


def both_times(ts: float) -> str:
    """``2026-11-29 16:25:06 CET (2026-11-29 15:25:06 UTC)``; the UTC time once when this
    machine's time is UTC (``2026-11-29 15:25:06 UTC``)."""
    local, utc = local_time(ts), utc_time(ts)
    return utc if time.localtime(ts).tm_gmtoff == 0 else f"{local} ({utc})"


def format_seconds(seconds: float | None) -> str:
    """``0.031 s``, ``12.4 s``, ``3 min 05 s``, ``1 h 02 min``; ``—`` for ``None``."""
    if seconds is None:
        return "—"
    if seconds < 10:
        return f"{seconds:.3f} s"
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, secs = divmod(round(seconds), 60)
    if minutes < 60:
        return f"{minutes} min {secs:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


def _cell(value: Any) -> str:
    text = " ".join(str(value).split())
    return text.replace("|", "\\|") or " "


def _table(head: list[str], rows: list[list[Any]]) -> list[str]:
    lines = ["| " + " | ".join(head) + " |", "|" + "|".join("---" for _ in head) + "|"]
    lines += ["| " + " | ".join(_cell(v) for v in row) + " |" for row in rows]
    return [*lines, ""]


def _figures(data: dict[str, Any]) -> str:
    parts = []
    for key, value in data.items():
        if key in _SKIPPED_FIGURES or isinstance(value, dict | list):
            continue
        if value == "" or value is None:
            continue
        if isinstance(value, float):
            value = f"{value:g}"
        parts.append(f"{key} {value}")
    if isinstance(data.get("matches"), list) and "total_matches" not in data:
        parts.append(f"matches {len(data['matches'])}")
    return ", ".join(parts)


def _exit_status(status: str, detail: str, phase: str) -> str:
    if status == "ok":
        return "0" if phase in {"pre", "steps", "post"} else "—"
    if found := _EXITED.match(detail):
        return found.group(1)
    return {"timed-out": "timed out", "cancelled": "stopped", "skipped": "not run"}.get(status, "—")


class _Builder:
    """Collects the sections of one report from the records."""

    def __init__(self, records: list[dict[str, Any]], run_id: str, notices: list[str]) -> None:
        self.records = records
        self.notices = notices
        self.run = summarize(records, run_id, Path(run_id))
        self.lines: list[str] = []

    def of(self, *kinds: str) -> list[dict[str, Any]]:
        return [r for r in self.records if r.get("kind") in kinds]

    def build(self) -> str:
        self.header()
        self.steps()
        self.commands()
        self.checks()
        self.links()
        self.prep()
        self.rollback()
        self.decisions()
        self.announcement()
        self.monitor()
        if self.notices:
            self.lines += ["## Journal damage", "", *(f"- {n}" for n in self.notices), ""]
        self.lines.append(f"_Built from the journal {self.run.run_id}/{JOURNAL_NAME}._")
        return "\n".join(self.lines).rstrip() + "\n"

    def header(self) -> None:
        run = self.run
        title = _FLOW_TITLES.get(run.flow, run.flow.capitalize())
        what = run.tag or run.version or (run.env if run.flow == "monitor" else "")
        repo_name = Path(run.repo).name if run.repo else "?"
        self.lines += [f"# {title} {what} of {repo_name}".replace("  ", " "), ""]
        rows: list[list[Any]] = [["Flow", run.flow]]
        if run.version:
            rows.append(["Version", run.version + (f" ({run.tag})" if run.tag else "")])
        previous = next((r for r in reversed(self.of("version_chosen")) if r.get("previous")), None)
        if previous is not None:
            rows.append(["Previous version", f"{previous['previous']} ({previous.get('bump', '')} bump)"])
        if run.env:
            rows.append(["Environment", run.env])
        rows += [["Repository", run.repo or "?"], ["Operator", run.operator or "?"]]
        if run.started is not None:
            rows.append(["Started", both_times(run.started)])
        if run.ended is not None:
            if run.finished:
                rows.append(["Ended", both_times(run.ended)])
            else:  # viewed before the run ended, or it never journaled its end (a crash)
                rows.append(["Last record", f"{both_times(run.ended)} (the run's end is not journaled yet)"])
        rows += [["Duration", format_seconds(run.duration)], ["Result", run.result], ["Run", run.run_id]]
        self.lines += _table(["Run", "Details"], rows)

    def steps(self) -> None:
        run = self.run
        if not run.steps and not run.attempts:
            return
        self.lines += ["## Steps", ""]
        rows: list[list[Any]] = []
        ran = {a.step_id for a in run.attempts}
        for attempt in run.attempts:
            rows.append(
                [
                    attempt.title,
                    attempt.step_id,
                    attempt.number,
                    attempt.status,
                    format_seconds(attempt.seconds),
                    attempt.message,
                    attempt.fix,
                ]
            )
        for step_id in run.steps:
            if step_id not in ran:
                rows.append([run.titles.get(step_id, step_id), step_id, "—", "not run", "—", "", ""])
        self.lines += _table(["Step", "Id", "Attempt", "Result", "Seconds", "Message", "Fix"], rows)

    def commands(self) -> None:
        final: dict[tuple[int, str, str, int], dict[str, Any]] = {}
        attempt_of: dict[str, int] = {}
        for record in self.records:
            if record.get("kind") == "step_started":
                step_id = str(record.get("step_id"))
                attempt_of[step_id] = attempt_of.get(step_id, 0) + 1
            if record.get("kind") != "command":
                continue
            step_id = str(record.get("step_id"))
            key = (attempt_of.get(step_id, 1), step_id, str(record.get("host")), int(record.get("index") or 0))
            final[key] = record
        if not final:
            return
        self.lines += ["## Deploy commands", ""]
        rows = []
        for (attempt, step_id, host, index), r in final.items():
            status, detail, phase = str(r.get("status")), str(r.get("detail", "")), str(r.get("phase", ""))
            # Left running or pending: the run stopped (a crash, a kill) before its result.
            status = {"running": "interrupted", "pending": "not started"}.get(status, status)
            rows.append(
                [
                    step_id,
                    attempt,
                    host,
                    index + 1,
                    r.get("name", ""),
                    phase,
                    status,
                    _exit_status(status, detail, phase),
                    f"{float(r.get('seconds') or 0):.3f}",
                    detail,
                ]
            )
        head = ["Step", "Attempt", "Host", "#", "Command", "Phase", "Status", "Exit", "Seconds", "Detail"]
        self.lines += _table(head, rows)

    def checks(self) -> None:
        final: dict[tuple[str, str], dict[str, Any]] = {}
        for record in self.of("check"):
            if record.get("status") in {"pending", "running"}:
                continue
            final[(str(record.get("step_id")), str(record.get("check_id")))] = record
        if not final:
            return
        self.lines += ["## Checks", ""]
        rows = []
        for (step_id, check_id), r in final.items():
            data = r.get("data") if isinstance(r.get("data"), dict) else {}
            assert isinstance(data, dict)
            rows.append(
                [step_id, check_id, r.get("label", ""), r.get("status", ""), r.get("detail", ""), _figures(data)]
            )
        self.lines += _table(["Step", "Check", "What", "Status", "Detail", "Figures"], rows)
        self.log_matches(final)

    def log_matches(self, final: dict[tuple[str, str], dict[str, Any]]) -> None:
        found = []
        for (_, check_id), r in final.items():
            data = r.get("data") if isinstance(r.get("data"), dict) else {}
            assert isinstance(data, dict)
            if check_id.startswith("logs:") and isinstance(data.get("matches"), list):
                for match in data["matches"][:20]:
                    if isinstance(match, dict):
                        text = str(match.get("text", "")).replace("`", "'")
                        where = f"{match.get('host', '')} {match.get('path', '')}:{match.get('line_no', '')}"
                        found.append(f"- {where}: `{text}`")
        if found:
            self.lines += ["### Log matches", "", *found, ""]

    def links(self) -> None:
        done = {a.step_id: a for a in self.run.attempts if a.status == "ok"}
        rows: list[list[Any]] = []
        for step_id in ("branch", "hotfix-branch"):
            if step_id in done and done[step_id].data.get("branch"):
                rows.append(
                    ["Release branch" if step_id == "branch" else "Hotfix branch", done[step_id].data["branch"]]
                )
        if "commit" in done and done["commit"].data.get("commit"):
            rows.append(["Release commit", done["commit"].data["commit"]])
        pr = done["merge"].data.get("pr") if "merge" in done else None
        if isinstance(pr, dict) and pr.get("url"):
            rows.append(["Pull request", f"#{pr.get('number', '?')} {pr['url']}"])
        if "merge" in done and done["merge"].data.get("commit"):
            rows.append(["Main after the merge", done["merge"].data["commit"]])
        if "tag" in done and done["tag"].data.get("tag"):
            rows.append(["Tag", f"{done['tag'].data['tag']} on {done['tag'].data.get('commit', '?')}"])
        if not rows:
            return
        self.lines += ["## Links", ""]
        self.lines += _table(["", ""], rows)

    def prep(self) -> None:
        lines = []
        for r in self.of("backup_taken"):
            size = r.get("size_bytes")
            lines.append(f"- Backup: `{r.get('path')}` on {r.get('host')}" + (f" ({size:,} bytes)" if size else ""))
        for a in self.run.attempts:
            backup = a.data.get("backup") if a.step_id.startswith("prep-") else None
            if isinstance(backup, dict) and backup.get("path") and not self.of("backup_taken"):
                lines.append(f"- Backup: `{backup['path']}`")
        for r in self.of("prep_skipped"):
            lines.append(f"- {str(r.get('item', '')).capitalize()} skipped: {r.get('reason', '')}")
        for r in self.of("notice_sent"):
            lines.append(f"- Stakeholder notice sent to {r.get('webhook', '?')} (status {r.get('status', '?')})")
        if lines:
            self.lines += ["## Production prep", "", *lines, ""]

    def rollback(self) -> None:
        plan: list[str] = []
        for a in self.run.attempts:
            if a.step_id.startswith("prep-") and isinstance(a.data.get("rollback_plan"), dict):
                plan = [str(line) for line in a.data["rollback_plan"].get("lines") or []]
        acks = self.of("rollback_plan_acknowledged")
        if plan or acks:
            self.lines += ["## Rollback plan", ""]
            self.lines += [f"    {line}" for line in plan] + ([""] if plan else [])
            for r in acks:
                said = "; ".join(str(x) for x in r.get("plan") or [])
                self.lines += [f"- Acknowledged for {r.get('env', '?')} at {utc_time(float(r['ts']))}: {said}"]
            self.lines.append("")
        done = self.of("rollback", "release_marked_bad", "rollback_data_loss")
        if done:
            self.lines += ["## Rollback", ""]
            for r in done:
                if r["kind"] == "rollback":
                    self.lines.append(
                        f"- {r.get('env')}: rolled back from {r.get('from_tag') or '?'} to {r.get('to_tag')}"
                    )
                elif r["kind"] == "release_marked_bad":
                    self.lines.append(f"- {r.get('tag') or r.get('version')} marked bad: {r.get('reason', '')}")
                else:
                    self.lines.append(f"- Data loss warned of on {r.get('env')}: {r.get('losses')}")
            self.lines.append("")

    def decisions(self) -> None:
        lines = []
        for r in self.records:
            kind = r.get("kind")
            if kind == "tick":
                lines.append(f"- Checklist item {r.get('check')}: {'ticked' if r.get('ticked') else 'unticked'}")
            elif kind == "verify_tick":
                note = f" — {r['note']}" if r.get("note") else ""
                lines.append(
                    f"- Verified by hand {r.get('check')}: {'ticked' if r.get('ticked') else 'unticked'}{note}"
                )
            elif kind == "confirmation":
                lines.append(f"- Confirmation for {r.get('step')}: {'accepted' if r.get('accepted') else 'refused'}")
            elif kind == "prep_skip_requested":
                lines.append(f"- Skip {r.get('item')} on {r.get('env')}: {r.get('reason')}")
            elif kind == "maintenance_choice":
                keep = "kept on" if r.get("keep_on_failure") else "turned off"
                lines.append(f"- Maintenance mode on {r.get('env')} {keep} if a command fails")
            elif kind == "deploy_lock_broken":
                lines.append(f"- Deploy lock of {r.get('owner')} on {r.get('host')} broken")
            elif kind in RUN_LOCK_KINDS:
                how = "broken" if kind == "run_lock_broken" else "taken over (its holder had ended)"
                lines.append(f"- Run lock of {r.get('previous')} {how}")
            elif kind == "maintenance_kept":
                lines.append(f"- Maintenance mode kept on on {r.get('host')} after {r.get('after')}")
            elif kind == "version_mismatch_accepted":
                lines.append(f"- Disagreeing version files bumped anyway: {'yes' if r.get('accepted') else 'no'}")
        if lines:
            self.lines += ["## Operator decisions", "", *lines, ""]

    def announcement(self) -> None:
        lines = []
        for a in self.run.attempts:
            if a.step_id == "announce" and a.data.get("path"):
                lines = [f"- Saved to `{a.data['path']}`"]
        for r in self.of("announcement_saved"):
            lines.append(f"- Saved again to `{r.get('path')}` ({r.get('chars')} characters)")
        for r in self.of("announcement_sent", "announcement_send_failed"):
            said = "sent" if r["kind"] == "announcement_sent" else "not sent"
            lines.append(f"- {said.capitalize()} ({r.get('format', '?')}): {r.get('message', '')}")
        if lines:
            self.lines += ["## Announcement", "", *lines, ""]

    def monitor(self) -> None:
        summaries = self.of("monitor_summary")
        if not summaries:
            return
        self.lines += ["## Monitoring", ""]
        for r in summaries:
            health = r.get("health") if isinstance(r.get("health"), dict) else {}
            assert isinstance(health, dict)
            self.lines.append(
                f"- {r.get('env')} from {r.get('started')} for {format_seconds(_float(r.get('duration_seconds')))}: "
                f"{r.get('lines', 0)} log lines, {r.get('errors', 0)} error lines; health "
                f"{health.get('requests', 0)} requests, {health.get('errors', 0)} failed"
            )
            hosts = r.get("hosts") if isinstance(r.get("hosts"), dict) else {}
            assert isinstance(hosts, dict)
            for name, figures in hosts.items():
                if isinstance(figures, dict):
                    self.lines.append(f"  - {name}: {figures.get('lines', 0)} lines, {figures.get('errors', 0)} errors")
        self.lines.append("")


def build_report(records: list[dict[str, Any]], run_id: str, notices: Iterable[str] = ()) -> str:
    """The Markdown report of one run.

    Args:
        records: The run's journal records, in order.
        run_id: The run folder's name (named in the report).
        notices: What reading the journal left out (damaged lines), said at the end.

    Returns:
        The report (Markdown, ending in a newline); a run with no records gives a
        short report saying so.
    """
    return _Builder(records, run_id, list(notices)).build()
